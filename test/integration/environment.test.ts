import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DOCKER_COMMAND,
  GREETING_LINE,
  connectInContainer,
  deterministicBytes,
  fetchInContainer,
  isListeningInContainer,
  loopbackFor,
  removeContainer,
  sha256,
  startContainer,
  startServer,
  type ServerAddress,
  type ServerKind,
  type TestContainer,
} from '../support/containers.js';
import { HELLO_FILE_TEXT, RELAY_PROGRAMS, TEST_IMAGES, type TestImageName } from '../support/images.js';

const ALL_ADDRESSES: readonly ServerAddress[] = ['127.0.0.1', '::1', '0.0.0.0', '::'];
const ALL_KINDS: readonly ServerKind[] = ['http', 'echo', 'greeting', 'sink-sha256', 'source'];
const NC_KINDS: readonly ServerKind[] = ['echo', 'greeting', 'sink-sha256', 'source'];
const IMAGE_NAMES = Object.keys(TEST_IMAGES) as TestImageName[];
const ECHO_BYTES = 256 * 1024;
const SINK_BYTES = 2 * 1024 * 1024;

// What each image's servers are proven on (each docker exec costs ~0.1 s, so not everything
// everywhere): the python3 runtime takes every kind on every address in debian, and every kind in
// the images without bash or nc; busybox nc listens only on the dual-stack wildcard; busybox httpd
// takes any address; the relay-less image has httpd alone.
const SERVER_MATRIX: Record<TestImageName, ReadonlyArray<[ServerKind, ServerAddress]>> = {
  debian: ALL_KINDS.flatMap((kind) =>
    ALL_ADDRESSES.map((address): [ServerKind, ServerAddress] => [kind, address]),
  ),
  python: ALL_KINDS.map((kind): [ServerKind, ServerAddress] => [kind, '::']),
  bashOnly: ALL_KINDS.map((kind): [ServerKind, ServerAddress] => [kind, '127.0.0.1']),
  busyboxNc: [
    ...ALL_ADDRESSES.map((address): [ServerKind, ServerAddress] => ['http', address]),
    ...NC_KINDS.map((kind): [ServerKind, ServerAddress] => [kind, '::']),
  ],
  none: [
    ['http', '::1'],
    ['http', '0.0.0.0'],
  ],
};

const containers = new Map<TestImageName, TestContainer>();

function containerFor(name: TestImageName): string {
  const container = containers.get(name);
  if (!container) throw new Error(`no container was started for ${name}`);
  return container.id;
}

beforeAll(async () => {
  for (const name of IMAGE_NAMES) containers.set(name, await startContainer(TEST_IMAGES[name].tag));
});

afterAll(async () => {
  await Promise.all([...containers.values()].map((container) => removeContainer(container.id)));
});

describe('test images', () => {
  it.each(IMAGE_NAMES)('%s exists and offers exactly its relay programs', async (name) => {
    const image = TEST_IMAGES[name];
    await execa(DOCKER_COMMAND, ['image', 'inspect', image.tag]);
    // A busybox sh runs compiled-in applets even without a link, so ask busybox itself too.
    const probe =
      'for p in "$@"; do if command -v "$p" >/dev/null 2>&1 || busybox --list 2>/dev/null | grep -qx "$p"; ' +
      'then echo "$p"; fi; done';
    const { stdout } = await execa(DOCKER_COMMAND, [
      'exec',
      containerFor(name),
      'sh',
      '-c',
      probe,
      'sh',
      ...RELAY_PROGRAMS,
    ]);
    expect(stdout.split('\n').filter(Boolean)).toEqual(
      RELAY_PROGRAMS.filter((p) => image.programs.includes(p)),
    );
    if (image.relay !== null) expect(image.programs).toContain(image.relay);
    const { stdout: hello } = await execa(
      DOCKER_COMMAND,
      ['exec', containerFor(name), 'cat', '/srv/hello.txt'],
      {
        stripFinalNewline: false,
      },
    );
    expect(hello).toBe(HELLO_FILE_TEXT);
  });
});

async function checkServer(containerId: string, kind: ServerKind, address: ServerAddress, port: number) {
  const server = await startServer(containerId, { kind, address, port });
  // A dual-stack wildcard must answer on both loopbacks.
  const hosts = address === '::' ? ['::1', '127.0.0.1'] : [loopbackFor(address)];
  for (const host of hosts) {
    if (kind === 'http') {
      const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}/hello.txt`;
      expect((await fetchInContainer(containerId, url)).toString()).toBe(HELLO_FILE_TEXT);
    } else if (kind === 'echo') {
      const payload = deterministicBytes(ECHO_BYTES, `echo-${port}`);
      expect(sha256(await connectInContainer(containerId, host, port, payload))).toBe(sha256(payload));
    } else if (kind === 'greeting') {
      const reply = await connectInContainer(containerId, host, port, Buffer.from('ping\n'));
      expect(reply.toString()).toBe(`${GREETING_LINE}ping\n`);
    } else if (kind === 'sink-sha256') {
      const payload = deterministicBytes(SINK_BYTES, `sink-${port}`);
      const reply = await connectInContainer(containerId, host, port, payload);
      expect(reply.toString()).toBe(`${sha256(payload)}\n`);
    } else {
      const download = await connectInContainer(containerId, host, port);
      expect(download.length).toBe(server.sourceBytes);
      expect(sha256(download)).toBe(server.sourceSha256);
    }
  }
  await server.stop();
  expect(await isListeningInContainer(containerId, address, port)).toBe(false);
}

describe.each(IMAGE_NAMES)('test servers in %s, reached from inside the container', (name) => {
  const cases = SERVER_MATRIX[name].map(([kind, address], index) => ({
    kind,
    address,
    port: 20_000 + index,
  }));
  it.concurrent.each(cases)('$kind on [$address]:$port', async ({ kind, address, port }) => {
    await checkServer(containerFor(name), kind, address, port);
  });
});

describe('test servers that an image cannot run', () => {
  it('busybox nc refuses a specific bind address, which it has no option for', async () => {
    await expect(
      startServer(containerFor('busyboxNc'), { kind: 'echo', address: '127.0.0.1', port: 21_000 }),
    ).rejects.toThrow(/only listen on '::'/);
  });

  it('the relay-less image has nothing to run an echo server with', async () => {
    await expect(
      startServer(containerFor('none'), { kind: 'echo', address: '::', port: 21_001 }),
    ).rejects.toThrow(/needs python3 or nc/);
  });
});
