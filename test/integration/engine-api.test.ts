import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import type { EngineApi } from '../../src/runtime/engine-api.js';
import { connectEngine } from '../../src/runtime/engine-connect.js';
import { daemonRunner } from '../../src/runtime/process-runner.js';
import type { RunningProcess } from '../../src/runtime/process-runner.js';
import {
  DOCKER_COMMAND,
  removeContainer,
  sha256,
  startContainer,
  waitFor,
  type TestContainer,
} from '../support/containers.js';
import { DEBIAN_IMAGE } from '../support/images.js';

interface Collected {
  stdout: Buffer;
  stderr: string;
  code: number;
}

async function collect(exec: RunningProcess): Promise<Collected> {
  const stdout: Buffer[] = [];
  let stderr = '';
  exec.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
  exec.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const code = await exec.exited;
  return { stdout: Buffer.concat(stdout), stderr, code };
}

/** The engine API the forwarder would use with this CLI and environment (no SSH link is made here). */
async function engineFor(dockerPath: string, env: NodeJS.ProcessEnv): Promise<EngineApi | null> {
  const route = await connectEngine(dockerPath, env, daemonRunner, {
    socketPath: '/nonexistent/engine.sock',
    retryDelayMs: () => 250,
    log: () => undefined,
  });
  return route.api;
}

describe('the engine API exec (what the forwarder relays through)', () => {
  let api: EngineApi;
  let container: TestContainer;

  beforeAll(async () => {
    const found = await engineFor(DOCKER_COMMAND, { ...process.env, DOCKER_CONFIG: '/nonexistent' });
    if (!found) throw new Error('the local engine API did not answer on its default socket');
    api = found;
    container = await startContainer(DEBIAN_IMAGE);
  });
  afterAll(async () => {
    if (container) await removeContainer(container.id);
  });

  it('carries stdin to the process and its stdout back byte-exact, stdin closed by end()', async () => {
    const data = randomBytes(8 * 1024 * 1024);
    const exec = api.execStream(container.id, ['cat']);
    const result = collect(exec);
    exec.stdin.end(data);
    const { stdout, stderr, code } = await result;
    expect(code).toBe(0);
    expect(stderr).toBe('');
    expect(stdout.length).toBe(data.length);
    expect(sha256(stdout)).toBe(sha256(data));
  });

  it('holds the stream back while stdout is not read, and loses nothing', async () => {
    const data = randomBytes(16 * 1024 * 1024);
    const exec = api.execStream(container.id, ['cat']);
    const chunks: Buffer[] = [];
    let drainListeners = 0;
    exec.stdout.once('data', (first: Buffer) => {
      chunks.push(first);
      exec.stdout.pause();
      setTimeout(() => {
        drainListeners = exec.stdout.listenerCount('drain');
        exec.stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
        exec.stdout.resume();
      }, 500);
    });
    const ended = once(exec.stdout, 'end');
    exec.stdin.end(data);
    expect(await exec.exited).toBe(0);
    await ended;
    expect(drainListeners).toBeLessThanOrEqual(1);
    expect(sha256(Buffer.concat(chunks))).toBe(sha256(data));
  });

  it('keeps stderr apart from stdout and reports the exit code', async () => {
    const exec = api.execStream(container.id, ['sh', '-c', 'echo out; echo err >&2; exit 7']);
    exec.stdin.end();
    const { stdout, stderr, code } = await collect(exec);
    expect(stdout.toString()).toBe('out\n');
    expect(stderr).toBe('err\n');
    expect(code).toBe(7);
  });

  it('reports a container the engine does not have as docker exec would, exit code 1', async () => {
    const exec = api.execStream('portpilot-no-such-container', ['true']);
    exec.stdin.end();
    const { stderr, code } = await collect(exec);
    expect(code).toBe(1);
    expect(stderr).toMatch(/No such container: portpilot-no-such-container/);
  });

  it('reports a program the container does not have with a non-zero exit code and the reason', async () => {
    const exec = api.execStream(container.id, ['portpilot-no-such-program']);
    exec.stdin.end();
    const { stdout, stderr, code } = await collect(exec);
    expect(code).not.toBe(0);
    expect(stdout.toString() + stderr).toMatch(/portpilot-no-such-program/);
  });

  it('terminate() drops the stream: the process sees its stdin end, the exit is 128+signal', async () => {
    const exec = api.execStream(container.id, [
      'sh',
      '-c',
      'echo started; cat >/dev/null; touch /tmp/stdin-ended; sleep 30',
    ]);
    const started = new Promise((resolve) => exec.stdout.once('data', resolve));
    await started;
    exec.terminate('SIGKILL');
    expect(await exec.exited).toBe(137);
    await waitFor(async () => {
      const probe = await execa(DOCKER_COMMAND, ['exec', container.id, 'test', '-e', '/tmp/stdin-ended'], {
        reject: false,
      });
      return probe.exitCode === 0 ? true : null;
    }, 5_000);
  });

  it('is used only where the docker CLI would reach the same engine', async () => {
    const env = { ...process.env, DOCKER_CONFIG: '/nonexistent' };
    expect(await engineFor('podman', env)).toBeNull();
    expect(await engineFor('docker', { ...env, DOCKER_HOST: 'tcp://127.0.0.1:1' })).toBeNull();
    expect(await engineFor('docker', { ...env, DOCKER_CONTEXT: 'remote' })).toBeNull();
    // A socket nobody answers on: the CLI gets to say what is wrong.
    expect(await engineFor('docker', { ...env, DOCKER_HOST: 'unix:///nonexistent.sock' })).toBeNull();
  });
});
