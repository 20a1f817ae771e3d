import { connect, type Socket } from 'node:net';
import type { Endpoint } from '../setup/topology.js';
import { nsToMs } from '../stats.js';

/** An open connection and how long it took from connect() to the server's first byte. */
export interface TimedConnection {
  socket: Socket;
  firstByteMs: number;
}

/**
 * Connects and resolves at the first byte the server sends (the socket stays open, paused). Rejects
 * on an error, a close before any byte, or after timeoutMs.
 */
export function connectToFirstByte(endpoint: Endpoint, timeoutMs: number): Promise<TimedConnection> {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const socket = connect({ host: endpoint.host, port: endpoint.port, noDelay: true });
    const fail = (error: Error) => {
      clearTimeout(timer);
      socket.destroy();
      reject(error);
    };
    const timer = setTimeout(
      () => fail(new Error(`no first byte from ${endpoint.host}:${endpoint.port} in ${timeoutMs} ms`)),
      timeoutMs,
    );
    socket.once('error', fail);
    socket.once('close', () =>
      fail(new Error(`${endpoint.host}:${endpoint.port} closed before its first byte`)),
    );
    socket.once('data', () => {
      const firstByteMs = nsToMs(process.hrtime.bigint() - started);
      clearTimeout(timer);
      socket.removeAllListeners('close');
      socket.removeAllListeners('error');
      socket.on('error', () => undefined);
      socket.pause();
      resolve({ socket, firstByteMs });
    });
  });
}

/** When a TCP connect to the endpoint succeeded (process.hrtime.bigint), or null if refused (or connected to itself); closed at once. */
export function connectedAt(endpoint: Endpoint): Promise<bigint | null> {
  return new Promise((resolve) => {
    const socket = connect({ host: endpoint.host, port: endpoint.port });
    socket.once('connect', () => {
      const at = process.hrtime.bigint();
      // A port in the ephemeral range with nothing on it can still "accept": the kernel may give the
      // connect that very port as its source, and a socket connected to itself is no listener.
      const self = socket.localPort === socket.remotePort && socket.localAddress === socket.remoteAddress;
      socket.destroy();
      resolve(self ? null : at);
    });
    socket.once('error', () => {
      socket.destroy();
      resolve(null);
    });
  });
}
