import { isIP } from 'node:net';
import { ForwarderError } from '../../../common/errors.js';
import { loadProgram } from '../../container-programs/program-text.js';

/** A program inside the container that can join its stdin/stdout to a TCP connection. */
export type RelayProgram =
  | { kind: 'socat' }
  | { kind: 'nc'; flavor: 'openbsd' | 'busybox' | 'other' }
  | { kind: 'bash' }
  | { kind: 'python3' }
  | { kind: 'perl' };

/** After the host side's input ends, how long a relay waits for the server to send more before closing. */
export const RELAY_DRAIN_IDLE_S = 300;
/**
 * bash's drain time. It cannot half-close, so after the host's EOF the server never learns that the
 * client is done, and a client that closed outright looks the same: holding on longer would only
 * keep the relay (and its docker exec client) alive for nothing, all the more for keep-alive servers.
 */
export const BASH_DRAIN_S = 5;
/** socat's transfer buffer: its 8 KiB default makes four times the syscalls through the exec pipes. */
export const SOCAT_BUFFER_BYTES = 131_072;

const SCRIPT_BUFFER_BYTES = 262_144;

// Docker delivers EOF on an exec's stdout only when the process exits, so the scripts below exit as
// soon as the server's side ends (socat, which would wait its -t for stdin, is ended by the host:
// see relayStderrEvent). Data from the host is followed by shutdown(SHUT_WR), and the server may
// keep answering until it has been quiet for the drain time: a client that half-closes still gets
// its reply, and a relay whose host side went away does not outlive a server that ignores the EOF
// by more than that.
const PYTHON_RELAY = loadProgram('exec-relay.py', { SCRIPT_BUFFER_BYTES });

// perl-base (always present on Debian and Ubuntu) has no threads: a child copies stdin to the server
// while the parent, the process docker waits for, copies the server to stdout.
const PERL_RELAY = loadProgram('exec-relay.pl', { SCRIPT_BUFFER_BYTES });

// bash has no shutdown(): when the host's side ends, the server cannot be told, so the connection
// stays open for BASH_DRAIN_S (the server may still answer a request it has read) and then closes
// both ways. $0 address, $1 port, $2 drain seconds.
const BASH_RELAY = loadProgram('exec-relay.bash');

/** Pure: the argv run inside the container to connect stdin/stdout to address:port. */
export function relayArgv(program: RelayProgram, address: string, port: number): string[] {
  if (isIP(address) === 0) {
    throw new ForwarderError(`relay address '${address}' is not an IP address`);
  }
  if (!Number.isInteger(port) || port < 1 || port > 65_535) {
    throw new ForwarderError(`relay port ${port} is not a TCP port (1-65535)`);
  }
  const portText = String(port);
  const drain = String(RELAY_DRAIN_IDLE_S);
  switch (program.kind) {
    case 'socat': {
      const host = isIP(address) === 6 ? `[${address}]` : address;
      // -d -d: the "socket 2 … is at EOF" notice tells the host the server is done (relayStderrEvent).
      // -t: socat's 0.5 s default would cut the reply to a client that half-closed.
      return [
        'socat',
        '-d',
        '-d',
        '-b',
        String(SOCAT_BUFFER_BYTES),
        '-t',
        drain,
        '-',
        `TCP:${host}:${portText},nodelay`,
      ];
    }
    case 'nc':
      // OpenBSD nc sends no FIN when stdin ends unless told to (-N); busybox nc always does.
      return program.flavor === 'openbsd' ? ['nc', '-N', '-n', address, portText] : ['nc', address, portText];
    case 'bash':
      return ['bash', '-c', BASH_RELAY, address, portText, String(BASH_DRAIN_S)];
    case 'python3':
      return ['python3', '-I', '-S', '-c', PYTHON_RELAY, address, portText, drain];
    case 'perl':
      return ['perl', '-e', PERL_RELAY, address, portText, drain];
  }
}

/** What a line a relay wrote on stderr means to the host side. */
export type RelayStderrEvent = 'server-eof' | 'notice' | 'error';

const SOCAT_LOG_LINE = /^\d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d(?:\.\d+)? socat\[\d+\] ([A-Z]) (.*)$/;

/**
 * Pure: classifies one stderr line of a relay. socat waits its whole -t after the server's EOF for
 * stdin to end too, and docker cannot show the host an EOF before the process exits: the notice
 * "socket 2 (fd N) is at EOF" is the host's cue to end socat's stdin so that it exits at once.
 */
export function relayStderrEvent(line: string): RelayStderrEvent {
  const socat = SOCAT_LOG_LINE.exec(line);
  if (!socat) return 'error';
  if (/^socket 2 \(fd \d+\) is at EOF/.test(socat[2] ?? '')) return 'server-eof';
  return socat[1] === 'N' || socat[1] === 'I' || socat[1] === 'D' ? 'notice' : 'error';
}
