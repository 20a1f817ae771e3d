import { describe, expect, it } from 'vitest';
import {
  DEFAULT_ENGINE_SOCKET,
  currentContextOf,
  engineSocketPath,
  execRemovalOf,
  type EngineEndpointInputs,
} from '../../../src/runtime/engine-endpoint.js';

const plain: EngineEndpointInputs = {
  dockerPath: 'docker',
  dockerHost: undefined,
  dockerContext: undefined,
  currentContext: null,
};

describe('engineSocketPath', () => {
  it('is the default socket when nothing names another engine', () => {
    expect(engineSocketPath(plain)).toBe(DEFAULT_ENGINE_SOCKET);
    expect(engineSocketPath({ ...plain, currentContext: 'default' })).toBe(DEFAULT_ENGINE_SOCKET);
    expect(engineSocketPath({ ...plain, dockerHost: '' })).toBe(DEFAULT_ENGINE_SOCKET);
  });

  it('follows DOCKER_HOST to a unix socket, and leaves any other host to the CLI', () => {
    expect(engineSocketPath({ ...plain, dockerHost: 'unix:///run/user/1000/docker.sock' })).toBe(
      '/run/user/1000/docker.sock',
    );
    expect(engineSocketPath({ ...plain, dockerHost: 'tcp://10.0.0.5:2376' })).toBeNull();
    expect(engineSocketPath({ ...plain, dockerHost: 'ssh://me@build-box' })).toBeNull();
    expect(engineSocketPath({ ...plain, dockerHost: 'unix://relative.sock' })).toBeNull();
  });

  it('leaves a named context (DOCKER_CONTEXT or config.json) to the CLI, which knows its endpoint', () => {
    expect(engineSocketPath({ ...plain, dockerContext: 'rootless' })).toBeNull();
    expect(engineSocketPath({ ...plain, dockerContext: 'default', currentContext: 'x' })).toBe(
      DEFAULT_ENGINE_SOCKET,
    );
    expect(engineSocketPath({ ...plain, currentContext: 'colima' })).toBeNull();
    expect(engineSocketPath({ ...plain, currentContext: undefined })).toBeNull();
  });

  it('leaves another CLI (--docker-path) to itself', () => {
    expect(engineSocketPath({ ...plain, dockerPath: 'podman' })).toBeNull();
    expect(engineSocketPath({ ...plain, dockerPath: '/usr/local/bin/docker' })).toBeNull();
  });
});

describe('currentContextOf', () => {
  it('reads currentContext from the CLI config, null when unset', () => {
    expect(currentContextOf('{"auths": {}, "currentContext": "rootless"}')).toBe('rootless');
    expect(currentContextOf('{"auths": {}}')).toBeNull();
    expect(currentContextOf('{"currentContext": ""}')).toBeNull();
  });

  it('is undefined for a config that is not a JSON object', () => {
    expect(currentContextOf('{"auths": ')).toBeUndefined();
    expect(currentContextOf('[]')).toBeNull();
    expect(currentContextOf('"text"')).toBeUndefined();
    expect(currentContextOf('{"currentContext": 3}')).toBeUndefined();
  });
});

describe('execRemovalOf', () => {
  it("leaves Docker's execs to Docker, which sends no Libpod-Api-Version", () => {
    expect(execRemovalOf(undefined)).toBe('none');
  });

  it('removes them on a Podman from 4.8 on, and knows an older one cannot', () => {
    expect(execRemovalOf('4.8.0')).toBe('remove');
    expect(execRemovalOf('5.4.2')).toBe('remove');
    expect(execRemovalOf('4.10.1')).toBe('remove');
    expect(execRemovalOf('4.7.2')).toBe('unsupported');
    expect(execRemovalOf('4.3.1')).toBe('unsupported');
    expect(execRemovalOf('3.4.4')).toBe('unsupported');
    expect(execRemovalOf('garbage')).toBe('unsupported');
  });
});
