import { loadProgramParts, MUX_AGENT_PARTS } from '../../container-programs/program-text.js';
import { CMDLINE_READ_MAX_BYTES } from '../../detect/socket-owners.js';
import type { AgentInterpreter } from '../agent/agent-protocol.js';
import {
  MUX_DATA_FRAME_BYTES,
  MUX_FRAME_TYPES,
  MUX_INITIAL_WINDOW_BYTES,
  MUX_MAGIC,
  MUX_MAX_PAYLOAD_BYTES,
} from './mux-codec.js';
import {
  MUX_DATAGRAM_BUFFER_BYTES,
  MUX_DATAGRAM_FRAME_TYPES,
  MUX_DATAGRAM_QUEUE,
  MUX_DATAGRAM_QUEUE_BYTES,
} from './mux-datagram-codec.js';
import { MUX_AGENT_STREAM_FIRST, MUX_REVERSE_FRAME_TYPES } from './mux-reverse-codec.js';

/**
 * Past this many bytes waiting for stdout, the agent stops reading its sockets until the host has
 * taken them: the host reads its channel without pause, so this is only a slow exec stream's due.
 */
export const MUX_OUTPUT_HIGH_BYTES = 1_048_576;
/** How long the agent waits for a target in the container to accept a stream's connection. */
export const MUX_CONNECT_TIMEOUT_S = 10;
/** How often a watching agent checks its listener tables (see MUX_LISTENER_FULL_READ_MS for what a check reads). */
export const MUX_LISTENER_TICK_MS = 100;
/**
 * A watching agent reads its tables when sockstat's counters moved, and at least this often: a
 * listen() and a close() in one tick leave the counters as they were.
 */
export const MUX_LISTENER_FULL_READ_MS = 1_000;
/** A listener report longer than this goes in several frames (see mux-codec.ts). */
export const MUX_REPORT_FRAME_BYTES = 131_072;

const VALUES = {
  MUX_MAGIC,
  MUX_MAX_PAYLOAD_BYTES,
  MUX_INITIAL_WINDOW_BYTES,
  MUX_DATA_FRAME_BYTES,
  MUX_OUTPUT_HIGH_BYTES,
  MUX_CONNECT_TIMEOUT_S,
  MUX_LISTENER_TICK_MS,
  MUX_LISTENER_FULL_READ_MS,
  MUX_REPORT_FRAME_BYTES,
  MUX_CMDLINE_READ_MAX_BYTES: CMDLINE_READ_MAX_BYTES,
  ...Object.fromEntries(
    Object.entries(MUX_FRAME_TYPES).map(([name, type]) => [`MUX_${name}`, type] as const),
  ),
  MUX_DATAGRAM_QUEUE,
  MUX_DATAGRAM_QUEUE_BYTES,
  MUX_DATAGRAM_BUFFER_BYTES,
  ...Object.fromEntries(
    Object.entries(MUX_DATAGRAM_FRAME_TYPES).map(([name, type]) => [`MUX_${name}`, type] as const),
  ),
  MUX_AGENT_STREAM_FIRST,
  ...Object.fromEntries(
    Object.entries(MUX_REVERSE_FRAME_TYPES).map(([name, type]) => [`MUX_${name}`, type] as const),
  ),
};

const PYTHON_MUX_AGENT = loadProgramParts('mux-agent', MUX_AGENT_PARTS, '.py', VALUES);
const PERL_MUX_AGENT = loadProgramParts('mux-agent', MUX_AGENT_PARTS, '.pl', VALUES);

/** Pure: the argv run in the container to start a mux agent (its stdin and stdout are the channel). */
export function muxAgentArgv(interpreter: AgentInterpreter): string[] {
  return interpreter === 'python3'
    ? ['python3', '-I', '-S', '-c', PYTHON_MUX_AGENT]
    : ['perl', '-e', PERL_MUX_AGENT];
}
