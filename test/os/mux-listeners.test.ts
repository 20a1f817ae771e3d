import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { createServer, type AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { channelListenerSource } from '../../src/forwarding/detect/channel-listener-source.js';
import type { ListenerSource } from '../../src/forwarding/detect/listener-source.js';
import { muxAgentArgv } from '../../src/forwarding/relay/mux/mux-agent-argv.js';
import { MuxChannel } from '../../src/forwarding/relay/mux/mux-channel.js';
import { OnDemandMux } from '../../src/forwarding/relay/mux/mux-on-demand.js';
import { localRunner, type RunningProcess } from '../../src/runtime/process-runner.js';
import { freeServerPort } from '../support/udp.js';

/** How often the forwarder's loop asks a source (CHANGE_CHECK_MS). */
const CHECK_MS = 250;

describe.each(['python3', 'perl'] as const)('listeners reported by the %s mux agent', (interpreter) => {
  it('are seen within 2 s of listen() and of close(), with no exec read', async () => {
    const started: RunningProcess[] = [];
    const mux = new OnDemandMux(
      () => {
        const [file = '', ...args] = muxAgentArgv(interpreter);
        const exec = localRunner.spawn(file, args);
        started.push(exec);
        return MuxChannel.start(exec, { where: `mux agent (${interpreter})`, log: () => undefined });
      },
      { idleMs: 1_000 },
    );
    let execReads = 0;
    const exec: ListenerSource = {
      kind: 'exec',
      mayHaveChanged: () => Promise.resolve('none'),
      read: () => {
        execReads += 1;
        return Promise.resolve([]);
      },
    };
    const source = channelListenerSource(mux, exec);
    // The agent runs on this machine: its namespace is ours, so a server here is "in the container".
    const listens = async (port: number) => {
      await source.mayHaveChanged();
      return (await source.read()).some((listener) => listener.port === port);
    };
    const until = async (wanted: boolean, port: number) => {
      const since = Date.now();
      while (!((await listens(port)) === wanted)) {
        if (Date.now() - since > 5_000) throw new Error(`port ${port} never ${wanted ? 'seen' : 'gone'}`);
        await sleep(CHECK_MS);
      }
      return Date.now() - since;
    };
    await source.read();
    const server = createServer().listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as AddressInfo;
    expect(await until(true, port)).toBeLessThan(2_000);
    server.close();
    expect(await until(false, port)).toBeLessThan(2_000);
    // The idle time passed meanwhile: the channel stays up while it reports.
    expect(mux.running).toBe(true);
    expect(started).toHaveLength(1);
    expect(execReads).toBe(0);
    await mux.close();
  });

  it('include UDP servers, not the sockets of UDP clients, seen within 2 s of bind() and of close()', async () => {
    const mux = new OnDemandMux(
      () => {
        const [file = '', ...args] = muxAgentArgv(interpreter);
        return MuxChannel.start(localRunner.spawn(file, args), {
          where: `mux agent (${interpreter})`,
          log: () => undefined,
        });
      },
      { idleMs: 1_000 },
    );
    const noExec: ListenerSource = {
      kind: 'exec',
      mayHaveChanged: () => Promise.resolve('none'),
      read: () => Promise.reject(new Error('no exec read expected')),
    };
    const source = channelListenerSource(mux, noExec);
    const udpAt = async (port: number) => {
      await source.mayHaveChanged();
      return (await source.read()).find((listener) => listener.port === port && listener.protocol === 'udp');
    };
    const until = async (wanted: boolean, port: number) => {
      const since = Date.now();
      while (((await udpAt(port)) === undefined) === wanted) {
        if (Date.now() - since > 5_000) throw new Error(`UDP port ${port} never ${wanted ? 'seen' : 'gone'}`);
        await sleep(CHECK_MS);
      }
      return Date.now() - since;
    };
    await source.read();
    const port = await freeServerPort();
    const server = createSocket('udp4');
    await new Promise<void>((resolve) => server.bind(port, '127.0.0.1', resolve));
    // A client's socket, connected to the server: not a server of its own.
    const client = createSocket('udp4');
    await new Promise<void>((resolve) => client.bind(0, '127.0.0.1', resolve));
    await new Promise<void>((resolve) => client.connect(port, '127.0.0.1', resolve));
    expect(await until(true, port)).toBeLessThan(2_000);
    expect(await udpAt(port)).toMatchObject({ protocol: 'udp', scope: 'loopback', dialAddress: '127.0.0.1' });
    expect(await udpAt(client.address().port)).toBeUndefined();
    client.close();
    server.close();
    expect(await until(false, port)).toBeLessThan(2_000);
    await mux.close();
  });
});
