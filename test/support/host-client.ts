import { connect } from 'node:net';

/** Connects to host:port, sends `input`, half-closes, and resolves with every byte received until the peer closed. */
export function exchange(
  port: number,
  input: Uint8Array = new Uint8Array(),
  host = '127.0.0.1',
): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = connect({ host, port, allowHalfOpen: true });
    socket.setTimeout(60_000, () => socket.destroy(new Error(`no traffic from ${host}:${port} for 60 s`)));
    socket.on('connect', () => socket.end(input));
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('end', () => resolve(Buffer.concat(chunks)));
    socket.on('error', reject);
  });
}

/** A minimal HTTP/1.0 GET over a raw socket; resolves with the status code and body. */
export async function httpGet(
  port: number,
  path = '/',
  host = '127.0.0.1',
): Promise<{ status: number; body: string }> {
  const response = (
    await exchange(port, Buffer.from(`GET ${path} HTTP/1.0\r\nHost: localhost\r\n\r\n`), host)
  ).toString('utf8');
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(response)?.[1] ?? NaN);
  const body = response.slice(response.indexOf('\r\n\r\n') + 4);
  return { status, body };
}

/** Resolves true when host:port accepts a TCP connection, false when it is refused. */
export function accepts(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Sends `input` without half-closing, reads back exactly as many bytes, then closes. */
export function echoExact(port: number, input: Uint8Array, host = '127.0.0.1'): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let received = 0;
    const socket = connect({ host, port });
    socket.setTimeout(60_000, () => socket.destroy(new Error(`no traffic from ${host}:${port} for 60 s`)));
    socket.on('connect', () => socket.write(input));
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      received += chunk.length;
      if (received >= input.length) {
        socket.destroy();
        resolve(Buffer.concat(chunks));
      }
    });
    socket.on('end', () => reject(new Error(`closed after ${received} of ${input.length} bytes`)));
    socket.on('error', reject);
  });
}
