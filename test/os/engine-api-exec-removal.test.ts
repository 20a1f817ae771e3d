import { mkdtempSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { EngineApi } from '../../src/runtime/engine-api.js';

/** What a fake engine saw: the requests, and the exec sessions it still keeps. */
interface FakeEngine {
  socketPath: string;
  requests: string[];
  sessions: Set<string>;
  server: Server;
}

function stdoutFrame(payload: string): Buffer {
  const header = Buffer.alloc(8);
  header[0] = 1;
  header.writeUInt32BE(Buffer.byteLength(payload), 4);
  return Buffer.concat([header, Buffer.from(payload)]);
}

/**
 * An engine on a unix socket that answers as Docker (no `libpodApiVersion`) or as that Podman: it
 * creates exec sessions, runs each (it prints "ok" and exits 0), and keeps it until removed, as Podman
 * does; the remove route exists only where that Podman has it.
 */
async function startFakeEngine(libpodApiVersion: string | null): Promise<FakeEngine> {
  const socketPath = join(mkdtempSync(join(tmpdir(), 'portpilot-fake-engine-')), 'engine.sock');
  const requests: string[] = [];
  const sessions = new Set<string>();
  let next = 0;
  const removable = libpodApiVersion !== null && !libpodApiVersion.startsWith('4.3.');
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    req.resume();
    req.on('end', () => {
      const route = `${req.method} ${req.url}`;
      requests.push(route);
      if (libpodApiVersion !== null) res.setHeader('Libpod-Api-Version', libpodApiVersion);
      let match: RegExpExecArray | null;
      if (route === 'GET /_ping') {
        res.end('OK');
      } else if (/^POST \/containers\/[^/]+\/exec$/.test(route)) {
        const id = `exec${++next}`;
        sessions.add(id);
        res.writeHead(201, { 'Content-Type': 'application/json' }).end(JSON.stringify({ Id: id }));
      } else if ((match = /^GET \/exec\/([^/]+)\/json$/.exec(route)) && sessions.has(match[1] ?? '')) {
        res.end(JSON.stringify({ Running: false, ExitCode: 0 }));
      } else if ((match = /^POST \/libpod\/exec\/([^/]+)\/remove$/.exec(route)) && removable) {
        sessions.delete(match[1] ?? '');
        res.end();
      } else {
        res.writeHead(404).end('404 page not found');
      }
    });
  });
  server.on('upgrade', (req: IncomingMessage, socket: Socket) => {
    requests.push(`${req.method} ${req.url}`);
    socket.write('HTTP/1.1 101 UPGRADED\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n');
    socket.end(stdoutFrame('ok\n'));
  });
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  return { socketPath, requests, sessions, server };
}

/** Runs `count` execs one after another: each one's exit code, and how many sessions the engine kept then. */
async function runExecs(engine: FakeEngine, count: number): Promise<{ codes: number[]; kept: number[] }> {
  const api = new EngineApi(engine.socketPath);
  expect(await api.ping()).toBe(true);
  const codes: number[] = [];
  const kept: number[] = [];
  for (let index = 0; index < count; index++) {
    const exec = api.execStream('c0ffee', ['cat', '/proc/net/tcp']);
    exec.stdout.resume();
    exec.stderr.resume();
    exec.stdin.end();
    codes.push(await exec.exited);
    kept.push(engine.sessions.size);
  }
  return { codes, kept };
}

const engines: FakeEngine[] = [];
afterEach(() => {
  for (const engine of engines.splice(0)) engine.server.close();
});

describe('ended exec sessions', () => {
  it('are removed from a Podman that offers it, each before its exit is reported', async () => {
    const engine = await startFakeEngine('4.9.3');
    engines.push(engine);
    expect(await runExecs(engine, 50)).toEqual({ codes: Array(50).fill(0), kept: Array(50).fill(0) });
    expect(engine.requests.filter((r) => r.endsWith('/remove'))).toHaveLength(50);
  });

  it('are left to Docker, which removes them itself, and to a Podman without the remove route', async () => {
    for (const version of [null, '4.3.1']) {
      const engine = await startFakeEngine(version);
      engines.push(engine);
      expect(await runExecs(engine, 3)).toEqual({ codes: [0, 0, 0], kept: [1, 2, 3] });
      expect(engine.requests.filter((r) => r.includes('/libpod/'))).toEqual([]);
    }
  });
});
