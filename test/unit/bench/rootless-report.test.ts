import { describe, expect, it } from 'vitest';
import type { RemoteCaseResult, RootlessResults } from '../../../bench/remote/results.js';
import { evaluateRootlessTargets, renderRootlessSection } from '../../../bench/report/rootless.js';
import { ROOTLESS_EXEC_BASELINE, ROOTLESS_PUBLISHED } from '../../../bench/rootless/config.js';
import { countExecs } from '../../../bench/rootless/idle.js';

function rootlessCase(
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
const scale = (failed: number) => ({
  connections: 200,
  ok: 200 - failed,
  failed,
  altered: 0,
  seconds: 1,
  firstError: null,
  firstAlteration: null,
});

const STRACE_LOG = `4101 execve("/root/bin/podman", ["podman", "exec"], 0x5 /* 3 vars */) = -1 ENOENT (No such file or directory)
4101 execve("/usr/bin/podman", ["podman", "exec"], 0x5 /* 3 vars */ <unfinished ...>
4100 +++ exited with 0 +++
4101 <... execve resumed>)                  = 0
4102 execve("/usr/bin/cat", ["cat", "/proc/net/tcp"], 0x7 /* 3 vars */) = 0
`;

describe('the rootless Podman bench section', () => {
  it('counts the programs an strace log shows started, not the failed PATH lookups', () => {
    expect(countExecs(STRACE_LOG)).toBe(2);
    expect(countExecs('')).toBe(0);
  });

  it('checks each forwarder against podman exec per connection, the echoes and the idle cost', () => {
    const rootless: RootlessResults = {
      skipped: null,
      user: 'portpilot-rootless',
      podman: '4.3.1',
      detection: null,
      notSetUp: [],
      cases: [
        rootlessCase('rootless-auto', 'auto', {
          setup: setup(1),
          scale: scale(0),
          idle: { windowS: 30, cpuSPerMin: 0.2, spawnsPerMin: 0 },
        }),
        rootlessCase('rootless-exec', 'exec', {
          setup: setup(300),
          scale: scale(1),
          idle: { windowS: 30, cpuSPerMin: 0.2, spawnsPerMin: 30 },
        }),
        rootlessCase(ROOTLESS_EXEC_BASELINE, null, { setup: setup(300) }),
        rootlessCase(ROOTLESS_PUBLISHED, null, { setup: setup(0.5) }),
      ],
    };
    expect(evaluateRootlessTargets(rootless).map((t) => [t.target, t.pass])).toEqual([
      ['rootless-auto: setup p50 ≥20× faster than podman exec per connection', true],
      ['rootless-auto: 200 concurrent echoes, none failed or altered', true],
      ['rootless-auto: idle ≤0.6 CPU s/min, no process per scan', true],
      ['rootless-exec: setup p50 ≥20× faster than podman exec per connection', false],
      ['rootless-exec: 200 concurrent echoes, none failed or altered', false],
      ['rootless-exec: idle ≤0.6 CPU s/min, no process per scan', false],
    ]);
  });

  it('names a skipped section and why, rather than leaving it out', () => {
    const skipped: RootlessResults = {
      skipped: 'no user portpilot-rootless',
      user: 'portpilot-rootless',
      podman: null,
      cases: [],
      detection: null,
      notSetUp: [],
    };
    expect(renderRootlessSection(skipped, [])).toMatch(
      /## Rootless Podman[^\n]*\n\nSkipped: no user portpilot-rootless\./,
    );
    expect(renderRootlessSection(null, [])).toMatch(/Not run in this run/);
  });
});
