import { connect, createServer, type Server, type Socket } from 'node:net';
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { bindHostListener, type HostListener } from '../../src/forwarding/host/host-listener.js';

const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function track(listener: HostListener | null): HostListener {
  if (!listener) throw new Error('expected the port to be bound');
  cleanups.push(() => listener.close());
  return listener;
}

/** Accepted sockets see resets when the tests' clients hang up at once. */
function quiet(socket: Socket): Socket {
  return socket.on('error', () => {});
}

async function occupy(host: string, port: number): Promise<Server> {
  const server = createServer();
  server.listen({ host, port, exclusive: true });
  await once(server, 'listening');
  cleanups.push(() => new Promise((resolve) => server.close(() => resolve())));
  return server;
}

/** Whether something accepts TCP connections on host:port right now. */
function accepts(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

async function hostHasIpv6Loopback(): Promise<boolean> {
  const server = createServer();
  try {
    server.listen({ host: '::1', port: 0 });
    await once(server, 'listening');
    return true;
  } catch {
    return false;
  } finally {
    server.close();
  }
}

async function freePort(): Promise<number> {
  const probe = track(await bindHostListener(0, (socket) => quiet(socket).destroy()));
  const port = probe.port;
  await probe.close();
  return port;
}

describe('bindHostListener', () => {
  it('binds 127.0.0.1 and, where the host has it, ::1 on the same port, and nothing else', async () => {
    const ipv6 = await hostHasIpv6Loopback();
    const port = await freePort();
    const listener = track(await bindHostListener(port, (socket) => quiet(socket).end('hi')));

    expect(listener.port).toBe(port);
    expect(listener.addresses).toEqual(ipv6 ? ['127.0.0.1', '::1'] : ['127.0.0.1']);
    expect(await accepts('127.0.0.1', port)).toBe(true);
    expect(await accepts('::1', port)).toBe(ipv6);
    // Never a wildcard: another process may still take the port on a non-loopback address.
    expect(listener.addresses).not.toContain('0.0.0.0');
    expect(listener.addresses).not.toContain('::');
  });

  it('gives each accepted socket to the callback, half-open capable', async () => {
    const accepted: Socket[] = [];
    const listener = track(
      await bindHostListener(0, (socket) => {
        accepted.push(quiet(socket));
        socket.on('end', () => socket.end('reply after your EOF'));
        socket.resume();
      }),
    );
    const client = connect({ host: '127.0.0.1', port: listener.port, allowHalfOpen: true });
    await once(client, 'connect');
    client.end('request');
    const chunks: Buffer[] = [];
    client.on('data', (chunk: Buffer) => chunks.push(chunk));
    await once(client, 'end');
    expect(Buffer.concat(chunks).toString()).toBe('reply after your EOF');
    expect(accepted).toHaveLength(1);
    client.destroy();
  });

  it('returns null when 127.0.0.1 is taken', async () => {
    const port = await freePort();
    await occupy('127.0.0.1', port);
    expect(await bindHostListener(port, () => {})).toBeNull();
  });

  it('returns null when a wildcard listener holds the port', async () => {
    const port = await freePort();
    await occupy('0.0.0.0', port);
    expect(await bindHostListener(port, () => {})).toBeNull();
  });

  it('returns null when ::1 is taken, releasing the 127.0.0.1 it had bound', async () => {
    expect(await hostHasIpv6Loopback(), 'this test needs the host to have ::1').toBe(true);
    const port = await freePort();
    const taker = await occupy('::1', port);
    expect(await bindHostListener(port, () => {})).toBeNull();
    // 127.0.0.1 was given back: anyone may bind it now.
    expect(await accepts('127.0.0.1', port)).toBe(false);
    await new Promise<void>((resolve) => taker.close(() => resolve()));
    const listener = track(await bindHostListener(port, (socket) => quiet(socket).destroy()));
    expect(listener.port).toBe(port);
  });

  it('withdraw() stops accepting at once and keeps the live connections until their ends close them', async () => {
    const listener = track(
      await bindHostListener(0, (socket) => {
        quiet(socket).on('data', (chunk: Buffer) => socket.write(chunk));
        socket.on('end', () => socket.end());
      }),
    );
    const port = listener.port;
    const client = connect({ host: '127.0.0.1', port, allowHalfOpen: true });
    await once(client, 'connect');
    let drained = false;
    const withdrawn = listener.withdraw().then(() => (drained = true));

    expect(await accepts('127.0.0.1', port)).toBe(false);
    // Nothing listens: the port can be listened on again while the old connection lives.
    const next = track(await bindHostListener(port, (socket) => quiet(socket).destroy()));
    expect(next.port).toBe(port);
    await next.close();
    client.write('still here');
    const [echo] = (await once(client, 'data')) as [Buffer];
    expect(echo.toString()).toBe('still here');
    expect(drained).toBe(false);

    client.end();
    await once(client, 'end');
    await withdrawn;
    expect(drained).toBe(true);
    client.destroy();
  });

  it('close() after withdraw() destroys the connections still open', async () => {
    const listener = track(await bindHostListener(0, (socket) => quiet(socket).resume()));
    const client = connect({ host: '127.0.0.1', port: listener.port });
    await once(client, 'connect');
    client.on('error', () => {});
    const withdrawn = listener.withdraw();
    const closed = once(client, 'close');
    await listener.close();
    await closed;
    await withdrawn;
  });

  it('close() stops accepting and destroys live connections', async () => {
    const listener = track(await bindHostListener(0, (socket) => quiet(socket).resume()));
    const port = listener.port;
    const clients = await Promise.all(
      ['127.0.0.1', ...listener.addresses.filter((a) => a === '::1')].map(async (host) => {
        const client = connect({ host, port });
        await once(client, 'connect');
        return client;
      }),
    );
    const closed = clients.map((client) => {
      client.on('error', () => {});
      return once(client, 'close');
    });
    await listener.close();
    await Promise.all(closed);
    expect(await accepts('127.0.0.1', port)).toBe(false);
    expect(await accepts('::1', port)).toBe(false);
    // A second close() is harmless.
    await listener.close();
  });
});
