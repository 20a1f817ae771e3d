import { describe, expect, it } from 'vitest';
import { dockerExecArgs, workspaceExecSettings } from '../../../src/workspace/exec-args.js';

describe('dockerExecArgs', () => {
  it('runs in the workspace folder with the env flags given (no value) as remoteUser', () => {
    const settings = workspaceExecSettings({
      workspaceFolder: '/workspaces/app',
      containerEnv: { A: 'secret' },
      remoteUser: 'dev',
    });
    expect(settings.env).toEqual({ A: 'secret' });
    const flags = ['--env-file', '/tmp/portpilot-env-1/env'];
    expect(
      dockerExecArgs('cid', ['ls', '-la'], { ...settings, interactive: true, tty: false }, flags),
    ).toEqual([
      'exec',
      '-i',
      '-w',
      '/workspaces/app',
      '--env-file',
      '/tmp/portpilot-env-1/env',
      '-u',
      'dev',
      'cid',
      'ls',
      '-la',
    ]);
  });

  it('adds -t only when asked, and nothing else for a bare container', () => {
    const bare = { workdir: null, env: {}, user: null };
    expect(dockerExecArgs('cid', ['sh'], { ...bare, interactive: true, tty: true })).toEqual([
      'exec',
      '-i',
      '-t',
      'cid',
      'sh',
    ]);
    expect(dockerExecArgs('cid', ['true'], { ...bare, interactive: false, tty: false })).toEqual([
      'exec',
      'cid',
      'true',
    ]);
  });

  it('keeps a command that looks like docker options after the container', () => {
    expect(
      dockerExecArgs('cid', ['-w', '--rm'], {
        workdir: null,
        user: null,
        interactive: false,
        tty: false,
      }),
    ).toEqual(['exec', 'cid', '-w', '--rm']);
  });
});
