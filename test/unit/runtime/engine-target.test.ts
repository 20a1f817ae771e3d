import { describe, expect, it } from 'vitest';
import {
  parseContextInspect,
  parseEngineHost,
  remoteSocketOf,
  targetOfContext,
  tlsOfEnv,
} from '../../../src/runtime/engine-target.js';

describe('parseEngineHost', () => {
  it('reads unix sockets, and refuses a relative path', () => {
    expect(parseEngineHost('unix:///run/user/1000/docker.sock', null)).toEqual({
      kind: 'unix',
      path: '/run/user/1000/docker.sock',
    });
    expect(parseEngineHost('unix://docker.sock', null)).toBeNull();
  });

  it('reads ssh://[user@]host[:port], as the docker CLI does', () => {
    expect(parseEngineHost('ssh://root@127.0.0.1:2222', null)).toEqual({
      kind: 'ssh',
      user: 'root',
      host: '127.0.0.1',
      port: 2222,
    });
    expect(parseEngineHost('ssh://build-box', null)).toEqual({
      kind: 'ssh',
      user: null,
      host: 'build-box',
      port: null,
    });
    expect(parseEngineHost('ssh://me@[::1]:22/', null)).toEqual({
      kind: 'ssh',
      user: 'me',
      host: '::1',
      port: 22,
    });
  });

  it('refuses what the docker CLI refuses over ssh: a path, a password', () => {
    expect(parseEngineHost('ssh://host/var/run/docker.sock', null)).toBeNull();
    expect(parseEngineHost('ssh://me:secret@host', null)).toBeNull();
  });

  it('reads tcp://, with the default port for TLS or not', () => {
    const tls = { verify: true, certDir: '/certs' };
    expect(parseEngineHost('tcp://10.0.0.5:2375', null)).toEqual({
      kind: 'tcp',
      host: '10.0.0.5',
      port: 2375,
      tls: null,
    });
    expect(parseEngineHost('tcp://engine.example', tls)).toEqual({
      kind: 'tcp',
      host: 'engine.example',
      port: 2376,
      tls,
    });
    expect(parseEngineHost('tcp://engine.example', null)).toMatchObject({ port: 2375 });
  });

  it('takes nothing else', () => {
    for (const value of [
      '',
      'npipe:////./pipe/docker_engine',
      'fd://',
      'http://x:1',
      'not a url',
      'tcp://',
    ]) {
      expect(parseEngineHost(value, null), value).toBeNull();
    }
  });
});

describe('tlsOfEnv', () => {
  it('is on with DOCKER_TLS_VERIFY (verified) or DOCKER_TLS (not), files in DOCKER_CERT_PATH or ~/.docker', () => {
    expect(tlsOfEnv({}, '/home/u')).toBeNull();
    expect(tlsOfEnv({ DOCKER_CERT_PATH: '/c' }, '/home/u')).toBeNull();
    expect(tlsOfEnv({ DOCKER_TLS_VERIFY: '1' }, '/home/u')).toEqual({
      verify: true,
      certDir: '/home/u/.docker',
    });
    expect(tlsOfEnv({ DOCKER_TLS: '1', DOCKER_CERT_PATH: '/c' }, '/home/u')).toEqual({
      verify: false,
      certDir: '/c',
    });
  });
});

describe('parseContextInspect', () => {
  const inspected = (docker: object, tls: object = {}) =>
    JSON.stringify([
      {
        Name: 'remote',
        Endpoints: { docker },
        TLSMaterial: tls,
        Storage: { MetadataPath: '/m', TLSPath: '/home/u/.docker/contexts/tls/abc' },
      },
    ]);

  it("reads a context's endpoint, and its TLS files when it has them", () => {
    const ssh = parseContextInspect(inspected({ Host: 'ssh://me@box', SkipTLSVerify: false }));
    expect(ssh).toEqual({ host: 'ssh://me@box', skipTlsVerify: false, tlsDir: null });
    expect(targetOfContext(ssh!)).toEqual({ kind: 'ssh', user: 'me', host: 'box', port: null });
    const tcp = parseContextInspect(
      inspected(
        { Host: 'tcp://box:2376', SkipTLSVerify: true },
        { docker: ['ca.pem', 'cert.pem', 'key.pem'] },
      ),
    );
    expect(tcp).toEqual({
      host: 'tcp://box:2376',
      skipTlsVerify: true,
      tlsDir: '/home/u/.docker/contexts/tls/abc/docker',
    });
    expect(targetOfContext(tcp!)).toMatchObject({ tls: { verify: false } });
  });

  it('is null for text that is not a context with a docker endpoint', () => {
    expect(parseContextInspect('')).toBeNull();
    expect(parseContextInspect('[]')).toBeNull();
    expect(parseContextInspect(inspected({ Host: '' }))).toBeNull();
  });
});

describe('remoteSocketOf', () => {
  it("is the remote CLI's unix socket, else the default one", () => {
    expect(remoteSocketOf('unix:///run/user/1000/docker.sock\n')).toBe('/run/user/1000/docker.sock');
    expect(remoteSocketOf('unix:///var/run/docker.sock')).toBe('/var/run/docker.sock');
    expect(remoteSocketOf('tcp://127.0.0.1:2375')).toBe('/var/run/docker.sock');
    expect(remoteSocketOf('ssh://elsewhere')).toBe('/var/run/docker.sock');
    expect(remoteSocketOf(null)).toBe('/var/run/docker.sock');
  });
});
