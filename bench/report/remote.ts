import {
  REMOTE_DETECTION_TRIAL,
  REMOTE_DETECTION_TRIALS,
  REMOTE_EXEC_BASELINE,
  REMOTE_IDLE_SETTLE_MS,
  REMOTE_IDLE_WINDOW_MS,
  REMOTE_SCALE_MAX_SETUP_MS,
  REMOTE_SETUP_BUDGET_MS,
  REMOTE_SETUP_CONNECTIONS,
  REMOTE_SETUP_MIN_CONNECTIONS,
  REMOTE_SLOW_RUN_S,
  REMOTE_SSH_TUNNEL,
  REMOTE_TARGETS,
  REMOTE_THROUGHPUT_BYTES,
  REMOTE_THROUGHPUT_ROUNDS,
} from '../remote/config.js';
import type { RemoteCaseResult, RemoteResults } from '../remote/results.js';
import { ratio } from '../stats.js';
import { formatNumber, withRatio } from './format.js';
import { check, markdownTable, targetsRows } from './markdown-table.js';
import type { TargetResult } from './results.js';

/** Pure: the project's targets for the remote engine, one set per portpilot case, as ratios in the run. */
export function evaluateRemoteTargets(remote: RemoteResults): TargetResult[] {
  const exec = remote.cases.find((c) => c.name === REMOTE_EXEC_BASELINE);
  const tunnel = remote.cases.find((c) => c.name === REMOTE_SSH_TUNNEL);
  const { setupSpeedup, throughputShare } = REMOTE_TARGETS;
  return remote.cases
    .filter((c) => c.relayPath !== null)
    .flatMap((c) => {
      const speedup = ratio(exec?.setup?.p50Ms, c.setup?.p50Ms);
      const share = ratio(c.throughput?.mbPerS, tunnel?.throughput?.mbPerS);
      return [
        check(
          `${c.name}: setup p50 ≥${setupSpeedup}× faster than exec per connection`,
          `${formatNumber(speedup)}× faster`,
          speedup,
          (v) => v >= setupSpeedup,
        ),
        check(
          `${c.name}: throughput ≥${throughputShare} of ssh -L`,
          `${formatNumber(share)} of ssh -L`,
          share,
          (v) => v >= throughputShare,
        ),
        ...echoAndIdleChecks(c),
      ];
    });
}

/** Pure: a forwarder's 200-echo and idle targets, the same for the remote and rootless sections. */
export function echoAndIdleChecks(c: RemoteCaseResult): TargetResult[] {
  const { idleCpuSPerMin } = REMOTE_TARGETS;
  const broken = c.scale ? c.scale.failed + c.scale.altered : null;
  const idle = c.idle;
  return [
    check(
      `${c.name}: 200 concurrent echoes, none failed or altered`,
      c.scale ? `${c.scale.failed} failed, ${c.scale.altered} altered` : '',
      broken,
      (v) => v === 0,
    ),
    check(
      `${c.name}: idle ≤${idleCpuSPerMin} CPU s/min, no process per scan`,
      `${formatNumber(idle?.cpuSPerMin)} s/min, ${formatNumber(idle?.spawnsPerMin)} processes/min`,
      idle?.cpuSPerMin,
      (v) => v <= idleCpuSPerMin && (idle?.spawnsPerMin ?? Infinity) === 0,
    ),
  ];
}

function scaleCell(c: RemoteCaseResult): string {
  const s = c.scale;
  if (!s) return c.relayPath !== null && (c.setup?.p50Ms ?? 0) > REMOTE_SCALE_MAX_SETUP_MS ? 'left out' : '—';
  const broken = [s.failed ? `${s.failed} failed` : '', s.altered ? `${s.altered} altered` : '']
    .filter(Boolean)
    .join(', ');
  return `${s.ok}/${s.connections} ok${broken ? `, ${broken}` : ''} (${formatNumber(s.seconds)} s)`;
}

/** Pure: the remote cases side by side; setup as × exec per connection, throughput as a share of ssh -L. */
export function remoteTable(remote: RemoteResults): string {
  const exec = remote.cases.find((c) => c.name === REMOTE_EXEC_BASELINE);
  const tunnel = remote.cases.find((c) => c.name === REMOTE_SSH_TUNNEL);
  const header = [
    'case',
    'ports path',
    'setup p50 ms (× exec)',
    'setup p99 ms',
    'MB/s (of ssh -L)',
    'MB/s runs',
    '200 × 256 KiB echo',
    'idle CPU s/min',
    'idle processes/min',
  ];
  const rows = remote.cases.map((c) => [
    `**${c.name}**`,
    c.portsPath ?? '—',
    withRatio(c.setup?.p50Ms, ratio(c.setup?.p50Ms, exec?.setup?.p50Ms)) +
      (c.setup?.failures ? ` [${c.setup.failures} failed]` : ''),
    formatNumber(c.setup?.p99Ms),
    withRatio(c.throughput?.mbPerS, ratio(c.throughput?.mbPerS, tunnel?.throughput?.mbPerS)),
    c.throughput ? c.throughput.runs.map((r) => formatNumber(r)).join(', ') : '—',
    scaleCell(c),
    formatNumber(c.idle?.cpuSPerMin),
    formatNumber(c.idle?.spawnsPerMin),
  ]);
  return markdownTable(header, rows);
}

const REMOTE_NOTES = `- The engine is this machine's, reached as a remote one: an sshd of the bench's own on 127.0.0.1
  (test/support/remote-engine.ts, as the fault tests start it) and \`DOCKER_HOST=ssh://root@127.0.0.1:PORT\`, with a
  PATH whose \`ssh\` uses the sshd's key. Each forwarder runs in a pid namespace of its own, where the engine's pids are
  not in /proc: it reads listeners through exec and does not dial container addresses, as on a remote host. It still
  shares the host's network (the container's address is routable; portpilot does not use it).
- **remote-*PATH***: a forwarder started with \`--relay-path PATH\`, one per value \`portpilot up --help\` lists, each with a
  container of its own; its servers are bound to 0.0.0.0.
- **${REMOTE_EXEC_BASELINE}**: a host socat that runs \`docker exec -i CID socat - TCP:127.0.0.1:PORT\` per connection,
  with the same DOCKER_HOST (a new SSH connection each).
- **${REMOTE_SSH_TUNNEL}**: what a person does by hand: \`ssh -N -L 127.0.0.1:LPORT:CONTAINER_IP:PORT\` over the same sshd.
- Setup: as in *How each figure is taken*, over up to ${REMOTE_SETUP_CONNECTIONS} sequential connections after one warm-up,
  stopping once ${REMOTE_SETUP_MIN_CONNECTIONS} are timed and ${REMOTE_SETUP_BUDGET_MS / 1000} s have passed, one case after the other.
  Throughput: ${REMOTE_THROUGHPUT_BYTES / 1024 ** 2} MiB from the source server, the median of up to ${REMOTE_THROUGHPUT_ROUNDS} runs
  round by round (a case whose first run took over ${REMOTE_SLOW_RUN_S} s: one run). Echo: as there, left out for the
  exec-per-connection baseline and any case whose setup p50 is over ${REMOTE_SCALE_MAX_SETUP_MS} ms (200 execs at once over
  SSH). Idle: every forwarder at once, before any traffic, over ${REMOTE_IDLE_WINDOW_MS / 1000} s after a
  ${REMOTE_IDLE_SETTLE_MS / 1000} s settle: CPU of the daemon and its descendants from /proc; processes/min from the pid
  namespace's pid counter (pids are handed out in order, so it counts processes however briefly they lived). Detection:
  ${REMOTE_DETECTION_TRIALS} servers (0.0.0.0 and 127.0.0.1 in turn) in remote-auto's container, each living
  ${REMOTE_DETECTION_TRIAL.lifetimeS} s, timed as in the local section.`;

/** Pure: the remote-engine section of bench/latest.md (its heading included). */
export function renderRemoteSection(remote: RemoteResults | null, targets: readonly TargetResult[]): string {
  const parts = ['## Remote engine (DOCKER_HOST=ssh://), side by side', ''];
  if (!remote) parts.push('Not run in this run (`--sections`).', '');
  else if (remote.skipped) parts.push(`Skipped: ${remote.skipped}.`, '');
  else {
    parts.push(remoteTable(remote), '');
    parts.push(
      `Ratios: setup to **${REMOTE_EXEC_BASELINE}** (how many times longer), throughput to **${REMOTE_SSH_TUNNEL}**.`,
      `\`--relay-path\` values listed by \`portpilot up --help\`: ${remote.relayPaths.join(', ')}.`,
      '',
    );
    const d = remote.detection;
    parts.push(
      d
        ? `Detection (remote-auto, ${d.trials} trials, ${d.failures} failed): p50 ${formatNumber(d.p50Ms)} ms, p95 ${formatNumber(d.p95Ms)} ms.`
        : 'Detection (remote-auto): not measured.',
      '',
    );
    if (remote.notSetUp.length) parts.push(...remote.notSetUp.map((why) => `- not set up: ${why}`), '');
    parts.push(REMOTE_NOTES, '', '### Targets (remote engine)', '', targetsRows(targets), '');
  }
  return parts.join('\n') + '\n';
}
