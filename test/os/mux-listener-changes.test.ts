import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import {
  channelListenerSource,
  reportedOwners,
} from '../../src/forwarding/detect/channel-listener-source.js';
import {
  applyReport,
  EMPTY_VIEW,
  listenersOfView,
  type ReportFrame,
} from '../../src/forwarding/detect/listener-report.js';
import type { ListenerSource } from '../../src/forwarding/detect/listener-source.js';
import { createSocketOwnerFinder } from '../../src/forwarding/detect/socket-owners.js';
import { muxAgentArgv } from '../../src/forwarding/relay/mux/mux-agent-argv.js';
import { MuxChannel } from '../../src/forwarding/relay/mux/mux-channel.js';
import { OnDemandMux } from '../../src/forwarding/relay/mux/mux-on-demand.js';
import type { Docker } from '../../src/runtime/docker.js';
import { localRunner } from '../../src/runtime/process-runner.js';
import { freeServerPort } from '../support/udp.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** The agent as a local process: its namespace is ours, so a server here is "in the container". */
async function startAgent(interpreter: 'python3' | 'perl'): Promise<MuxChannel> {
  const [file = '', ...args] = muxAgentArgv(interpreter);
  const channel = await MuxChannel.start(localRunner.spawn(file, args), {
    where: `mux agent (${interpreter})`,
    log: () => undefined,
  });
  if (channel === null) throw new Error(`the ${interpreter} mux agent did not start`);
  cleanups.push(() => channel.close());
  return channel;
}

/** A server in a child process of its own, so that its owner is not this test's process. */
async function childServer(): Promise<{ child: ChildProcess; port: number }> {
  const code =
    'import socket,sys,time\ns=socket.socket()\ns.bind(("127.0.0.1",0))\ns.listen()\nprint(s.getsockname()[1],flush=True)\ntime.sleep(60)';
  const child = spawn('python3', ['-c', code, 'listener-owner-check'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  cleanups.push(() => void child.kill('SIGKILL'));
  const [line] = (await once(createInterface({ input: child.stdout! }), 'line')) as [string];
  return { child, port: Number(line) };
}

const noExec: ListenerSource = {
  kind: 'exec',
  mayHaveChanged: () => Promise.resolve('none'),
  read: () => Promise.reject(new Error('no exec read expected')),
};

async function until<T>(what: string, check: () => Promise<T | null>, ms = 5_000): Promise<T> {
  const since = Date.now();
  for (;;) {
    const value = await check();
    if (value !== null) return value;
    if (Date.now() - since > ms) throw new Error(`${what}: not within ${ms} ms`);
    await sleep(100);
  }
}

describe.each(['python3', 'perl'] as const)('changes reported by the %s mux agent', (interpreter) => {
  it('are a full report, then numbered changes; asked again, a full report equal to the changes applied', async () => {
    const channel = await startAgent(interpreter);
    const frames: { type: 'full' | 'changed'; seq: number; payload: Buffer }[] = [];
    let view = EMPTY_VIEW;
    const outcomes: string[] = [];
    channel.watchListeners((frame: ReportFrame) => {
      frames.push({
        type: frame.full ? 'full' : 'changed',
        seq: frame.payload.readUInt32BE(0),
        payload: Buffer.from(frame.payload),
      });
      const result = applyReport(view, frame);
      view = result.view;
      outcomes.push(result.outcome);
    });
    await until('a full report', async () => (frames.length > 0 ? true : null));
    const { port } = await childServer();
    await until('the listener', async () =>
      listenersOfView(view).some((l) => l.port === port) ? true : null,
    );
    expect(frames[0]?.type).toBe('full');
    expect(frames.slice(1).every((frame) => frame.type === 'changed')).toBe(true);
    expect(frames.map((frame) => frame.seq - (frames[0]?.seq ?? 0))).toEqual(frames.map((_, index) => index));
    expect(outcomes.every((outcome) => outcome === 'applied')).toBe(true);
    const applied = [...view.sockets.keys()].sort();
    const before = frames.length;
    channel.askFullReport();
    await until('the full report asked for', async () => (frames.length > before ? true : null));
    expect(frames[before]?.type).toBe('full');
    expect([...view.sockets.keys()].sort()).toEqual(applied);
  });

  it('cut a full report too long for one frame into several, applied as one', async () => {
    // 1,500 listeners: some 450 kB of table lines and owners, past MUX_REPORT_FRAME_BYTES.
    const code =
      'import socket,time\nkeep=[]\nfor _ in range(1500):\n s=socket.socket()\n s.bind(("127.0.0.1",0))\n s.listen()\n keep.append(s)\nprint(len(keep),flush=True)\ntime.sleep(60)';
    const child = spawn('python3', ['-c', code], { stdio: ['ignore', 'pipe', 'inherit'] });
    cleanups.push(() => void child.kill('SIGKILL'));
    await once(createInterface({ input: child.stdout! }), 'line');
    const channel = await startAgent(interpreter);
    const outcomes: string[] = [];
    let view = EMPTY_VIEW;
    channel.watchListeners((frame: ReportFrame) => {
      const result = applyReport(view, frame);
      view = result.view;
      outcomes.push(result.outcome);
    });
    await until('the full report', async () => (outcomes.includes('applied') ? true : null));
    const first = outcomes.indexOf('applied');
    expect(first).toBeGreaterThan(0);
    expect(outcomes.slice(0, first).every((outcome) => outcome === 'partial')).toBe(true);
    const owned = [...view.owners.values()].filter((owner) => owner.pid === child.pid);
    expect(owned).toHaveLength(1500);
  });

  it('report a UDP server and a TCP listener within 2 s, their going within 5 s, and their owner as the local path finds it', async () => {
    const mux = new OnDemandMux(
      async () => {
        const [file = '', ...args] = muxAgentArgv(interpreter);
        return MuxChannel.start(localRunner.spawn(file, args), { where: 'agent', log: () => undefined });
      },
      { idleMs: 1_000 },
    );
    cleanups.push(() => mux.close());
    const source = channelListenerSource(mux, noExec);
    const has = async (protocol: 'tcp' | 'udp', port: number) => {
      await source.mayHaveChanged();
      return (await source.read()).some((l) => (l.protocol ?? 'tcp') === protocol && l.port === port);
    };
    await source.read();

    const udpPort = await freeServerPort();
    const udp = createSocket('udp4');
    udp.bind(udpPort, '127.0.0.1');
    await once(udp, 'listening');
    await until('the UDP server', async () => ((await has('udp', udpPort)) ? true : null), 2_000);
    udp.close();
    await until('the UDP server gone', async () => (!(await has('udp', udpPort)) ? true : null), 5_000);

    const { child, port } = await childServer();
    await until('the TCP listener', async () => ((await has('tcp', port)) ? true : null), 2_000);
    const listener = (await source.read()).find((l) => l.port === port);
    const inodes = new Set(listener?.sockets.map((socket) => socket.inode));
    // What the local path reports for the same socket: the host's view of this process's namespace.
    const noDocker = {} as Docker;
    const local = await createSocketOwnerFinder(noDocker, 'c'.repeat(64), process.pid, 'host-proc');
    const exec = { find: () => Promise.reject(new Error('no exec probe expected')) };
    const reported = await reportedOwners(source, exec).find(inodes);
    expect([...reported.values()]).toEqual([...(await local.find(inodes)).values()]);
    expect([...reported.values()][0]).toContain('listener-owner-check');
    child.kill('SIGKILL');
    await until('the TCP listener gone', async () => (!(await has('tcp', port)) ? true : null), 5_000);
  });
});
