import { describe, expect, it } from 'vitest';
import { ForwarderError, RuntimeError } from '../../../../../src/common/errors.js';
import {
  BASH_DRAIN_S,
  RELAY_DRAIN_IDLE_S,
  relayArgv,
  relayStderrEvent,
  SOCAT_BUFFER_BYTES,
  type RelayProgram,
} from '../../../../../src/forwarding/relay/exec/exec-relay.js';
import {
  parseAgentInterpreters,
  parseRelayProbe,
  probeContainerPrograms,
  probeRelayProgram,
} from '../../../../../src/forwarding/relay/exec/program-probe.js';
import { Docker } from '../../../../../src/runtime/docker.js';
import type { ProcessRunner, RunResult } from '../../../../../src/runtime/process-runner.js';

const OPENBSD_HELP = [
  'nc-help OpenBSD netcat (Debian patchlevel 1.219-1)',
  'nc-help usage: nc [-46CDdFhklNnrStUuvZz] [-I length] [-i interval] [-M ttl]',
];
const BUSYBOX_HELP = [
  'nc-help BusyBox v1.35.0 (Debian 1:1.35.0-4+deb12u1+b1) multi-call binary.',
  'nc-help ',
  'nc-help Usage: nc [-iN] [-wN] [-l] [-p PORT] [-f FILE|IPADDR PORT] [-e PROG]',
];
const NCAT_HELP = [
  'nc-help Ncat 7.93 ( https://nmap.org/ncat )',
  'nc-help Usage: ncat [options] [hostname] [port]',
];

function probe(...lines: (string | string[])[]): string {
  return `${lines.flat().join('\n')}\n`;
}

describe('parseRelayProbe', () => {
  it('prefers socat over everything else', () => {
    const output = probe(
      'has socat',
      'has nc',
      'has bash',
      'has python3',
      'has perl',
      'has cat',
      OPENBSD_HELP,
    );
    expect(parseRelayProbe(output)).toEqual({ kind: 'socat' });
  });

  it('takes busybox nc next, telling it by its help text', () => {
    const output = probe('has nc', 'has bash', 'has python3', 'has perl', 'has cat', BUSYBOX_HELP);
    expect(parseRelayProbe(output)).toEqual({ kind: 'nc', flavor: 'busybox' });
  });

  it("puts OpenBSD nc after bash, python3 and perl, which pass the server's EOF on", () => {
    expect(parseRelayProbe(probe('has nc', 'has bash', 'has cat', OPENBSD_HELP))).toEqual({ kind: 'bash' });
    expect(parseRelayProbe(probe('has nc', 'has perl', OPENBSD_HELP))).toEqual({ kind: 'perl' });
    expect(parseRelayProbe(probe('has nc', 'has cat', OPENBSD_HELP))).toEqual({
      kind: 'nc',
      flavor: 'openbsd',
    });
  });

  it("takes python3, then perl, before bash, which cannot pass a client's half-close on", () => {
    expect(parseRelayProbe(probe('has bash', 'has python3', 'has perl', 'has cat'))).toEqual({
      kind: 'python3',
    });
    expect(parseRelayProbe(probe('has bash', 'has perl', 'has cat'))).toEqual({ kind: 'perl' });
    expect(parseRelayProbe(probe('has python3', 'has perl', 'has cat'))).toEqual({ kind: 'python3' });
    expect(parseRelayProbe(probe('has perl', 'has cat'))).toEqual({ kind: 'perl' });
  });

  it('takes bash when nothing that can half-close is there, but only with cat beside it', () => {
    expect(parseRelayProbe(probe('has bash', 'has cat'))).toEqual({ kind: 'bash' });
    expect(parseRelayProbe(probe('has nc', 'has bash', 'has cat', NCAT_HELP))).toEqual({ kind: 'bash' });
    expect(parseRelayProbe(probe('has bash'))).toBeNull();
  });

  it('uses an nc of unknown lineage only when nothing else is there', () => {
    expect(parseRelayProbe(probe('has nc', 'has perl', NCAT_HELP))).toEqual({ kind: 'perl' });
    expect(parseRelayProbe(probe('has nc', 'has cat', NCAT_HELP))).toEqual({ kind: 'nc', flavor: 'other' });
    expect(parseRelayProbe(probe('has nc'))).toEqual({ kind: 'nc', flavor: 'other' });
  });

  it('returns null when the container has no relay program', () => {
    expect(parseRelayProbe('')).toBeNull();
    expect(parseRelayProbe(probe('has cat'))).toBeNull();
  });

  it('ignores help text that merely mentions a program', () => {
    expect(parseRelayProbe(probe('nc-help has socat', 'has perl'))).toEqual({ kind: 'perl' });
  });
});

describe('parseAgentInterpreters', () => {
  it('names python3 before perl, whatever order the probe printed them in', () => {
    expect(parseAgentInterpreters(probe('has perl', 'has socat', 'has python3'))).toEqual([
      'python3',
      'perl',
    ]);
    expect(parseAgentInterpreters(probe('has perl', 'has cat'))).toEqual(['perl']);
  });

  it('finds none where there is neither, or only in help text', () => {
    expect(parseAgentInterpreters(probe('has socat', 'has bash'))).toEqual([]);
    expect(parseAgentInterpreters(probe('has nc', 'nc-help has python3'))).toEqual([]);
  });
});

describe('relayArgv', () => {
  const drain = String(RELAY_DRAIN_IDLE_S);

  it('runs socat with a large buffer, a long half-close wait and notices on stderr', () => {
    expect(relayArgv({ kind: 'socat' }, '127.0.0.1', 3000)).toEqual([
      'socat',
      '-d',
      '-d',
      '-b',
      String(SOCAT_BUFFER_BYTES),
      '-t',
      drain,
      '-',
      'TCP:127.0.0.1:3000,nodelay',
    ]);
  });

  it('brackets an IPv6 address for socat', () => {
    expect(relayArgv({ kind: 'socat' }, '::1', 8080).at(-1)).toBe('TCP:[::1]:8080,nodelay');
  });

  it('asks OpenBSD nc to pass stdin EOF on (-N) and not to resolve names', () => {
    expect(relayArgv({ kind: 'nc', flavor: 'openbsd' }, '::1', 5432)).toEqual([
      'nc',
      '-N',
      '-n',
      '::1',
      '5432',
    ]);
  });

  it('runs busybox and other nc without flags', () => {
    expect(relayArgv({ kind: 'nc', flavor: 'busybox' }, '127.0.0.1', 80)).toEqual(['nc', '127.0.0.1', '80']);
    expect(relayArgv({ kind: 'nc', flavor: 'other' }, '127.0.0.1', 80)).toEqual(['nc', '127.0.0.1', '80']);
  });

  it('passes address, port and drain time to the scripts as arguments, never inside the code', () => {
    const cases: [RelayProgram, string[], string][] = [
      [{ kind: 'bash' }, ['bash', '-c'], String(BASH_DRAIN_S)],
      [{ kind: 'python3' }, ['python3', '-I', '-S', '-c'], drain],
      [{ kind: 'perl' }, ['perl', '-e'], drain],
    ];
    for (const [program, prefix, drainArg] of cases) {
      const argv = relayArgv(program, '::1', 4000);
      expect(argv.slice(0, prefix.length)).toEqual(prefix);
      expect(argv.slice(prefix.length + 1)).toEqual(['::1', '4000', drainArg]);
      const script = argv[prefix.length] ?? '';
      expect(script).not.toContain('4000');
      expect(script).not.toContain('::1');
    }
  });

  it('half-closes toward the server in the python3 and perl scripts', () => {
    expect(relayArgv({ kind: 'python3' }, '127.0.0.1', 1).join(' ')).toContain('shutdown(socket.SHUT_WR)');
    expect(relayArgv({ kind: 'perl' }, '127.0.0.1', 1).join(' ')).toContain('shutdown($conn, SHUT_WR)');
  });

  it('refuses anything but an IP address and a TCP port', () => {
    expect(() => relayArgv({ kind: 'socat' }, 'localhost', 80)).toThrow(ForwarderError);
    expect(() => relayArgv({ kind: 'socat' }, '127.0.0.1,fork', 80)).toThrow(ForwarderError);
    expect(() => relayArgv({ kind: 'perl' }, '127.0.0.1', 0)).toThrow(ForwarderError);
    expect(() => relayArgv({ kind: 'perl' }, '127.0.0.1', 65_536)).toThrow(ForwarderError);
    expect(() => relayArgv({ kind: 'perl' }, '127.0.0.1', 1.5)).toThrow(ForwarderError);
  });
});

describe('relayStderrEvent', () => {
  it("turns socat's notice of the server's EOF into a server-eof event", () => {
    expect(relayStderrEvent('2026/11/23 17:13:37 socat[566] N socket 2 (fd 5) is at EOF')).toBe('server-eof');
  });

  it("treats socat's other notices as noise and its errors as errors", () => {
    expect(relayStderrEvent('2026/11/23 17:13:37 socat[566] N socket 1 (fd 0) is at EOF')).toBe('notice');
    expect(relayStderrEvent('2026/11/23 17:13:37 socat[566] N exiting with status 0')).toBe('notice');
    expect(
      relayStderrEvent(
        '2026/11/23 17:13:37 socat[566] E connect(5, AF=2 127.0.0.1:1, 16): Connection refused',
      ),
    ).toBe('error');
  });

  it('treats any other line as a possible error', () => {
    expect(relayStderrEvent('relay to 127.0.0.1 port 1: [Errno 111] Connection refused')).toBe('error');
    expect(relayStderrEvent('bash: connect: Connection refused')).toBe('error');
  });
});

/** A docker CLI stand-in: answers `docker exec … ARGV` from a table keyed by ARGV[0]. */
function fakeDocker(answers: Record<string, RunResult>): { docker: Docker; asked: string[][] } {
  const asked: string[][] = [];
  const runner: ProcessRunner = {
    run(_file, args) {
      const argv = args.slice(args.indexOf('cid-0123456789ab') + 1);
      asked.push(argv);
      return Promise.resolve(answers[argv[0] ?? ''] ?? NOT_FOUND);
    },
    spawn() {
      throw new Error('not used');
    },
  };
  return { docker: new Docker(runner), asked };
}

const NOT_FOUND: RunResult = {
  exitCode: 126,
  stdout: '',
  stderr:
    'OCI runtime exec failed: exec failed: unable to start container process: exec: "sh": executable file not found in $PATH: unknown',
};
const ok = (stdout = '', stderr = ''): RunResult => ({ exitCode: 0, stdout, stderr });

describe('probeRelayProgram', () => {
  it('asks once through sh when the container has it', async () => {
    const { docker, asked } = fakeDocker({ sh: ok(probe('has perl', 'has python3', 'has cat')) });
    expect(await probeRelayProgram(docker, 'cid-0123456789ab', 'web')).toEqual({ kind: 'python3' });
    expect(asked).toHaveLength(1);
  });

  it('tells the agent interpreters from the same one exec', async () => {
    const { docker, asked } = fakeDocker({ sh: ok(probe('has socat', 'has perl')) });
    expect(await probeContainerPrograms(docker, 'cid-0123456789ab', 'web')).toEqual({
      relayProgram: { kind: 'socat' },
      agentInterpreters: ['perl'],
    });
    expect(asked).toHaveLength(1);
  });

  it('tries each program on its own when the container has no sh', async () => {
    const { docker, asked } = fakeDocker({
      nc: {
        exitCode: 1,
        stdout: '',
        stderr: 'BusyBox v1.35.0 (Debian 1:1.35.0-4+deb12u1+b1) multi-call binary.\n\nUsage: nc [-iN] [-wN]',
      },
      perl: ok(),
    });
    expect(await probeRelayProgram(docker, 'cid-0123456789ab', 'web')).toEqual({
      kind: 'nc',
      flavor: 'busybox',
    });
    expect(asked.map((argv) => argv[0])).toEqual(['sh', 'socat', 'nc', 'bash', 'python3', 'perl']);
  });

  it('throws NO_RELAY_PROGRAM with the short id, the name and what to install', async () => {
    const { docker } = fakeDocker({ sh: ok('has cat\n') });
    const error = await probeRelayProgram(docker, 'cid-0123456789abcdef', 'web').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ForwarderError);
    expect((error as ForwarderError).code).toBe('NO_RELAY_PROGRAM');
    expect((error as ForwarderError).message).toBe(
      'no relay program in container cid-01234567 (web): install socat, nc, bash, python3 or perl in the image',
    );
  });

  it('reports a container that is not running as such, not as a missing program', async () => {
    const { docker } = fakeDocker({
      sh: { exitCode: 1, stdout: '', stderr: 'Error response from daemon: Container cid is not running' },
    });
    const error = await probeRelayProgram(docker, 'cid-0123456789ab', 'web').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RuntimeError);
    expect((error as RuntimeError).code).toBe('CONTAINER_NOT_RUNNING');
  });
});
