import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EngineApi } from '../../src/runtime/engine-api.js';
import { connectEngine } from '../../src/runtime/engine-connect.js';
import { daemonRunner, type RunningProcess } from '../../src/runtime/process-runner.js';
import type { UpLine } from '../support/cli.js';
import { containerScope } from '../support/container-scope.js';
import {
  DOCKER_COMMAND,
  deterministicBytes,
  freeHostPort,
  sha256,
  startServer,
  waitFor,
  type TestContainer,
} from '../support/containers.js';
import { accepts, exchange } from '../support/host-client.js';
import { DEBIAN_IMAGE } from '../support/images.js';
import { runCli } from '../support/cli.js';

const ENGINE_SOCKET = '/var/run/docker.sock';
const scope = containerScope();
const dir = mkdtempSync(join(tmpdir(), 'portpilot-tcp-engine-'));
const proxies: ChildProcess[] = [];
let container: TestContainer;
let plainPort: number;
let tlsPort: number;

/** socat from a loopback port to the local engine's socket: the same engine, as a tcp:// one. */
async function startProxy(kind: 'TCP-LISTEN' | 'OPENSSL-LISTEN', port: number, options = ''): Promise<void> {
  const listen = `${kind}:${port},bind=127.0.0.1,reuseaddr,fork${options}`;
  proxies.push(spawn('socat', [listen, `UNIX-CONNECT:${ENGINE_SOCKET}`], { stdio: 'ignore' }));
  await waitFor(() => accepts(port), 10_000, `socat on 127.0.0.1:${port}`);
}

// A CA, a server certificate for 127.0.0.1 and a client certificate, as DOCKER_CERT_PATH holds them.
async function makeCertificates(): Promise<void> {
  const openssl = (args: string[]) => execa('openssl', args, { cwd: dir });
  await openssl(
    ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=portpilot-test-ca'].concat([
      '-keyout',
      'ca-key.pem',
      '-out',
      'ca.pem',
    ]),
  );
  for (const [name, extension] of [
    ['server', 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth'],
    ['client', 'extendedKeyUsage=clientAuth'],
  ] as const) {
    const keyFile = name === 'client' ? 'key.pem' : 'server-key.pem';
    await openssl([
      'req',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-subj',
      `/CN=${name}`,
      '-keyout',
      keyFile,
      '-out',
      `${name}.csr`,
    ]);
    await execa('sh', ['-c', `printf '${extension.replace('\n', '\\n')}\\n' > ${name}.ext`], { cwd: dir });
    const certFile = name === 'client' ? 'cert.pem' : 'server-cert.pem';
    await openssl(
      ['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca-key.pem'].concat([
        '-CAcreateserial',
        '-days',
        '1',
        '-extfile',
        `${name}.ext`,
        '-out',
        certFile,
      ]),
    );
  }
}

async function engineFor(env: NodeJS.ProcessEnv): Promise<EngineApi | null> {
  const route = await connectEngine('docker', env, daemonRunner, {
    socketPath: join(dir, 'unused.sock'),
    retryDelayMs: () => 250,
    log: () => undefined,
  });
  return route.api;
}

async function catThrough(api: EngineApi, data: Buffer): Promise<Buffer> {
  const exec: RunningProcess = api.execStream(container.id, ['cat']);
  const chunks: Buffer[] = [];
  exec.stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
  exec.stdin.end(data);
  expect(await exec.exited).toBe(0);
  return Buffer.concat(chunks);
}

const noConfig = { PATH: process.env.PATH, HOME: process.env.HOME, DOCKER_CONFIG: join(dir, 'no-config') };

beforeAll(async () => {
  container = await scope.start(DEBIAN_IMAGE);
  plainPort = await freeHostPort();
  await startProxy('TCP-LISTEN', plainPort);
  await makeCertificates();
  tlsPort = await freeHostPort();
  const files = { cert: 'server-cert.pem', key: 'server-key.pem', cafile: 'ca.pem' };
  const tls = Object.entries(files).map(([option, file]) => `,${option}=${join(dir, file)}`);
  await startProxy('OPENSSL-LISTEN', tlsPort, `${tls.join('')},verify=1`);
});
afterAll(() => {
  for (const proxy of proxies) proxy.kill();
  rmSync(dir, { recursive: true, force: true });
});

describe('a tcp:// engine (DOCKER_HOST, a docker context)', () => {
  it('is reached through its API over TCP, without TLS', async () => {
    const api = await engineFor({ ...noConfig, DOCKER_HOST: `tcp://127.0.0.1:${plainPort}` });
    expect(api?.endpoint).toBe(`tcp://127.0.0.1:${plainPort}`);
    const data = deterministicBytes(4 * 1024 * 1024, 'tcp');
    expect(sha256(await catThrough(api as EngineApi, data))).toBe(sha256(data));
  });

  it('is reached over TLS with DOCKER_TLS_VERIFY and DOCKER_CERT_PATH, and refused without the CA', async () => {
    const env = { ...noConfig, DOCKER_HOST: `tcp://127.0.0.1:${tlsPort}`, DOCKER_TLS_VERIFY: '1' };
    const api = await engineFor({ ...env, DOCKER_CERT_PATH: dir });
    expect(api?.endpoint).toBe(`tcp://127.0.0.1:${tlsPort}`);
    const data = deterministicBytes(1024 * 1024, 'tls');
    expect(sha256(await catThrough(api as EngineApi, data))).toBe(sha256(data));
    // Certificates elsewhere: the engine's is not verified and the client has none, so no API.
    expect(await engineFor({ ...env, DOCKER_CERT_PATH: join(dir, 'elsewhere') })).toBeNull();
  });

  it("follows a docker context's endpoint, named or in use", async () => {
    const config = join(dir, 'contexts');
    const host = `host=tcp://127.0.0.1:${plainPort}`;
    const cli = (args: string[]) => execa(DOCKER_COMMAND, args, { env: { DOCKER_CONFIG: config } });
    await cli(['context', 'create', 'portpilot-tcp', '--docker', host]);
    const named = await engineFor({ ...noConfig, DOCKER_CONFIG: config, DOCKER_CONTEXT: 'portpilot-tcp' });
    expect(named?.endpoint).toBe(`tcp://127.0.0.1:${plainPort}`);
    await cli(['context', 'use', 'portpilot-tcp']);
    const inUse = await engineFor({ ...noConfig, DOCKER_CONFIG: config });
    expect(inUse?.endpoint).toBe(`tcp://127.0.0.1:${plainPort}`);
  });

  it('forwards through the exec path of a forwarder started with DOCKER_HOST=tcp://', async () => {
    const port = await freeHostPort();
    await startServer(container.id, { port, address: '127.0.0.1', kind: 'echo' });
    const env = { ...process.env, DOCKER_HOST: `tcp://127.0.0.1:${plainPort}` };
    const up = await runCli(
      scope.stateDir,
      ['up', '--container-id', container.id, '--auto-forward', '--relay-path', 'exec'],
      undefined,
      env,
    );
    const line = JSON.parse(up.stdout.trim() || '{}') as UpLine;
    expect(line.outcome, `${up.stdout}\n${up.stderr}`).toBe('success');
    await waitFor(() => accepts(port), 15_000, `port ${port} forwarded`);
    expect((await exchange(port, Buffer.from('over tcp'))).toString()).toBe('over tcp');
    const log = join(scope.stateDir, 'forwarders', `${container.id}.log`);
    const logged = existsSync(log) ? readFileSync(log, 'utf8') : '';
    expect(logged).toContain(`"engineSocket":"tcp://127.0.0.1:${plainPort}"`);
  });
});
