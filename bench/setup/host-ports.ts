import { createServer } from 'node:net';

function bindable(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    // Any error but "in use" (no ::1 on this host, say) does not make the port taken.
    server.once('error', (error: NodeJS.ErrnoException) => resolve(error.code !== 'EADDRINUSE'));
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/** Whether a port is free on the host's 127.0.0.1 and ::1 right now. */
export async function hostPortFree(port: number): Promise<boolean> {
  return (await bindable('127.0.0.1', port)) && (await bindable('::1', port));
}

/** A port the kernel hands out as free on 127.0.0.1 (and free on ::1 too). */
export async function freeHostPort(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = await new Promise<number>((resolve, reject) => {
      const server = createServer();
      server.once('error', reject);
      server.listen({ host: '127.0.0.1', port: 0 }, () => {
        const address = server.address();
        server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
      });
    });
    if (port > 0 && (await bindable('::1', port))) return port;
  }
  throw new Error('found no port free on both 127.0.0.1 and ::1 in 50 tries');
}
