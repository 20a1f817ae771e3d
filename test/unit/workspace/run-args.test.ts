import { describe, expect, it } from 'vitest';
import { parseDevContainerConfig } from '../../../src/config/parse-config.js';
import { KEEP_ALIVE_SCRIPT } from '../../../src/workspace/keep-alive.js';
import { planEnvPassing } from '../../../src/workspace/passed-env.js';
import {
  MAX_CONTAINER_NAME_CHARS,
  containerNameFor,
  dockerRunArgs,
  namesContainer,
  type RunTarget,
} from '../../../src/workspace/run-args.js';

const WORKSPACE = '/home/dev/my app';
const CONFIG_FILE = `${WORKSPACE}/.devcontainer/devcontainer.json`;
const LABELS = { 'devcontainer.local_folder': WORKSPACE, 'devcontainer.config_file': CONFIG_FILE };

function config(json: Record<string, unknown>) {
  return parseDevContainerConfig(JSON.stringify(json), CONFIG_FILE, WORKSPACE);
}

function target(extra: Partial<RunTarget> = {}): RunTarget {
  return { image: 'debian:12', labels: LABELS, name: null, ...extra };
}

describe('dockerRunArgs', () => {
  it('runs an image detached with the workspace bind, the labels and the keep-alive entrypoint', () => {
    expect(dockerRunArgs(config({ image: 'debian:12' }), target())).toEqual([
      'run',
      '-d',
      '--mount',
      `type=bind,source=${WORKSPACE},target=/workspaces/my app`,
      '-l',
      `devcontainer.local_folder=${WORKSPACE}`,
      '-l',
      `devcontainer.config_file=${CONFIG_FILE}`,
      '--entrypoint',
      '/bin/sh',
      'debian:12',
      '-c',
      KEEP_ALIVE_SCRIPT,
      '-',
    ]);
  });

  it('keeps the keep-alive script exiting on SIGTERM, with the sleep waited for in the background', () => {
    expect(KEEP_ALIVE_SCRIPT).toContain('trap "exit 0" 15');
    expect(KEEP_ALIVE_SCRIPT).toContain('while sleep 1 & wait $!; do :; done');
  });

  it("leaves the image's own command alone when overrideCommand is false", () => {
    const args = dockerRunArgs(config({ image: 'debian:12', overrideCommand: false }), target());
    expect(args).not.toContain('--entrypoint');
    expect(args.at(-1)).toBe('debian:12');
  });

  it('publishes appPort on loopback for a number and passes a string through', () => {
    const args = dockerRunArgs(config({ image: 'x', appPort: [3000, '8080:80'] }), target());
    expect(args.slice(2, 6)).toEqual(['-p', '127.0.0.1:3000:3000', '-p', '8080:80']);
  });

  it('adds mounts after the workspace mount, in order, object mounts spelled out', () => {
    const args = dockerRunArgs(
      config({
        image: 'x',
        workspaceMount: 'type=bind,source=/src,target=/code',
        mounts: ['type=volume,source=cache,target=/cache', { type: 'bind', source: '/a', target: '/b' }],
      }),
      target(),
    );
    const mounts = args.flatMap((arg, i) => (args[i - 1] === '--mount' ? [arg] : []));
    expect(mounts).toEqual([
      'type=bind,source=/src,target=/code',
      'type=volume,source=cache,target=/cache',
      'type=bind,src=/a,dst=/b',
    ]);
  });

  it('has no workspace mount when workspaceMount is ""', () => {
    const args = dockerRunArgs(config({ image: 'x', workspaceMount: '' }), target());
    expect(args).not.toContain('--mount');
  });

  it('passes containerEnv only through the env flags given, never a value, and containerUser with -u', () => {
    const args = dockerRunArgs(
      config({ image: 'x', containerEnv: { A: 'secret-a', B: 'two\nlines' }, containerUser: 'dev' }),
      target(),
      ['--env-file', '/tmp/portpilot-env-1/env', '-e', 'B'],
    );
    expect(args).toEqual(
      expect.arrayContaining(['--env-file', '/tmp/portpilot-env-1/env', '-e', 'B', '-u', 'dev']),
    );
    expect(args.join(' ')).not.toMatch(/secret-a|two/);
    expect(args.indexOf('-u')).toBeGreaterThan(args.indexOf('B'));
  });

  it("puts runArgs after portpilot's own flags (so they win) and before the image", () => {
    const args = dockerRunArgs(
      config({ image: 'x', runArgs: ['--cap-add=SYS_PTRACE', '--name', 'mine'] }),
      target({ name: 'from-config' }),
    );
    const image = args.indexOf('debian:12');
    expect(args.indexOf('--cap-add=SYS_PTRACE')).toBeLessThan(image);
    expect(args.lastIndexOf('--name')).toBeGreaterThan(args.indexOf('from-config'));
    expect(args.indexOf('--entrypoint')).toBeGreaterThan(args.indexOf('mine'));
  });

  it('names the container when told to', () => {
    const args = dockerRunArgs(config({ image: 'x' }), target({ name: 'web-dev' }));
    expect(args[args.indexOf('--name') + 1]).toBe('web-dev');
  });

  it('substitutes variables in containerEnv before it is passed', () => {
    const { containerEnv } = config({
      image: 'x',
      containerEnv: { WS: '${containerWorkspaceFolder}', HOSTWS: '${localWorkspaceFolder}' },
    });
    expect(planEnvPassing(containerEnv).fileText).toBe(`WS=/workspaces/my app\nHOSTWS=${WORKSPACE}\n`);
  });
});

describe('containerNameFor', () => {
  it('keeps a name Docker accepts', () => {
    expect(containerNameFor('web_dev.1-a')).toBe('web_dev.1-a');
  });

  it('turns runs of refused characters into one dash and drops leading ones', () => {
    expect(containerNameFor('  My App (dev) ')).toBe('My-App-dev');
    expect(containerNameFor('.hidden')).toBe('hidden');
    expect(containerNameFor('Ünïcode café')).toBe('n-code-caf');
  });

  it('gives null when nothing usable is left, or no name is set', () => {
    expect(containerNameFor(null)).toBeNull();
    expect(containerNameFor('!!!')).toBeNull();
    expect(containerNameFor('a')).toBeNull();
  });

  it(`caps the name at ${MAX_CONTAINER_NAME_CHARS} characters`, () => {
    expect(containerNameFor('x'.repeat(200))).toHaveLength(MAX_CONTAINER_NAME_CHARS);
  });
});

describe('namesContainer', () => {
  it('sees --name and --name=', () => {
    expect(namesContainer(['--name', 'a'])).toBe(true);
    expect(namesContainer(['--name=a'])).toBe(true);
    expect(namesContainer(['--network', 'none', '--hostname', 'name'])).toBe(false);
  });
});
