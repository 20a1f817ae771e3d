import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { connect, createServer, type AddressInfo, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { muxAgentArgv } from '../../src/forwarding/relay/mux/mux-agent-argv.js';
import { MuxChannel } from '../../src/forwarding/relay/mux/mux-channel.js';
import { localRunner } from '../../src/runtime/process-runner.js';

const STREAMS = 200;
const BYTES = 64 * 1024;
/** A stream with no traffic for this long is stuck (a whole exchange takes a few ms). */
const STALL_MS = 15_000;

const sha256 = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');
const payloadOf = (i: number) => Buffer.alloc(BYTES, `stream ${i};`);

/** Sends `input` through `port`, half-closes, resolves with what came back; rejects when it stalls. */
function exchange(port: number, input: Uint8Array): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = connect({ host: '127.0.0.1', port, allowHalfOpen: true });
    socket.setTimeout(STALL_MS, () =>
      socket.destroy(new Error(`stalled after ${Buffer.concat(chunks).length} bytes`)),
    );
    socket.on('connect', () => socket.end(input));
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('end', () => {
      socket.destroy();
      resolve(Buffer.concat(chunks));
    });
    socket.on('error', reject);
  });
}

async function listen(server: Server): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as AddressInfo).port;
}

// Many streams echoing at once keep the agent's stdout filling and draining within a turn of its
// loop: every stream it stopped reading while stdout was backed up must be read again.
describe.each(['python3', 'perl'] as const)(
  `the %s mux agent under ${STREAMS} concurrent echoes`,
  (interpreter) => {
    const servers: Server[] = [];
    let channel: MuxChannel;
    let proxyPort = 0;

    beforeAll(async () => {
      const echo = createServer({ allowHalfOpen: true }, (socket) => {
        socket.on('error', () => undefined);
        socket.pipe(socket);
      });
      const echoPort = await listen(echo);
      const [file = '', ...args] = muxAgentArgv(interpreter);
      const started = await MuxChannel.start(localRunner.spawn(file, args), {
        where: `mux agent (${interpreter})`,
        log: () => undefined,
      });
      if (!started) throw new Error(`the ${interpreter} mux agent did not start`);
      channel = started;
      const proxy = createServer({ allowHalfOpen: true }, (client) => {
        client.on('error', () => undefined);
        channel.relay(client, '127.0.0.1', echoPort).catch(() => client.resetAndDestroy());
      });
      proxyPort = await listen(proxy);
      servers.push(echo, proxy);
    });

    afterAll(async () => {
      for (const server of servers) server.close();
      await channel.close();
    });

    it(`carries ${STREAMS} echoes at once, none stalled, none altered`, async () => {
      for (let round = 0; round < 3; round += 1) {
        const settled = await Promise.allSettled(
          Array.from({ length: STREAMS }, async (_, i) => sha256(await exchange(proxyPort, payloadOf(i)))),
        );
        const failed = settled.flatMap((result, i) =>
          result.status === 'rejected'
            ? [`#${i}: ${String(result.reason)}`]
            : result.value === sha256(payloadOf(i))
              ? []
              : [`#${i}: altered`],
        );
        expect(failed, `round ${round}`).toEqual([]);
      }
    });
  },
);
