import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { AGENT_IDLE_MS_ENV, AGENT_RETRY_MIN_MS } from '../../src/forwarding/relay/agent/agent-on-demand.js';
import { portsJson, runUp } from '../support/cli.js';
import { containerScope } from '../support/container-scope.js';
import { DOCKER_COMMAND, freeHostPort, startServer, waitFor } from '../support/containers.js';
import { httpGet } from '../support/host-client.js';
import { HELLO_FILE_TEXT, TEST_IMAGES } from '../support/images.js';

const scope = containerScope();
const { stateDir } = scope;

/** Command lines of the container's relay agents. */
async function agents(containerId: string): Promise<string[]> {
  const script = 'for f in /proc/[0-9]*/cmdline; do tr "\\000" " " <"$f"; echo; done';
  const { stdout } = await execa(DOCKER_COMMAND, ['exec', containerId, 'sh', '-c', script]);
  return stdout.split('\n').filter((line) => line.includes('portpilot relay agent'));
}

async function forwardLoopbackServer(env: NodeJS.ProcessEnv = {}) {
  const container = await scope.start(TEST_IMAGES.debian.tag);
  const port = await freeHostPort();
  await startServer(container.id, { port, address: '127.0.0.1', kind: 'http' });
  // Forced: where this process may enter the container's namespace, its helper would come first.
  const { run, line } = await runUp(
    stateDir,
    ['--container-id', container.id, '--auto-forward', '--relay-path', 'agent'],
    env,
  );
  expect(line.outcome, run.stderr).toBe('success');
  const pathOf = async () =>
    (await portsJson(stateDir)).find((row) => row.containerId === container.id && row.containerPort === port)
      ?.path;
  await waitFor(async () => (await pathOf()) !== undefined, 5_000, `port ${port} forwarded`);
  return { container, port, pathOf, logFile: line.forwarder?.logFile ?? '' };
}

describe('the relay agent, started on demand', () => {
  it('runs nothing in the container until the first loopback connection, then one agent for all', async () => {
    const { container, port, pathOf } = await forwardLoopbackServer();
    expect(await pathOf()).toBe('agent');
    expect(await agents(container.id)).toEqual([]);

    const replies = await Promise.all([1, 2, 3].map(() => httpGet(port, '/hello.txt')));
    expect(replies.map((reply) => reply.body)).toEqual([HELLO_FILE_TEXT, HELLO_FILE_TEXT, HELLO_FILE_TEXT]);
    expect(await agents(container.id)).toHaveLength(1);
    expect((await httpGet(port, '/hello.txt')).body).toBe(HELLO_FILE_TEXT);
    expect(await agents(container.id)).toHaveLength(1);
  });

  it('stops the agent once no connection has gone through it for the idle time, and starts it again', async () => {
    const { container, port, logFile } = await forwardLoopbackServer({ [AGENT_IDLE_MS_ENV]: '1500' });
    expect((await httpGet(port, '/hello.txt')).body).toBe(HELLO_FILE_TEXT);
    expect(await agents(container.id)).toHaveLength(1);
    await waitFor(async () => (await agents(container.id)).length === 0, 10_000, 'the idle agent to stop');
    expect(readFileSync(logFile, 'utf8')).toContain('relay agent stopped after an idle spell');

    // The next connection starts a fresh one, and a connection held open keeps it past the idle time.
    const held = connect({ host: '127.0.0.1', port });
    await once(held, 'connect');
    await waitFor(async () => (await agents(container.id)).length === 1, 5_000, 'a fresh agent');
    await sleep(3_000);
    expect(await agents(container.id)).toHaveLength(1);
    held.destroy();
    await waitFor(async () => (await agents(container.id)).length === 0, 10_000, 'the agent to stop again');
    expect((await httpGet(port, '/hello.txt')).body).toBe(HELLO_FILE_TEXT);
  });

  it('starts again after the agent is killed in the container', async () => {
    const { container, port, logFile } = await forwardLoopbackServer();
    expect((await httpGet(port, '/hello.txt')).body).toBe(HELLO_FILE_TEXT);
    const kill =
      'for d in /proc/[0-9]*; do tr "\\000" " " <"$d/cmdline" 2>/dev/null | ' +
      'grep -q "portpilot relay [a]gent" && kill -9 "${d#/proc/}"; done; true';
    await execa(DOCKER_COMMAND, ['exec', container.id, 'sh', '-c', kill]);
    await waitFor(async () => (await agents(container.id)).length === 0, 5_000, 'the agent to die');
    // The forwarder has seen it go.
    await waitFor(
      () => Promise.resolve(/relay agent \(python3\).* exited with code/.test(readFileSync(logFile, 'utf8'))),
      5_000,
      'the forwarder to log the exit',
    );

    expect((await httpGet(port, '/hello.txt')).body).toBe(HELLO_FILE_TEXT);
    expect(await agents(container.id)).toHaveLength(1);
  });

  it('where no agent can start, serves through exec and says so in ports and the log, and starts one once it can', async () => {
    const { container, port, pathOf, logFile } = await forwardLoopbackServer();
    // The interpreters the forwarder found at start stop working before the first connection.
    const broken = 'printf "#!/bin/sh\\nexit 1\\n" > "$1" && chmod +x "$1"';
    for (const interpreter of ['python3', 'perl']) {
      await execa(DOCKER_COMMAND, [
        'exec',
        container.id,
        'sh',
        '-c',
        `${broken}`,
        'sh',
        `/usr/local/bin/${interpreter}`,
      ]);
    }

    expect((await httpGet(port, '/hello.txt')).body).toBe(HELLO_FILE_TEXT);
    expect((await httpGet(port, '/hello.txt')).body).toBe(HELLO_FILE_TEXT);
    await waitFor(async () => (await pathOf()) === 'exec', 5_000, 'ports to show the exec path');
    expect(readFileSync(logFile, 'utf8')).toContain('no relay agent could start');
    expect(await agents(container.id)).toEqual([]);

    // The interpreters work again: a start tried after the back-off brings the agent back.
    await execa(DOCKER_COMMAND, [
      'exec',
      container.id,
      'rm',
      '/usr/local/bin/python3',
      '/usr/local/bin/perl',
    ]);
    await waitFor(
      async () => {
        expect((await httpGet(port, '/hello.txt')).body).toBe(HELLO_FILE_TEXT);
        if ((await agents(container.id)).length === 1) return true;
        await sleep(500);
        return false;
      },
      4 * AGENT_RETRY_MIN_MS,
      'the agent to start again',
    );
    await waitFor(async () => (await pathOf()) === 'agent', 5_000, 'ports to show the agent path again');
  });
});
