import { describe, expect, it } from 'vitest';
import { dockerExecArgs, workspaceExecSettings } from '../../../src/workspace/exec-args.js';

describe('dockerExecArgs', () => {
  it('runs in the workspace folder with containerEnv as remoteUser', () => {
    const settings = workspaceExecSettings({
      workspaceFolder: '/workspaces/app',
      containerEnv: { A: '1' },
      remoteUser: 'dev',
    });
    expect(dockerExecArgs('cid', ['ls', '-la'], { ...settings, interactive: true, tty: false })).toEqual([
      'exec',
      '-i',
      '-w',
      '/workspaces/app',
      '-e',
      'A=1',
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
        env: {},
        user: null,
        interactive: false,
        tty: false,
      }),
    ).toEqual(['exec', 'cid', '-w', '--rm']);
  });
});
