import { describe, expect, it } from 'vitest';
import { RuntimeError } from '../../../../src/common/errors.js';
import {
  ContainerGoneSignal,
  EXEC_READ_MAX_BYTES,
  EXEC_READ_TIMEOUT_MS,
  createListenerSource,
  splitTables,
  tcpInUse,
  withoutRuntimeSockets,
} from '../../../../src/forwarding/detect/listener-source.js';
import { Docker } from '../../../../src/runtime/docker.js';
import type { ProcessRunner, RunOptions, RunResult } from '../../../../src/runtime/process-runner.js';

const HEADER =
  '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode';
const V4_LISTEN =
  '   0: 0100007F:0BB8 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1001 1';
const V6_LISTEN =
  '   0: 00000000000000000000000001000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1002 1';

describe('tcpInUse', () => {
  it('reads the per-namespace TCP and TCP6 counters', () => {
    expect(tcpInUse('sockets: used 3\nTCP: inuse 2 orphan 0 tw 0 alloc 9 mem 0\nUDP: inuse 0\n', 'TCP')).toBe(
      '2',
    );
    expect(tcpInUse('TCP6: inuse 5\nUDP6: inuse 0\n', 'TCP6')).toBe('5');
  });

  it('is empty when the line is absent or garbled', () => {
    expect(tcpInUse('', 'TCP')).toBe('');
    expect(tcpInUse('TCP6: inuse 5\n', 'TCP')).toBe('');
    expect(tcpInUse('TCP: inuse x\n', 'TCP')).toBe('');
  });
});

describe('splitTables', () => {
  it('reads the second table of `cat tcp tcp6` as IPv6', () => {
    const listeners = splitTables([HEADER, V4_LISTEN, HEADER, V6_LISTEN, ''].join('\n'));
    expect(listeners).toEqual([
      { family: 4, address: '127.0.0.1', port: 3000, inode: 1001 },
      { family: 6, address: '::1', port: 8080, inode: 1002 },
    ]);
  });

  it('reads a lone IPv4 table when tcp6 is missing', () => {
    expect(splitTables([HEADER, V4_LISTEN].join('\n'))).toHaveLength(1);
  });
});

describe('withoutRuntimeSockets', () => {
  it("drops Docker's embedded DNS listener and keeps the user's", () => {
    const sockets = [
      { family: 4 as const, address: '127.0.0.11', port: 45537, inode: 1 },
      { family: 4 as const, address: '127.0.0.1', port: 3000, inode: 2 },
    ];
    expect(withoutRuntimeSockets(sockets)).toEqual([sockets[1]]);
  });
});

const CONTAINER = 'c0ffee0123456789';

/** A docker CLI stand-in: `exec` and `container inspect` answer as given; what each was asked is kept. */
function fakeDocker(answers: { exec: RunResult | Error; inspect: RunResult | Error }) {
  const asked: { args: readonly string[]; options: RunOptions | undefined }[] = [];
  const runner: ProcessRunner = {
    run(_file, args, options) {
      asked.push({ args, options });
      const answer = args[0] === 'exec' ? answers.exec : answers.inspect;
      return answer instanceof Error ? Promise.reject(answer) : Promise.resolve(answer);
    },
    spawn() {
      throw new Error('not used');
    },
  };
  return { docker: new Docker(runner), asked };
}

const inspectJson = (running: boolean): RunResult => ({
  exitCode: 0,
  stderr: '',
  stdout: JSON.stringify([
    {
      Id: CONTAINER,
      Name: '/web',
      State: {
        Status: running ? 'running' : 'exited',
        Running: running,
        Pid: running ? 4100 : 0,
        StartedAt: '',
      },
      Config: { Image: 'debian', Labels: {} },
      NetworkSettings: { Networks: {} },
    },
  ]),
});
const SSH_DOWN: RunResult = {
  exitCode: 1,
  stdout: '',
  stderr:
    'error during connect: ssh: connect to host 127.0.0.1 port 2222: Connection refused (exit status 255)',
};

/** What an exec-path read rejects with (or 'ok'), given how exec and inspect answer. */
async function readOutcome(answers: { exec: RunResult | Error; inspect: RunResult | Error }) {
  const { docker } = fakeDocker(answers);
  const source = await createListenerSource(docker, { id: CONTAINER, pid: 0, startedAt: '' });
  expect(source.kind).toBe('exec');
  return source.read().then(
    () => 'ok',
    (error: unknown) => error,
  );
}

describe('reading listeners through exec', () => {
  it('bounds the read in time and in output', async () => {
    const { docker, asked } = fakeDocker({
      exec: { exitCode: 0, stdout: HEADER, stderr: '' },
      inspect: SSH_DOWN,
    });
    await (await createListenerSource(docker, { id: CONTAINER, pid: 0, startedAt: '' })).read();
    expect(asked[0]?.args).toEqual([
      'exec',
      CONTAINER,
      'cat',
      '/proc/net/tcp',
      '/proc/net/tcp6',
      '/proc/net/udp',
      '/proc/net/udp6',
      '/proc/sys/net/ipv4/ip_local_port_range',
    ]);
    expect(asked[0]?.options).toMatchObject({
      timeoutMs: EXEC_READ_TIMEOUT_MS,
      maxOutputBytes: EXEC_READ_MAX_BYTES,
    });
  });

  it('takes a read stopped at a bound as a failed read, not as the container gone', async () => {
    for (const limit of ['time', 'output'] as const) {
      const outcome = await readOutcome({
        exec: { exitCode: 137, stdout: 'y\n'.repeat(10), stderr: '', limit },
        inspect: inspectJson(true),
      });
      expect(outcome).toBeInstanceOf(RuntimeError);
      expect(outcome).not.toBeInstanceOf(ContainerGoneSignal);
      expect((outcome as Error).message).toMatch(limit === 'time' ? /no answer in/ : /more than \d+ bytes/);
    }
  });

  it('takes a failed exec with the engine unreachable as a failed read, not as the container gone', async () => {
    const outcome = await readOutcome({ exec: SSH_DOWN, inspect: SSH_DOWN });
    expect(outcome).toBeInstanceOf(RuntimeError);
    expect(outcome).not.toBeInstanceOf(ContainerGoneSignal);
    // A client that cannot even start (EMFILE) is this process's trouble too.
    const emfile = Object.assign(new Error('spawn docker EMFILE'), { code: 'EMFILE' });
    expect(await readOutcome({ exec: emfile, inspect: emfile })).not.toBeInstanceOf(ContainerGoneSignal);
  });

  it('takes a failed exec in a container the engine shows running as a failed read', async () => {
    const outcome = await readOutcome({ exec: SSH_DOWN, inspect: inspectJson(true) });
    expect(outcome).toBeInstanceOf(RuntimeError);
  });

  it('signals the container gone only when the engine says it is not running, or has no such container', async () => {
    const notRunning: RunResult = {
      exitCode: 1,
      stdout: '',
      stderr: 'Error response from daemon: Container c0ffee is not running',
    };
    expect(await readOutcome({ exec: notRunning, inspect: inspectJson(false) })).toBeInstanceOf(
      ContainerGoneSignal,
    );
    const noSuch: RunResult = { exitCode: 1, stdout: '', stderr: 'Error: No such container: c0ffee' };
    expect(await readOutcome({ exec: noSuch, inspect: noSuch })).toBeInstanceOf(ContainerGoneSignal);
  });
});

describe('reading UDP servers through exec', () => {
  it('finds them in the same cat, outside the ephemeral range it printed, beside the TCP listeners', async () => {
    const udp = (local: string, inode: number) =>
      `  7: ${local} 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 ${inode} 2 0000000000000000 0`;
    const stdout = [
      HEADER,
      V4_LISTEN,
      HEADER,
      V6_LISTEN,
      HEADER,
      udp('00000000:14E9', 2001),
      udp('00000000:9C40', 2002),
      udp('0B00007F:9C41', 2003),
      '40000\t50000',
      '',
    ].join('\n');
    const { docker } = fakeDocker({ exec: { exitCode: 0, stdout, stderr: '' }, inspect: SSH_DOWN });
    const source = await createListenerSource(docker, { id: CONTAINER, pid: 0, startedAt: '' });
    const read = await source.read();
    expect(read.map((l) => `${l.port}/${l.protocol ?? 'tcp'}`)).toEqual(['3000/tcp', '8080/tcp', '5353/udp']);
  });
});
