import { describe, expect, it } from 'vitest';
import { hideValues } from '../../../src/devcontainer/docker-argv.js';

const FILES = { envFile: '/p/env', labelFile: '/p/labels' };

describe('hideValues', () => {
  it("moves docker run's environment values and labels into files, keeping every other argument in place", () => {
    const metadata = 'devcontainer.metadata=[{"remoteEnv":{"TOKEN":"s3cret"}}]';
    const hidden = hideValues(
      [
        'run',
        '--sig-proxy=false',
        '-a',
        'STDOUT',
        '-e',
        'SECRET=s3cret',
        '--env=OTHER=x=y',
        '-l',
        'devcontainer.local_folder=/w',
        '--label',
        metadata,
        '--mount',
        'type=bind,source=/w,target=/workspaces/w',
        'image:1',
        '-c',
        '-e',
        'A=not-an-option',
      ],
      FILES,
    );
    expect(hidden.args).toEqual([
      'run',
      '--env-file',
      '/p/env',
      '--label-file',
      '/p/labels',
      '--sig-proxy=false',
      '-a',
      'STDOUT',
      '--mount',
      'type=bind,source=/w,target=/workspaces/w',
      'image:1',
      '-c',
      '-e',
      'A=not-an-option',
    ]);
    expect(hidden.envFileText).toBe('SECRET=s3cret\nOTHER=x=y\n');
    expect(hidden.labelLines).toEqual(['devcontainer.local_folder=/w', metadata]);
    expect(hidden.args.join(' ')).not.toContain('s3cret');
  });

  it("moves docker exec's environment values (remoteEnv, the probed environment) but has no labels to move", () => {
    const hidden = hideValues(
      ['exec', '-i', '-u', 'vscode', '-e', 'TOKEN=s3cret', '-w', '/workspaces/w', 'cid', 'sh', '-c', 'env'],
      FILES,
    );
    expect(hidden.args).toEqual([
      'exec',
      '--env-file',
      '/p/env',
      '-i',
      '-u',
      'vscode',
      '-w',
      '/workspaces/w',
      'cid',
      'sh',
      '-c',
      'env',
    ]);
    expect(hidden.envFileText).toBe('TOKEN=s3cret\n');
  });

  it('passes a value with a newline by name, from the environment, which an env file cannot hold', () => {
    const hidden = hideValues(['exec', '-e', 'KEY=line1\nline2', 'cid', 'true'], FILES);
    expect(hidden.args).toEqual(['exec', '-e', 'KEY', 'cid', 'true']);
    expect(hidden.envFromProcess).toEqual({ KEY: 'line1\nline2' });
    expect(hidden.envFileText).toBeNull();
  });

  it('leaves every other docker command line as it is', () => {
    const argv = ['container', 'inspect', '-e', 'X=1'];
    expect(hideValues(argv, FILES).args).toEqual(argv);
    expect(hideValues(['--version'], FILES).args).toEqual(['--version']);
  });
});
