import { describe, expect, it } from 'vitest';
import { chooseContainerCli } from '../../../src/runtime/container-cli.js';

const on =
  (...names: string[]) =>
  (name: string) =>
    names.includes(name);

describe('chooseContainerCli', () => {
  it('takes --docker-path as given, whatever PATH holds', () => {
    expect(chooseContainerCli('podman', on('docker'))).toEqual({ dockerPath: 'podman', notice: null });
    expect(chooseContainerCli('/opt/bin/docker', on())).toEqual({
      dockerPath: '/opt/bin/docker',
      notice: null,
    });
  });

  it('is docker when PATH has docker, with or without podman', () => {
    expect(chooseContainerCli(undefined, on('docker', 'podman'))).toEqual({
      dockerPath: 'docker',
      notice: null,
    });
    expect(chooseContainerCli(undefined, on('docker'))).toEqual({ dockerPath: 'docker', notice: null });
  });

  it('is podman, with a notice naming the flag, when PATH has podman and no docker', () => {
    const choice = chooseContainerCli(undefined, on('podman'));
    expect(choice.dockerPath).toBe('podman');
    expect(choice.notice).toMatch(/no 'docker' on PATH: using 'podman'.*--docker-path/);
  });

  it('stays docker when PATH has neither, so the error names what to install', () => {
    expect(chooseContainerCli(undefined, on())).toEqual({ dockerPath: 'docker', notice: null });
  });
});
