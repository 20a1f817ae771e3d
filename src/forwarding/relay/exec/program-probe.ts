import { ForwarderError, RuntimeError } from '../../../common/errors.js';
import type { Docker } from '../../../runtime/docker.js';
import { loadProgram } from '../../container-programs/program-text.js';
import { AGENT_INTERPRETERS, type AgentInterpreter } from '../agent/agent-protocol.js';
import { shortId } from '../../../common/short-id.js';
import type { RelayProgram } from './exec-relay.js';

const PROBE_TIMEOUT_MS = 30_000;
const NOT_FOUND_EXIT_CODES = new Set([126, 127]);
const NOT_FOUND_PATTERN = /executable file not found|no such file or directory|not found/i;
const PROBED_PROGRAMS = ['socat', 'nc', 'bash', 'python3', 'perl', 'cat'] as const;

// One `docker exec` answers every question: which programs are on PATH, and which nc it is.
const PROBE_SCRIPT = loadProgram('probe-programs.sh', { PROBED_PROGRAMS });

/** Pure: picks the program from the probe's output text. */
export function parseRelayProbe(output: string): RelayProgram | null {
  const { found, ncHelp } = readProbe(output);
  const ncFlavor = found.has('nc') ? parseNcFlavor(ncHelp) : null;
  if (found.has('socat')) return { kind: 'socat' };
  if (ncFlavor === 'busybox') return { kind: 'nc', flavor: 'busybox' };
  if (found.has('python3')) return { kind: 'python3' };
  if (found.has('perl')) return { kind: 'perl' };
  // bash cannot pass a client's half-close on (no shutdown() for /dev/tcp): a client that sends its
  // request, half-closes and waits for the reply gets it only from a server that answers before
  // reading to EOF. It comes after every program that can.
  if (found.has('bash') && found.has('cat')) return { kind: 'bash' };
  // OpenBSD nc does not exit when the server closes while its stdin is open, so a client waiting for
  // that EOF (a body delimited by the close, a banner-and-close service) would wait for ever: it
  // comes after everything that passes the EOF on (Debian and Ubuntu images always have perl).
  if (ncFlavor === 'openbsd') return { kind: 'nc', flavor: 'openbsd' };
  // An nc of unknown lineage may not pass EOFs on at all: the last resort.
  if (ncFlavor === 'other') return { kind: 'nc', flavor: 'other' };
  return null;
}

// The probe's lines: "has PROGRAM" for each program on PATH, "nc-help TEXT" for nc's help.
function readProbe(output: string): { found: Set<string>; ncHelp: string } {
  const found = new Set<string>();
  const ncHelp: string[] = [];
  for (const line of output.split('\n')) {
    const has = /^has (\S+)\s*$/.exec(line);
    if (has?.[1]) found.add(has[1]);
    else if (line.startsWith('nc-help ')) ncHelp.push(line.slice('nc-help '.length));
  }
  return { found, ncHelp: ncHelp.join('\n') };
}

function parseNcFlavor(help: string): 'openbsd' | 'busybox' | 'other' {
  if (/OpenBSD netcat/i.test(help)) return 'openbsd';
  if (/BusyBox/.test(help)) return 'busybox';
  return 'other';
}

/** What one probe of a container found: its exec relay program and the interpreters a relay agent can run in. */
export interface ContainerPrograms {
  relayProgram: RelayProgram;
  /** python3 and/or perl, in the order an agent tries them. */
  agentInterpreters: AgentInterpreter[];
}

/** Pure: the interpreters the probe's output names, python3 first. */
export function parseAgentInterpreters(output: string): AgentInterpreter[] {
  const { found } = readProbe(output);
  return AGENT_INTERPRETERS.filter((interpreter) => found.has(interpreter));
}

/** Probes the container once for a relay program; throws ForwarderError NO_RELAY_PROGRAM when it has none. */
export async function probeRelayProgram(
  docker: Docker,
  containerId: string,
  containerName: string,
): Promise<RelayProgram> {
  return (await probeContainerPrograms(docker, containerId, containerName)).relayProgram;
}

/** probeRelayProgram's one exec, also telling which agent interpreters the container has. */
export async function probeContainerPrograms(
  docker: Docker,
  containerId: string,
  containerName: string,
): Promise<ContainerPrograms> {
  const where = `container ${shortId(containerId)} (${containerName})`;
  const result = await docker.exec(containerId, ['sh', '-c', PROBE_SCRIPT], { timeoutMs: PROBE_TIMEOUT_MS });
  let output: string;
  if (result.exitCode === 0) {
    output = result.stdout;
  } else if (isNotFound(result.exitCode, result.stderr)) {
    output = await probeWithoutShell(docker, containerId, where);
  } else {
    throw probeFailure(where, result.stderr, result.exitCode);
  }
  const program = parseRelayProbe(output);
  if (program) return { relayProgram: program, agentInterpreters: parseAgentInterpreters(output) };
  throw new ForwarderError(
    `no relay program in ${where}: install socat, nc, bash, python3 or perl in the image`,
    {
      code: 'NO_RELAY_PROGRAM',
      description:
        `Connections to servers that listen on the container's loopback are relayed by a program run ` +
        `with 'docker exec' inside the container, and ${where} has none of socat, nc, bash (with cat), ` +
        `python3 or perl on its PATH. Add one to the image (socat is best), e.g. 'apt-get install -y socat' ` +
        `or 'apk add socat', or make the servers listen on 0.0.0.0 so that they can be reached directly.`,
    },
  );
}

// Without /bin/sh each candidate is run on its own; the answers are rewritten in the probe
// script's format so that parseRelayProbe decides in one place.
async function probeWithoutShell(docker: Docker, containerId: string, where: string): Promise<string> {
  const attempts: { name: string; argv: string[] }[] = [
    { name: 'socat', argv: ['socat', '-V'] },
    { name: 'nc', argv: ['nc', '-h'] },
    { name: 'bash', argv: ['bash', '-c', 'command -v cat >/dev/null && echo "has cat"'] },
    { name: 'python3', argv: ['python3', '-c', 'pass'] },
    { name: 'perl', argv: ['perl', '-e', '1'] },
  ];
  const lines: string[] = [];
  for (const { name, argv } of attempts) {
    const result = await docker.exec(containerId, argv, { timeoutMs: PROBE_TIMEOUT_MS, input: '' });
    if (isNotFound(result.exitCode, result.stderr)) continue;
    if (/is not running|no such container/i.test(result.stderr)) {
      throw probeFailure(where, result.stderr, result.exitCode);
    }
    lines.push(`has ${name}`);
    if (name === 'nc') {
      for (const line of `${result.stdout}\n${result.stderr}`.split('\n')) lines.push(`nc-help ${line}`);
    }
    if (name === 'bash') lines.push(...result.stdout.split('\n'));
  }
  return lines.join('\n');
}

function isNotFound(exitCode: number, stderr: string): boolean {
  return NOT_FOUND_EXIT_CODES.has(exitCode) && NOT_FOUND_PATTERN.test(stderr);
}

function probeFailure(where: string, stderr: string, exitCode: number): RuntimeError {
  const detail = stderr.trim().split('\n')[0] || `exit code ${exitCode}`;
  return new RuntimeError(`cannot look for a relay program in ${where}: ${detail}`, {
    code: /is not running/i.test(stderr) ? 'CONTAINER_NOT_RUNNING' : 'RUNTIME_FAILED',
    description: stderr.trim() || undefined,
  });
}
