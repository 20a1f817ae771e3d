import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { ProcessRunner } from '../../src/runtime/process-runner.js';
import { DIAL_PROBE_TARGET, SshLinkDials } from '../../src/runtime/ssh-link-dials.js';

const target = { kind: 'ssh' as const, user: null, host: 'build-box', port: null };
const dirs: string[] = [];
const servers: Server[] = [];
afterEach(() => {
  for (const server of servers.splice(0)) server.close();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/**
 * A stand-in for the link's master: `ssh -O forward -L SOCKET:HOST:PORT` listens on SOCKET, where a
 * connection to the probe's target closes at once while the master says `probeSays`, and any other
 * is an echo of the "container"; `-O cancel` stops listening. `channelSays` is what the master says
 * for every later channel.
 */
function fakeMaster(dials: () => SshLinkDials, probeSays: string, channelSays: string | null = null) {
  const operations: string[] = [];
  const listening = new Map<string, Server>();
  const runner: ProcessRunner = {
    run(_file, args) {
      const operation = args[args.indexOf('-O') + 1] ?? '';
      const spec = args[args.indexOf('-L') + 1] ?? '';
      const [path = '', host = '', port = ''] = spec.split(':');
      operations.push(`${operation} ${host}:${port}`);
      if (operation === 'cancel') {
        listening.get(path)?.close();
        return Promise.resolve({ exitCode: 0, stdout: '', stderr: '' });
      }
      const probe = host === DIAL_PROBE_TARGET.host && Number(port) === DIAL_PROBE_TARGET.port;
      const server = createServer((socket: Socket) => {
        if (probe || channelSays !== null) {
          dials().heard(probe ? probeSays : (channelSays ?? ''));
          socket.destroy();
        } else socket.pipe(socket);
      });
      servers.push(server);
      listening.set(path, server);
      return new Promise((resolve) =>
        server.listen(path, () => resolve({ exitCode: 0, stdout: '', stderr: '' })),
      );
    },
    spawn() {
      throw new Error('the dials spawn nothing');
    },
  };
  return { runner, operations };
}

function dialsWith(probeSays: string, channelSays: string | null = null) {
  const dir = mkdtempSync(join(tmpdir(), 'portpilot-dials-'));
  dirs.push(dir);
  const logged: string[] = [];
  let dials: SshLinkDials | null = null;
  const master = fakeMaster(() => dials as SshLinkDials, probeSays, channelSays);
  dials = new SshLinkDials({
    target,
    runner: master.runner,
    controlPath: join(dir, 'abc.engine.ctl'),
    socketPrefix: join(dir, 'abc.engine'),
    log: (_level, message) => logged.push(message),
    idleMs: 300,
  });
  return { dials, dir, logged, operations: master.operations };
}

function echo(socket: Socket, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let got = '';
    socket.on('data', (chunk: Buffer) => {
      got += chunk.toString();
      if (got.length >= text.length) {
        socket.destroy();
        resolve(got);
      }
    });
    socket.on('error', reject);
    socket.write(text);
  });
}

const options = { allowHalfOpen: true, noDelay: true };
const CONNECT_FAILED = 'channel 4: open failed: connect failed: Connection refused';
const PROHIBITED = 'channel 5: open failed: administratively prohibited: open failed';

describe('SshLinkDials', () => {
  it('dials once a probe channel shows sshd dials, one forward per target however many connections', async () => {
    const { dials, dir, operations } = dialsWith(CONNECT_FAILED);
    expect(dials.usable).toBe(false);
    await dials.linkUp();
    expect(dials.usable).toBe(true);
    const replies = await Promise.all(
      Array.from({ length: 20 }, async (_, i) =>
        echo(await dials.dial('172.17.0.2', 8080, options), `#${i}`),
      ),
    );
    expect(replies).toEqual(Array.from({ length: 20 }, (_, i) => `#${i}`));
    expect(operations.filter((op) => op === 'forward 172.17.0.2:8080')).toHaveLength(1);
    // The probe's forward is gone; the target's stays while used, then is withdrawn with its socket.
    expect(operations).toContain(`cancel ${DIAL_PROBE_TARGET.host}:${DIAL_PROBE_TARGET.port}`);
    await new Promise((resolve) => setTimeout(resolve, 800));
    expect(operations).toContain('cancel 172.17.0.2:8080');
    expect(readdirSync(dir).filter((name) => name.includes('.dial-'))).toEqual([]);
    // A later dial adds it again.
    expect(await echo(await dials.dial('172.17.0.2', 8080, options), 'again')).toBe('again');
    dials.close();
    expect(readdirSync(dir).filter((name) => name.includes('.dial-'))).toEqual([]);
  });

  it('does not dial where the probe channel is refused by sshd', async () => {
    const { dials, logged } = dialsWith(PROHIBITED);
    await dials.linkUp();
    expect(dials.usable).toBe(false);
    await expect(dials.dial('172.17.0.2', 8080, options)).rejects.toThrow(/cannot dial/);
    expect(logged.join('\n')).toMatch(/does not dial container addresses/);
  });

  it('stops dialling at the first channel sshd refuses, and probes again when the link comes back', async () => {
    const { dials, logged } = dialsWith(CONNECT_FAILED, PROHIBITED);
    await dials.linkUp();
    expect(dials.usable).toBe(true);
    const socket = await dials.dial('172.17.0.2', 8080, options);
    // ssh closes the connection of a refused channel.
    socket.resume();
    await new Promise((resolve) => socket.once('end', resolve));
    socket.destroy();
    expect(dials.usable).toBe(false);
    expect(logged.join('\n')).toMatch(/sshd refuses the link's TCP channels/);
    dials.linkDown();
    await dials.linkUp();
    expect(dials.usable).toBe(true);
    dials.close();
  });

  it('removes dial sockets a killed forwarder left behind when its link comes up', async () => {
    const { dials, dir } = dialsWith(CONNECT_FAILED);
    const stale = createServer();
    servers.push(stale);
    await new Promise<void>((resolve) => stale.listen(join(dir, 'abc.engine.dial-7.sock'), resolve));
    stale.close();
    await dials.linkUp();
    expect(existsSync(join(dir, 'abc.engine.dial-7.sock'))).toBe(false);
    dials.close();
  });
});
