import { THROUGHPUT_ROUNDS } from '../config.js';
import type { MachineInfo } from '../setup/environment.js';
import { renderRemoteSection } from './remote.js';
import { renderRootlessSection } from './rootless.js';
import { renderUdpSection } from './udp.js';
import type { RunResults } from './results.js';
import { idleTable, pathsTable, targetsTable, throughputTable } from './table.js';

/** Pure: one line naming the machine. */
export function machineLine(machine: MachineInfo): string {
  return (
    `${machine.nproc} CPUs (${machine.cpuModel}), ${machine.memoryGiB} GiB memory, kernel ${machine.kernel}, ` +
    `Docker ${machine.dockerServer} (client ${machine.dockerClient}), Node ${machine.node}`
  );
}

/** Pure: the machine's load during the run (other work on it moves every figure). */
export function loadLine(machine: MachineInfo): string {
  return `1-minute load average ${machine.loadAtStart} at the start, ${machine.loadAtEnd ?? '?'} at the end`;
}

const PATHS_LEGEND = `- **direct**: the host to the container's own IP, to a server bound to 0.0.0.0: the machine's limit.
- **published**: \`docker run -p 127.0.0.1:HOSTPORT:PORT\` to the same servers in a container of their own (docker-proxy;
  a forwarder leaves a published port alone).
- **exec-per-connection**: the baseline, as existing forwarders relay: a host socat that runs a fresh
  \`docker exec -i CID socat - TCP:127.0.0.1:PORT\` for every connection (\`-t 30\` on both socats so a half-close is not cut short).
- **portpilot-wildcard**: portpilot (\`--relay-path auto\`) forwarding the server bound to 0.0.0.0.
- **portpilot-loopback**: portpilot (\`--relay-path auto\`) forwarding the same server bound to the container's 127.0.0.1.
- **portpilot-loopback-exec**: the same, in a second container whose forwarder runs with \`--relay-path exec\`.
- *ports path*: the \`path\` field of \`portpilot ports --json\` for the case's forwards.`;

const METHOD_NOTES = `- Setup: connect() to the first byte of the server's greeting; 200 sequential connections after 5 warm-up ones. The
  paths without an exec per connection take turns, one connection each; the two exec paths are timed one after the other.
- Throughput: the host reads 1 GiB of zeros the server writes, connect() to EOF; MB = 10^6 bytes. The median of
  ${THROUGHPUT_ROUNDS} runs, taken round by round across the paths (the exec paths, tens of seconds a run: one run).
- req/s: \`wrk -t1 -c8 -d5s -H 'Connection: close'\` against a small asyncio HTTP server in the container (a 13-byte 200,
  then close), so every request is a new connection through the path. direct, published and portpilot-wildcard each
  reach a copy of the server on a port of its own: a run leaves thousands of connections in TIME_WAIT on the host, and
  a later path dialling the same container port would pay for them in connect().
- Detection: 20 servers (10 bound to 0.0.0.0, 10 to 127.0.0.1, in turn), each on a new port, started with \`docker exec -d\`
  in a container of its own behind an auto forwarder; measured from the CLOCK_MONOTONIC timestamp each server takes right
  after listen() (the host shares the clock) to its host port accepting, the host trying to connect every 5 ms. The rows
  show each bind's trials, the target all 20; the same from the exec's start is in the JSON.
- Idle: a forwarder of 10 ports (5 bound to 0.0.0.0, 5 to 127.0.0.1) of a container nothing else touches, no traffic,
  60 s after a 5 s settle (it idles while the other containers are set up). Host: utime+stime (reaped children included)
  of the daemon and its descendants, from /proc; container: the container's cgroup CPU (its other processes,
  \`sleep infinity\` and a listener that never accepts, use none). RSS: daemon + descendants, plus any processes it keeps
  in the container; read again after one connection to each port (held 0.5 s, then reset: the listeners never accept,
  so a close passed on would never be answered) and a 5 s settle, which starts the relay agent, and once more 65 s
  after those connections, the relay agent's idle time (60 s) and the settle.
- Memory per connection: host RSS (median of 5 readings) of the forwarder and its descendants added by 100 idle
  connections, each held open once its greeting arrived, divided by 100; "+ ctr" is the RSS of the processes that
  appeared in the container for them. Taken right after the setup timing, before the bulk measures (after them the
  daemon's garbage collector gives memory back for minutes), once the RSS holds still within 0.5 MB over 4 readings
  a second apart (waiting up to 30 s); it still moves by itself, so small values are noise.
- Echo: 200 connections at once to an echo server, each sending 256 KiB of its own random bytes and half-closing;
  ok = exactly its bytes back (the baseline is left out: it adds a minute and has no target).
- Every path reaches the same servers (python3 in the Debian test image) from the same host client, in the same run;
  the machine may be shared, so absolute figures move from run to run more than the ratios do.`;

const LOCAL_NOT_RUN = `## Paths, side by side

Not run in this run (\`--sections\`).

`;

/** Pure: the local engine's sections: its paths side by side, throughput, the idle forwarder, targets. */
function localSections(results: RunResults): string {
  return `## Paths, side by side

${pathsTable(results)}

Ratios in parentheses are to **direct**: for times, how many times longer; for rates, the fraction of direct's rate.

${PATHS_LEGEND}

## Throughput and the machine

${throughputTable(results)}

*CPUs busy*: the whole machine's CPU time (client, relay, server, kernel, anything else; from /proc/stat) over
the median run's wall time. A path that keeps every CPU busy is bound by the machine, not by waiting.

## Idle forwarder

${idleTable(results.idle)}

## Targets

${targetsTable(results)}

`;
}

/** Pure: the remote-engine, rootless-Podman and UDP sections. */
export function otherSections(results: RunResults): string {
  const udpFailed = results.sections.includes('udp') && !results.udp ? 'see *Not measured*' : null;
  return [
    renderRemoteSection(results.remote, results.remoteTargets),
    renderRootlessSection(results.rootless, results.rootlessTargets),
    renderUdpSection(results.udp, results.udpTargets, udpFailed),
  ].join('\n');
}

/** Pure: bench/latest.md: the date, the machine, the tables and how each figure is taken. */
export function renderMarkdown(results: RunResults): string {
  const minutes = (results.durationS / 60).toFixed(1);
  return `# portpilot bench

${results.date.slice(0, 10)} (${results.date}), one run of \`npm run bench\` (${minutes} min; sections: ${results.sections.join(', ')}).

Machine: ${machineLine(results.machine)}; ${loadLine(results.machine)}.

${results.sections.includes('local') ? localSections(results) : LOCAL_NOT_RUN}${otherSections(results)}${results.errors.length ? `\n## Not measured\n\n${results.errors.map((e) => `- ${e}`).join('\n')}\n` : ''}
## How each figure is taken

${METHOD_NOTES}

The chart of the ratios is [latest.svg](latest.svg). Each run writes its raw figures to \`bench/results/<date>.json\` and
its forwarders' logs to \`bench/results/<date>-forwarder-logs/\` (both git-ignored).
`;
}
