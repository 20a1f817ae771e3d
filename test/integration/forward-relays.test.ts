import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import { portsJson, runCli, runUp } from '../support/cli.js';
import { containerScope } from '../support/container-scope.js';
import {
  DOCKER_COMMAND,
  TEST_RUN_ID,
  freeHostPort,
  removeProgramsInContainer,
  startServer,
  waitFor,
  type TestContainer,
} from '../support/containers.js';
import { echoExact, exchange, httpGet } from '../support/host-client.js';
import { HELLO_FILE_TEXT, TEST_IMAGES, type RelayProgram, type TestImageName } from '../support/images.js';

const scope = containerScope();
const { stateDir } = scope;

interface RelayImage {
  name: string;
  image: TestImageName;
  /** Programs taken off the container's PATH once its servers run. */
  remove: readonly string[];
  relay: RelayProgram | null;
}

const RELAY_IMAGES: RelayImage[] = [
  ...(['debian', 'busyboxNc', 'bashOnly', 'python'] as const).map((image) => ({
    name: image,
    image,
    remove: [],
    relay: TEST_IMAGES[image].relay,
  })),
  // bash is the relay only where nothing that can half-close is there.
  {
    name: 'bashOnly without python3 and perl',
    image: 'bashOnly',
    remove: ['python3', 'perl'],
    relay: 'bash',
  },
];

/** The relay program the forwarder's log says it probed. */
function loggedRelay(containerId: string): string | undefined {
  const log = readFileSync(join(stateDir, 'forwarders', `${containerId}.log`), 'utf8');
  for (const line of log.split('\n')) {
    if (!line.includes('"forwarder starting"')) continue;
    return (JSON.parse(line) as { relay?: { kind?: string } }).relay?.kind;
  }
  return undefined;
}

describe.each(RELAY_IMAGES)('a server on the container loopback, image $name', (relayImage) => {
  let container: TestContainer;
  let port: number;
  let echoPort: number;
  // busybox nc only listens on '::' in these images; every other image gets a loopback-only server.
  const address = relayImage.image === 'busyboxNc' ? '::' : '127.0.0.1';

  beforeAll(async () => {
    container = await scope.start(TEST_IMAGES[relayImage.image].tag);
    port = await freeHostPort();
    echoPort = await freeHostPort();
    await startServer(container.id, { port, address, kind: 'http' });
    await startServer(container.id, { port: echoPort, address, kind: 'echo' });
    if (relayImage.remove.length > 0) await removeProgramsInContainer(container.id, relayImage.remove);
  });

  it(`is fetched from the host through the forwarder on the same port, relayed by ${relayImage.relay}`, async () => {
    // exec forced: this test is about each image's relay program, which the agent would bypass.
    const { run, line } = await runUp(stateDir, [
      '--container-id',
      container.name,
      '--auto-forward',
      '--relay-path',
      'exec',
    ]);
    expect(line, run.stderr).toMatchObject({ outcome: 'success', containerId: container.id });
    expect(line.forwarder?.pid).toBeGreaterThan(0);
    expect(loggedRelay(container.id)).toBe(relayImage.relay);
    const row = await waitFor(
      async () =>
        (await portsJson(stateDir)).find((r) => r.containerId === container.id && r.containerPort === port),
      5_000,
    );
    expect(row).toMatchObject({
      containerPort: port,
      hostPort: port,
      allocation: 'same',
      origin: 'detected',
      path: 'exec',
    });
    const response = await httpGet(port, '/hello.txt');
    expect(response.status).toBe(200);
    expect(response.body).toBe(HELLO_FILE_TEXT);
  });

  it('relays every byte value unchanged', async () => {
    await waitFor(async () => (await portsJson(stateDir)).some((r) => r.containerPort === echoPort), 5_000);
    const payload = Buffer.from(Array.from({ length: 256 * 1024 }, (_, i) => i % 256));
    expect((await echoExact(echoPort, payload)).equals(payload)).toBe(true);
    // bash cannot shutdown() a /dev/tcp socket, so only the other relays pass a client's half-close on.
    if (relayImage.relay !== 'bash') expect((await exchange(echoPort, payload)).equals(payload)).toBe(true);
  });
});

describe('an image with no relay program', () => {
  // Only exec could carry its connections (its namespace helper is not offered then): no path works.
  it('fails up with exec forced, with an error that names the container and what to install', async () => {
    const container = await scope.start(TEST_IMAGES.none.tag);
    const { run, line } = await runUp(stateDir, [
      '--container-id',
      container.id,
      '--auto-forward',
      '--relay-path',
      'exec',
    ]);
    expect(run.exitCode).toBe(1);
    expect(line.outcome).toBe('error');
    expect(line.message).toContain(container.id.slice(0, 12));
    expect(`${line.message} ${line.description}`).toMatch(/socat/);
    expect(await portsJson(stateDir, ['--container-id', container.id])).toEqual([]);
  });
});

describe('an IPv6-only listener', () => {
  it('on the container ::1 is forwarded and reachable', async () => {
    const container = await scope.start(TEST_IMAGES.debian.tag);
    const port = await freeHostPort();
    await startServer(container.id, { port, address: '::1', kind: 'http' });
    const { line } = await runUp(stateDir, ['--container-id', container.id, '--auto-forward']);
    expect(line.outcome).toBe('success');
    await waitFor(async () => (await portsJson(stateDir)).some((r) => r.containerId === container.id), 5_000);
    expect((await httpGet(port, '/hello.txt')).body).toBe(HELLO_FILE_TEXT);
    expect((await httpGet(port, '/hello.txt', '::1')).body).toBe(HELLO_FILE_TEXT);
  });

  it("on the container's '::' for IPv6 only (IPV6_V6ONLY) is reached inside the container, and a dual-stack '::' still directly", async () => {
    const container = await scope.start(TEST_IMAGES.debian.tag);
    const [v6Only, dualStack] = [await freeHostPort(), await freeHostPort()];
    await startServer(container.id, { port: v6Only, address: '::', kind: 'http', v6Only: true });
    await startServer(container.id, { port: dualStack, address: '::', kind: 'http' });
    const { line } = await runUp(stateDir, ['--container-id', container.id, '--auto-forward']);
    expect(line.outcome).toBe('success');
    const pathOf = async (port: number) =>
      (await portsJson(stateDir, ['--container-id', container.id])).find((r) => r.containerPort === port)
        ?.path;
    await waitFor(async () => (await pathOf(v6Only)) && (await pathOf(dualStack)), 5_000, 'both ports');
    const curl = async (url: string) =>
      (await execa('curl', ['-sSf', '-g', '--max-time', '30', url], { stripFinalNewline: false })).stdout;
    // The first connection finds the container's IPv4 address refused; it and every later one get through.
    for (const host of ['127.0.0.1', '[::1]', '127.0.0.1']) {
      expect(await curl(`http://${host}:${v6Only}/hello.txt`)).toBe(HELLO_FILE_TEXT);
      expect(await curl(`http://${host}:${dualStack}/hello.txt`)).toBe(HELLO_FILE_TEXT);
    }
    expect((await httpGet(v6Only, '/hello.txt')).body).toBe(HELLO_FILE_TEXT);
    // Inside the container: through its namespace helper (the tests run as root).
    await waitFor(async () => (await pathOf(v6Only)) === 'netns', 5_000, 'ports to show the netns path');
    expect(await pathOf(dualStack)).toBe('direct');
  });

  it("on '::' for IPv6 only, in a container with an IPv6 address, is dialled there directly", async () => {
    const network = `portpilot-test-v6-${TEST_RUN_ID}-${randomBytes(2).toString('hex')}`;
    const subnet = `fd00:5eed:${randomBytes(2).toString('hex')}::/64`;
    await execa(DOCKER_COMMAND, ['network', 'create', '--ipv6', '--subnet', subnet, network]);
    try {
      const container = await scope.start(TEST_IMAGES.debian.tag, { runArgs: ['--network', network] });
      const port = await freeHostPort();
      await startServer(container.id, { port, address: '::', kind: 'http', v6Only: true });
      const { line } = await runUp(stateDir, ['--container-id', container.id, '--auto-forward']);
      expect(line.outcome).toBe('success');
      const row = await waitFor(
        async () =>
          (await portsJson(stateDir, ['--container-id', container.id])).find((r) => r.containerPort === port),
        5_000,
      );
      expect(row.path).toBe('direct');
      for (const host of ['127.0.0.1', '[::1]']) {
        const { stdout } = await execa(
          'curl',
          ['-sSf', '-g', '--max-time', '30', `http://${host}:${port}/hello.txt`],
          {
            stripFinalNewline: false,
          },
        );
        expect(stdout).toBe(HELLO_FILE_TEXT);
      }
      expect((await portsJson(stateDir, ['--container-id', container.id]))[0]?.path).toBe('direct');
      await runCli(stateDir, ['down', '--container-id', container.id, '--remove']);
    } finally {
      await execa(DOCKER_COMMAND, ['network', 'rm', network], { reject: false });
    }
  });
});
