import { describe, expect, it } from 'vitest';
import { REMOTE_EXEC_BASELINE, REMOTE_SSH_TUNNEL } from '../../../bench/remote/config.js';
import { parseRelayPathChoices } from '../../../bench/remote/relay-paths.js';
import type { RemoteCaseResult, RemoteResults } from '../../../bench/remote/results.js';
import { evaluateRemoteTargets, renderRemoteSection } from '../../../bench/report/remote.js';
import { parseSections } from '../../../bench/sections.js';

const HELP = `Options:
  --relay-path <path>          how connections reach the container: direct to
                               its IP, an in-container agent, or docker exec
                               (choices: "auto", "direct", "agent", "exec",
                               "mux", default: "auto")
  -h, --help                   display help for command`;

function remoteCase(
  name: string,
  relayPath: string | null,
  figures: Partial<RemoteCaseResult>,
): RemoteCaseResult {
  return {
    name,
    relayPath,
    portsPath: null,
    setup: null,
    throughput: null,
    scale: null,
    idle: null,
    ...figures,
  };
}

const setup = (p50Ms: number) => ({
  p50Ms,
  p99Ms: p50Ms,
  meanMs: p50Ms,
  connections: 50,
  failures: 0,
  firstError: null,
});
const throughput = (mbPerS: number) => ({ mbPerS, bytes: 1, seconds: 1, coresBusy: 1, runs: [mbPerS] });
const scale = (failed: number) => ({
  connections: 200,
  ok: 200 - failed,
  failed,
  altered: 0,
  seconds: 1,
  firstError: null,
  firstAlteration: null,
});

describe('the remote bench section', () => {
  it('reads every --relay-path choice from up --help, wrapped, without the default', () => {
    expect(parseRelayPathChoices(HELP)).toEqual(['auto', 'direct', 'agent', 'exec', 'mux']);
    expect(parseRelayPathChoices('Options:\n  --json  print JSON')).toEqual([]);
  });

  it('runs every section by default, and only the named ones with --sections or BENCH_SECTIONS', () => {
    expect(parseSections([], undefined)).toEqual(['local', 'remote', 'rootless', 'udp']);
    expect(parseSections(['--sections', 'udp,rootless,remote'], undefined)).toEqual([
      'remote',
      'rootless',
      'udp',
    ]);
    expect(parseSections(['--sections=local'], 'remote')).toEqual(['local']);
    expect(parseSections([], 'remote')).toEqual(['remote']);
    expect(() => parseSections(['--sections', 'lokal'], undefined)).toThrow(
      /lokal.*local, remote, rootless, udp/,
    );
  });

  it('checks each forwarder against exec per connection, ssh -L, the echoes and the idle cost', () => {
    const remote: RemoteResults = {
      skipped: null,
      relayPaths: ['auto', 'exec'],
      detection: null,
      notSetUp: [],
      cases: [
        remoteCase('remote-auto', 'auto', {
          setup: setup(10),
          throughput: throughput(90),
          scale: scale(0),
          idle: { windowS: 30, cpuSPerMin: 0.5, spawnsPerMin: 0 },
        }),
        remoteCase('remote-exec', 'exec', {
          setup: setup(300),
          throughput: throughput(20),
          scale: scale(3),
          idle: { windowS: 30, cpuSPerMin: 0.5, spawnsPerMin: 24 },
        }),
        remoteCase(REMOTE_EXEC_BASELINE, null, { setup: setup(400) }),
        remoteCase(REMOTE_SSH_TUNNEL, null, { setup: setup(1), throughput: throughput(100) }),
      ],
    };
    const verdicts = evaluateRemoteTargets(remote).map((t) => [t.target, t.pass]);
    expect(verdicts).toEqual([
      ['remote-auto: setup p50 ≥20× faster than exec per connection', true],
      ['remote-auto: throughput ≥0.8 of ssh -L', true],
      ['remote-auto: 200 concurrent echoes, none failed or altered', true],
      ['remote-auto: idle ≤0.6 CPU s/min, no process per scan', true],
      ['remote-exec: setup p50 ≥20× faster than exec per connection', false],
      ['remote-exec: throughput ≥0.8 of ssh -L', false],
      ['remote-exec: 200 concurrent echoes, none failed or altered', false],
      ['remote-exec: idle ≤0.6 CPU s/min, no process per scan', false],
    ]);
  });

  it('names a section left out of the run, rather than leaving it out', () => {
    expect(renderRemoteSection(null, [])).toMatch(/## Remote engine[^\n]*\n\nNot run in this run/);
    expect(
      renderRemoteSection(
        { skipped: 'no sshd', relayPaths: [], cases: [], detection: null, notSetUp: [] },
        [],
      ),
    ).toMatch(/Skipped: no sshd\./);
  });
});
