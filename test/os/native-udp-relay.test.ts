import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  builtProgramName,
  nativeUdpRelayProgram,
  nativeUdpSource,
  programsDir,
} from '../../src/forwarding/relay/native-udp/native-udp-build.js';
import { bindUdpForwardRelay } from '../../src/forwarding/relay/udp-forward-relay.js';
import type { DatagramTarget } from '../../src/forwarding/relay/udp-relay.js';
import { daemonRunner, type ProcessRunner } from '../../src/runtime/process-runner.js';
import type { HostListener } from '../../src/forwarding/host/host-listener.js';

const roots: string[] = [];
const opened: Array<{ close(): unknown }> = [];
afterEach(async () => {
  for (const item of opened.splice(0).reverse()) await item.close();
});
afterAll(() => Promise.all(roots.map((root) => rm(root, { recursive: true, force: true }))));

async function stateRoot(): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'portpilot-native-udp-'));
  roots.push(root);
  return root;
}

/** daemonRunner, counting the commands it runs (compilations). */
function countingRunner(): { runner: ProcessRunner; runs: string[] } {
  const runs: string[] = [];
  return {
    runs,
    runner: {
      run: (file, args, options) => {
        runs.push(file);
        return daemonRunner.run(file, args, options);
      },
      spawn: (file, args, options) => daemonRunner.spawn(file, args, options),
    },
  };
}

/** The pids of running native relays built from `program`. */
async function relayPids(program: string): Promise<number[]> {
  const pids: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const cmdline = await readFile(`/proc/${name}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.split('\0')[0] === program) pids.push(Number(name));
  }
  return pids;
}

async function echoServer(): Promise<{ port: number; peers: string[] }> {
  const socket = createSocket('udp4');
  const peers: string[] = [];
  socket.on('message', (message, peer) => {
    peers.push(`${peer.address}:${peer.port}`);
    socket.send(message, peer.port, peer.address);
  });
  socket.bind(0, '127.0.0.1');
  await once(socket, 'listening');
  opened.push({ close: () => new Promise<void>((resolve) => socket.close(() => resolve())) });
  return { port: socket.address().port, peers };
}

async function udpClient(): Promise<Socket> {
  const socket = createSocket('udp4');
  socket.bind(0, '127.0.0.1');
  await once(socket, 'listening');
  opened.push({ close: () => new Promise<void>((resolve) => socket.close(() => resolve())) });
  return socket;
}

/** Sends `text` to the relay and resolves with what comes back (rejects after 3 s). */
async function ask(socket: Socket, port: number, text: string): Promise<string> {
  const reply = once(socket, 'message', { signal: AbortSignal.timeout(3_000) });
  socket.send(text, port, '127.0.0.1');
  const [message] = (await reply) as [Buffer];
  return message.toString();
}

async function until(check: () => Promise<boolean> | boolean, what: string, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`not within ${ms} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

describe('nativeUdpRelayProgram', () => {
  it('builds the program once into <state dir>/programs (0700, named by its source), and finds it after', async () => {
    const root = await stateRoot();
    const { runner, runs } = countingRunner();
    const program = nativeUdpRelayProgram(root, runner, () => {}, {});
    const path = await program();
    const source = await nativeUdpSource();
    expect(path).toBe(join(programsDir(root), builtProgramName(source)));
    expect((await stat(path!)).mode & 0o777).toBe(0o700);
    expect((await stat(programsDir(root))).mode & 0o777).toBe(0o700);
    expect(await program()).toBe(path);
    expect(await nativeUdpRelayProgram(root, runner, () => {}, {})()).toBe(path);
    expect(runs).toHaveLength(1);
    expect(await readdir(programsDir(root))).toEqual([builtProgramName(source)]);
  });

  it('is null, and says why once, without a compiler, with a failing one, or when told to relay in-process', async () => {
    const root = await stateRoot();
    const said: string[] = [];
    const log = (message: string) => said.push(message);
    expect(await nativeUdpRelayProgram(root, daemonRunner, log, { CC: '/nonexistent/cc' })()).toBeNull();
    expect(said.at(-1)).toMatch(/^no C compiler \(\/nonexistent\/cc\).*relay in-process/);
    expect(await nativeUdpRelayProgram(root, daemonRunner, log, { CC: 'false' })()).toBeNull();
    expect(said.at(-1)).toMatch(/did not build/);
    expect(await readdir(programsDir(root))).toEqual([]);
    const { runner, runs } = countingRunner();
    expect(
      await nativeUdpRelayProgram(root, runner, log, { PORTPILOT_UDP_RELAY: 'in-process' })(),
    ).toBeNull();
    expect(runs).toEqual([]);
  });

  it('never runs a file at its path that others may write: it builds its own over it', async () => {
    const root = await stateRoot();
    const source = await nativeUdpSource();
    const planted = join(programsDir(root), builtProgramName(source));
    await mkdir(programsDir(root), { recursive: true, mode: 0o700 });
    await writeFile(planted, '#!/bin/sh\necho planted\n');
    await chmod(planted, 0o777);
    const { runner, runs } = countingRunner();
    expect(await nativeUdpRelayProgram(root, runner, () => {}, {})()).toBe(planted);
    expect(runs).toHaveLength(1);
    expect((await stat(planted)).mode & 0o777).toBe(0o700);
    expect((await readFile(planted)).subarray(0, 4).toString('latin1')).toBe('\x7fELF');
  });
});

describe('a UDP forward relayed by the native program', () => {
  async function forward(target: DatagramTarget): Promise<{ relay: HostListener; program: string }> {
    const root = await stateRoot();
    const program = await nativeUdpRelayProgram(root, daemonRunner, () => {}, {})();
    if (program === null) throw new Error('no native UDP relay was built');
    const relay = await bindUdpForwardRelay(
      { port: 0, target },
      { program: async () => program, runner: daemonRunner },
    );
    if (relay === null) throw new Error('no port');
    opened.push(relay);
    return { relay, program };
  }

  it('runs one process per forward, which close() ends, freeing the port', async () => {
    const server = await echoServer();
    const { relay, program } = await forward(() => ({ address: '127.0.0.1', port: server.port }));
    expect(await relayPids(program)).toHaveLength(1);
    const [a, b] = [await udpClient(), await udpClient()];
    expect(await ask(a, relay.port, 'a')).toBe('a');
    expect(await ask(b, relay.port, 'b')).toBe('b');
    expect(await relayPids(program)).toHaveLength(1);
    await relay.close();
    expect(await relayPids(program)).toEqual([]);
    const again = createSocket('udp4');
    again.bind(relay.port, '127.0.0.1');
    await once(again, 'listening');
    again.close();
  });

  it('hands its port to the in-process relay when the datagrams come to go through the container', async () => {
    const server = await echoServer();
    let opens = 0;
    let viaContainer = false;
    const { relay, program } = await forward(() =>
      viaContainer
        ? {
            address: '127.0.0.1',
            port: server.port,
            // As the namespace helper's socket would be: one made elsewhere, sent through as it is.
            open: () => {
              opens += 1;
              const socket = createSocket('udp4');
              return new Promise((resolve) => socket.bind(0, '127.0.0.1', () => resolve(socket)));
            },
          }
        : { address: '127.0.0.1', port: server.port },
    );
    const c = await udpClient();
    expect(await ask(c, relay.port, 'native')).toBe('native');
    viaContainer = true;
    await until(async () => (await relayPids(program)).length === 0, 'the native relay ended');
    await until(async () => (await ask(c, relay.port, 'moved').catch(() => '')) === 'moved', 'an answer');
    expect(opens).toBe(1);
  });

  it('hands its port to the in-process relay when the program dies', async () => {
    const server = await echoServer();
    const { relay, program } = await forward(() => ({ address: '127.0.0.1', port: server.port }));
    const c = await udpClient();
    expect(await ask(c, relay.port, 'before')).toBe('before');
    const [pid] = await relayPids(program);
    process.kill(pid!, 'SIGKILL');
    await until(async () => (await ask(c, relay.port, 'after').catch(() => '')) === 'after', 'an answer');
  });

  it('relays in-process when the program does not run here, and tries it no more for the next forwards', async () => {
    const server = await echoServer();
    const spawned: string[] = [];
    const runner: ProcessRunner = {
      run: (file, args, options) => daemonRunner.run(file, args, options),
      spawn: (file, args, options) => {
        spawned.push(file);
        return daemonRunner.spawn(file, args, options);
      },
    };
    const said: string[] = [];
    // As a program on a noexec file system: it starts and says nothing.
    const source = { program: () => Promise.resolve('/bin/true'), runner };
    for (const text of ['first', 'second']) {
      const relay = await bindUdpForwardRelay(
        { port: 0, target: () => ({ address: '127.0.0.1', port: server.port }), log: (m) => said.push(m) },
        source,
      );
      if (relay === null) throw new Error('no port');
      opened.push(relay);
      expect(await ask(await udpClient(), relay.port, text)).toBe(text);
    }
    expect(spawned).toEqual(['/bin/true']);
    expect(said).toEqual(['native udp relay did not start: relaying in-process']);
  });

  it('exits when its standard input closes: a forwarder killed leaves no relay behind', async () => {
    const root = await stateRoot();
    const program = await nativeUdpRelayProgram(root, daemonRunner, () => {}, {})();
    const child = daemonRunner.spawn(program!, ['127.0.0.1', '0', '90000', '16']);
    const [line] = (await once(child.stdout, 'data')) as [Buffer];
    expect(line.toString()).toMatch(/^bound \d+ 127\.0\.0\.1( ::1)?\n$/);
    child.stdin.end();
    const exited = await Promise.race([
      child.exited,
      new Promise((resolve) => setTimeout(() => resolve('hung'), 3_000)),
    ]);
    expect(exited).toBe(0);
  });
});
