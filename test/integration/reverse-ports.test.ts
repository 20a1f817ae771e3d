import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { portsJson, processAlive, runCli, runUp } from '../support/cli.js';
import { containerScope } from '../support/container-scope.js';
import {
  connectInContainer,
  deterministicBytes,
  freeHostPort,
  isListeningInContainer,
  waitFor,
  type TestContainer,
} from '../support/containers.js';
import { TEST_IMAGES } from '../support/images.js';

const scope = containerScope();
const { stateDir } = scope;

/** A server on the host's loopback: greets, then answers the client's half-close with its bytes reversed. */
async function hostServer(): Promise<Server> {
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    socket.on('error', () => undefined);
    socket.write('host:');
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('end', () => socket.end(Buffer.concat(chunks).reverse()));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return server;
}

describe("reverse ports: the host's loopback reached from inside the container (debian image)", () => {
  const servers: Server[] = [];
  let container: TestContainer;
  let hostPort = 0;
  let containerPort = 0;
  let refusedPort = 0;
  let forwarderPid = 0;

  afterAll(() => {
    for (const server of servers) server.close();
  });

  it('serves the host port at the container port, byte-exact both ways with the half-close', async () => {
    container = await scope.start(TEST_IMAGES.debian.tag);
    const server = await hostServer();
    servers.push(server);
    hostPort = (server.address() as AddressInfo).port;
    containerPort = await freeHostPort();
    refusedPort = await freeHostPort();
    const { run, line } = await runUp(stateDir, [
      '--container-id',
      container.id,
      '--auto-forward',
      '--reverse-port',
      `${hostPort}:${containerPort}`,
      '--reverse-port',
      `${await freeHostPort()}:${refusedPort}`,
    ]);
    expect(line.outcome, `${run.stdout}\n${run.stderr}`).toBe('success');
    forwarderPid = line.forwarder?.pid ?? 0;
    await waitFor(() => isListeningInContainer(container.id, '127.0.0.1', containerPort), 10_000);
    const payload = deterministicBytes(256 * 1024);
    const answer = await connectInContainer(container.id, '127.0.0.1', containerPort, payload);
    expect(answer.subarray(0, 5).toString()).toBe('host:');
    expect(answer.subarray(5).equals(Buffer.from(payload).reverse())).toBe(true);
  });

  it('resets the connection when nothing listens on the host port', async () => {
    await waitFor(() => isListeningInContainer(container.id, '127.0.0.1', refusedPort), 10_000);
    await expect(
      connectInContainer(container.id, '127.0.0.1', refusedPort, Buffer.from('x')),
    ).rejects.toThrow();
  });

  it('leaves every host port not named out of reach', async () => {
    const other = await hostServer();
    servers.push(other);
    const otherPort = (other.address() as AddressInfo).port;
    await expect(
      connectInContainer(container.id, '127.0.0.1', otherPort, Buffer.from('x')),
    ).rejects.toThrow();
  });

  it('is listed by ports --json with direction "reverse", served by the namespace helper', async () => {
    const rows = await portsJson(stateDir, ['--container-id', container.id]);
    const reverse = rows.filter((row) => (row as { direction?: string }).direction === 'reverse');
    expect(reverse.map((row) => row.containerPort).sort()).toEqual([containerPort, refusedPort].sort());
    expect(reverse.map((row) => row.path)).toEqual(['netns', 'netns']);
    expect(reverse.find((row) => row.containerPort === containerPort)?.hostPort).toBe(hostPort);
    for (const row of rows)
      expect(['forward', 'reverse']).toContain((row as { direction?: string }).direction);
  });

  it('stops listening at down', async () => {
    const down = await runCli(stateDir, ['down', '--container-id', container.id]);
    expect(down.exitCode, down.stderr).toBe(0);
    await waitFor(async () => !processAlive(forwarderPid), 10_000);
    await waitFor(
      async () => !(await isListeningInContainer(container.id, '127.0.0.1', containerPort)),
      10_000,
    );
    await expect(
      connectInContainer(container.id, '127.0.0.1', containerPort, Buffer.from('x')),
    ).rejects.toThrow();
  });

  it('is served over the mux channel with --relay-path mux, and listed so', async () => {
    // down stopped the first one.
    container = await scope.start(TEST_IMAGES.debian.tag);
    const { run, line } = await runUp(stateDir, [
      '--container-id',
      container.id,
      '--auto-forward',
      '--relay-path',
      'mux',
      '--reverse-port',
      `${hostPort}:${containerPort}`,
    ]);
    expect(line.outcome, `${run.stdout}\n${run.stderr}`).toBe('success');
    await waitFor(() => isListeningInContainer(container.id, '127.0.0.1', containerPort), 10_000);
    const payload = deterministicBytes(256 * 1024);
    const answer = await connectInContainer(container.id, '127.0.0.1', containerPort, payload);
    expect(answer.subarray(0, 5).toString()).toBe('host:');
    expect(answer.subarray(5).equals(Buffer.from(payload).reverse())).toBe(true);
    const rows = await portsJson(stateDir, ['--container-id', container.id]);
    expect(rows.filter((row) => row.direction === 'reverse').map((row) => row.path)).toEqual(['mux']);
    const down = await runCli(stateDir, ['down', '--container-id', container.id]);
    expect(down.exitCode, down.stderr).toBe(0);
  });

  it("moves to the mux channel where the namespace helper cannot start (no nsenter on the forwarder's PATH)", async () => {
    container = await scope.start(TEST_IMAGES.debian.tag);
    // A PATH with docker alone: the forwarder may enter the namespace (it is root) but cannot start its helper.
    const bin = mkdtempSync(join(tmpdir(), 'portpilot-no-nsenter-'));
    const docker = await execa('sh', ['-c', 'command -v docker']);
    symlinkSync(docker.stdout.trim(), join(bin, 'docker'));
    const { run, line } = await runUp(
      stateDir,
      ['--container-id', container.id, '--auto-forward', '--reverse-port', `${hostPort}:${containerPort}`],
      { PATH: bin },
    );
    expect(line.outcome, `${run.stdout}\n${run.stderr}`).toBe('success');
    await waitFor(() => isListeningInContainer(container.id, '127.0.0.1', containerPort), 15_000);
    const answer = await connectInContainer(container.id, '127.0.0.1', containerPort, Buffer.from('abc'));
    expect(answer.toString()).toBe('host:cba');
    const rows = await portsJson(stateDir, ['--container-id', container.id]);
    expect(rows.filter((row) => row.direction === 'reverse').map((row) => row.path)).toEqual(['mux']);
    expect(readFileSync(line.forwarder?.logFile ?? '', 'utf8')).toMatch(
      /the namespace helper cannot start: the mux channel serves this reverse port/,
    );
    const down = await runCli(stateDir, ['down', '--container-id', container.id]);
    expect(down.exitCode, down.stderr).toBe(0);
    rmSync(bin, { recursive: true, force: true });
  });

  it('says why in a failed event where the namespace helper is ruled out (--relay-path exec)', async () => {
    // down stopped the first one.
    container = await scope.start(TEST_IMAGES.debian.tag);
    const { run, line } = await runUp(stateDir, [
      '--container-id',
      container.id,
      '--auto-forward',
      '--relay-path',
      'exec',
      '--reverse-port',
      `${hostPort}:${containerPort}`,
    ]);
    expect(line.outcome, `${run.stdout}\n${run.stderr}`).toBe('success');
    forwarderPid = line.forwarder?.pid ?? 0;
    const logFile = line.forwarder?.logFile ?? '';
    const failed = await waitFor(() => {
      const events = readFileSync(logFile, 'utf8')
        .split('\n')
        .filter((text) => text.includes('"portEvent"'))
        .map((text) => (JSON.parse(text) as { portEvent: Record<string, unknown> }).portEvent);
      const reverse = events.filter((event) => event.direction === 'reverse');
      return (
        reverse.find((event) => event.type === 'failed' && event.containerPort === containerPort) ?? null
      );
    }, 10_000);
    expect(failed.reason).toMatch(/--relay-path exec rules out the namespace helper and the mux channel/);
    const down = await runCli(stateDir, ['down', '--container-id', container.id]);
    expect(down.exitCode, down.stderr).toBe(0);
  });
});
