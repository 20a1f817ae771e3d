import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { processAlive } from '../support/cli.js';
import { containerScope } from '../support/container-scope.js';
import { DOCKER_COMMAND, freeHostPort, waitFor } from '../support/containers.js';
import { TEST_IMAGES } from '../support/images.js';
import {
  forwardContainer,
  loggedEvents,
  startWatch,
  waitForRows,
  type WatchedEvent,
} from './support/faults.js';

const scope = containerScope();
const { stateDir } = scope;
const ROTATE_BYTES = 16 * 1024;
const CYCLING_PORTS = 8;
const ROTATIONS_WANTED = 3;

// argv: TAG PORT…. Each port listens for 3 s, then is closed for 6 s (long enough to be withdrawn),
// over and over, the ports staggered: a steady stream of forwarded and withdrawn events.
const CYCLING_SERVER = `
import socket, sys, threading, time
def cycle(port, delay):
    time.sleep(delay)
    while True:
        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(('127.0.0.1', port))
        server.listen(8)
        time.sleep(3)
        server.close()
        time.sleep(6)
for index, port in enumerate(sys.argv[2:]):
    threading.Thread(target=cycle, args=(int(port), index * 1.1), daemon=True).start()
threading.Event().wait()
`;

describe('the forwarder log', () => {
  it('rotates past its size limit (one older file kept), and ports --watch loses no event across rotations', async () => {
    const container = await scope.start(TEST_IMAGES.debian.tag);
    const pid = await forwardContainer(stateDir, container.id, [], {
      PORTPILOT_LOG_ROTATE_BYTES: String(ROTATE_BYTES),
    });
    const log = join(stateDir, 'forwarders', `${container.id}.log`);
    const ports: number[] = [];
    for (let i = 0; i < CYCLING_PORTS; i++) ports.push(await freeHostPort());

    const watcher = await startWatch(stateDir, ['--container-id', container.id], { json: true });
    await execa(DOCKER_COMMAND, [
      'exec',
      '--detach',
      container.id,
      'python3',
      '-c',
      CYCLING_SERVER,
      'portpilot-cycling-server',
      ...ports.map(String),
    ]);
    let rotations = 0;
    let inode = statSync(log).ino;
    const deadline = Date.now() + 120_000;
    while (rotations < ROTATIONS_WANTED && Date.now() < deadline) {
      await sleep(200);
      const now = statSync(log).ino;
      if (now !== inode) rotations += 1;
      inode = now;
    }
    await execa(DOCKER_COMMAND, ['exec', container.id, 'pkill', '-f', 'portpilot-cycling-server']);
    // Every port ends withdrawn.
    await waitForRows(stateDir, container.id, [], 15_000);
    // The watcher has read the log to its end: its last event is the log's.
    const key = (event: WatchedEvent | undefined) =>
      event && `${event.at} ${event.type} ${event.containerPort}`;
    await waitFor(
      () => key(watcher.events.at(-1)) === key(loggedEvents([log]).at(-1)),
      5_000,
      'the watcher to report the last logged event',
    );
    const { exitCode } = await watcher.stop();
    expect(exitCode).toBe(0);
    expect(rotations).toBeGreaterThanOrEqual(ROTATIONS_WANTED);
    expect(processAlive(pid)).toBe(true);

    // Bounded: the current log and one older one, each about the limit (plus the line that crossed it).
    const files = readdirSync(join(stateDir, 'forwarders')).filter((name) => name.startsWith(container.id));
    expect(files.sort()).toEqual(
      [
        `${container.id}.json`,
        `${container.id}.log`,
        `${container.id}.log.1`,
        `${container.id}.spec.json`,
      ].sort(),
    );
    for (const file of [log, `${log}.1`]) {
      const stats = statSync(file);
      expect(stats.size).toBeLessThan(ROTATE_BYTES + 8 * 1024);
      expect(stats.mode & 0o777).toBe(0o600);
    }
    expect(existsSync(`${log}.2`)).toBe(false);

    // The watcher saw every event: per port, forwarded and withdrawn alternate, first to last.
    const seen = watcher.events;
    for (const port of ports) {
      const types = seen.filter((event) => event.containerPort === port).map((event) => event.type);
      expect(types.length, `events of port ${port}`).toBeGreaterThanOrEqual(2);
      types.forEach((type, index) => expect(type).toBe(index % 2 === 0 ? 'forwarded' : 'withdrawn'));
    }
    // …and what the two log files still hold is exactly the tail of what it saw.
    const kept = loggedEvents([`${log}.1`, log]).map(
      (event) => `${event.at} ${event.type} ${event.containerPort}`,
    );
    const tail = seen.slice(-kept.length).map((event) => `${event.at} ${event.type} ${event.containerPort}`);
    expect(kept.length).toBeGreaterThan(0);
    expect(tail).toEqual(kept);
  });
});
