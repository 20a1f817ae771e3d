import {
  ROOTLESS_DETECTION_TRIALS,
  ROOTLESS_EXEC_BASELINE,
  ROOTLESS_IDLE_SETTLE_MS,
  ROOTLESS_IDLE_WINDOW_MS,
  ROOTLESS_PUBLISHED,
  ROOTLESS_SETUP,
  ROOTLESS_SLOW_RUN_S,
  ROOTLESS_SPAWN_WINDOW_MS,
  ROOTLESS_THROUGHPUT_BYTES,
  ROOTLESS_THROUGHPUT_ROUNDS,
} from '../rootless/config.js';
import { REMOTE_TARGETS } from '../remote/config.js';
import type { RemoteCaseResult, RootlessResults } from '../remote/results.js';
import { ratio } from '../stats.js';
import { formatNumber, withRatio } from './format.js';
import { check, markdownTable, targetsRows } from './markdown-table.js';
import { echoAndIdleChecks } from './remote.js';
import type { TargetResult } from './results.js';

/** Pure: the rootless targets, one set per forwarder, as ratios in the run (the remote section's numbers). */
export function evaluateRootlessTargets(rootless: RootlessResults): TargetResult[] {
  const exec = rootless.cases.find((c) => c.name === ROOTLESS_EXEC_BASELINE);
  const { setupSpeedup } = REMOTE_TARGETS;
  return rootless.cases
    .filter((c) => c.relayPath !== null)
    .flatMap((c) => {
      const speedup = ratio(exec?.setup?.p50Ms, c.setup?.p50Ms);
      return [
        check(
          `${c.name}: setup p50 ≥${setupSpeedup}× faster than podman exec per connection`,
          `${formatNumber(speedup)}× faster`,
          speedup,
          (v) => v >= setupSpeedup,
        ),
        ...echoAndIdleChecks(c),
      ];
    });
}

function scaleCell(c: RemoteCaseResult): string {
  const s = c.scale;
  if (!s) return '—';
  const broken = [s.failed ? `${s.failed} failed` : '', s.altered ? `${s.altered} altered` : '']
    .filter(Boolean)
    .join(', ');
  return `${s.ok}/${s.connections} ok${broken ? `, ${broken}` : ''} (${formatNumber(s.seconds)} s)`;
}

/** Pure: the rootless cases side by side; setup as × podman exec per connection, throughput as a share of `podman run -p`. */
export function rootlessTable(rootless: RootlessResults): string {
  const exec = rootless.cases.find((c) => c.name === ROOTLESS_EXEC_BASELINE);
  const published = rootless.cases.find((c) => c.name === ROOTLESS_PUBLISHED);
  const header = [
    'case',
    'ports path',
    'setup p50 ms (× exec)',
    'setup p99 ms',
    'MB/s (of podman run -p)',
    'MB/s runs',
    '200 × 256 KiB echo',
    'idle CPU s/min',
    'idle processes/min',
  ];
  const rows = rootless.cases.map((c) => [
    `**${c.name}**`,
    c.portsPath ?? '—',
    withRatio(c.setup?.p50Ms, ratio(c.setup?.p50Ms, exec?.setup?.p50Ms)) +
      (c.setup?.failures ? ` [${c.setup.failures} failed]` : ''),
    formatNumber(c.setup?.p99Ms),
    withRatio(c.throughput?.mbPerS, ratio(c.throughput?.mbPerS, published?.throughput?.mbPerS)),
    c.throughput ? c.throughput.runs.map((r) => formatNumber(r)).join(', ') : '—',
    scaleCell(c),
    formatNumber(c.idle?.cpuSPerMin),
    formatNumber(c.idle?.spawnsPerMin),
  ]);
  return markdownTable(header, rows);
}

const ROOTLESS_NOTES = `- Everything runs as the user who owns the rootless Podman (slirp4netns networking: the host has no
  route to a container), on containers of the Debian test image whose servers are bound to 0.0.0.0.
- **rootless-*PATH***: a forwarder started by that user with \`up --docker-path podman --relay-path PATH\`, each with a
  container of its own: \`auto\` (the namespace helper, entered as the owning user), \`mux\` (one \`podman exec\` channel)
  and \`exec\` (a \`podman exec\` per connection, through the forwarder).
- **${ROOTLESS_EXEC_BASELINE}**: a host socat, run as the user, that runs \`podman exec -i CID socat - TCP:127.0.0.1:PORT\`
  per connection.
- **${ROOTLESS_PUBLISHED}**: Podman's own \`podman run -p 127.0.0.1:HOSTPORT:PORT\` (rootlessport) to the same servers, in
  the baseline's container.
- Setup: connect() to the greeting's first byte, up to ${ROOTLESS_SETUP.max} sequential connections after one warm-up,
  stopping once ${ROOTLESS_SETUP.min} are timed and ${ROOTLESS_SETUP.budgetMs / 1000} s have passed. Throughput:
  ${ROOTLESS_THROUGHPUT_BYTES / 1024 ** 2} MiB from the source server, the median of up to ${ROOTLESS_THROUGHPUT_ROUNDS} runs round by round (a case whose
  first run took over ${ROOTLESS_SLOW_RUN_S} s: one run). Echo: as in the local section (the exec baseline left out). Idle: every
  forwarder at once, before any traffic, after a ${ROOTLESS_IDLE_SETTLE_MS / 1000} s settle: CPU of the daemon and its descendants from /proc over
  ${ROOTLESS_IDLE_WINDOW_MS / 1000} s, then the programs they ran over ${ROOTLESS_SPAWN_WINDOW_MS / 1000} s (\`strace -f -e trace=execve\` on each daemon: the
  forwarders share the host's pid namespace, so no pid counter tells them apart). Detection: ${ROOTLESS_DETECTION_TRIALS} servers
  (0.0.0.0 and 127.0.0.1 in turn) started with the user's \`podman exec -d\` in rootless-auto's container, timed as in the
  local section.`;

/** Pure: the rootless-Podman section of bench/latest.md (its heading included). */
export function renderRootlessSection(
  rootless: RootlessResults | null,
  targets: readonly TargetResult[],
): string {
  const parts = ['## Rootless Podman, side by side', ''];
  if (!rootless) parts.push('Not run in this run (`--sections`).', '');
  else if (rootless.skipped) parts.push(`Skipped: ${rootless.skipped}.`, '');
  else {
    parts.push(rootlessTable(rootless), '');
    parts.push(
      `Ratios: setup to **${ROOTLESS_EXEC_BASELINE}** (how many times longer), throughput to **${ROOTLESS_PUBLISHED}**.`,
      `Podman ${rootless.podman ?? '?'}, run as ${rootless.user}.`,
      '',
    );
    const d = rootless.detection;
    parts.push(
      d
        ? `Detection (rootless-auto, ${d.trials} trials, ${d.failures} failed): p50 ${formatNumber(d.p50Ms)} ms, p95 ${formatNumber(d.p95Ms)} ms.`
        : 'Detection (rootless-auto): not measured.',
      '',
    );
    if (rootless.notSetUp.length) parts.push(...rootless.notSetUp.map((why) => `- not set up: ${why}`), '');
    parts.push(ROOTLESS_NOTES, '', '### Targets (rootless Podman)', '', targetsRows(targets), '');
  }
  return parts.join('\n') + '\n';
}
