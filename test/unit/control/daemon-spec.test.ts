import { describe, expect, it } from 'vitest';
import { statePaths } from '../../../src/common/state-dir.js';
import { StateError } from '../../../src/common/errors.js';
import { parseDaemonSpec, stateDirOfSpecFile, type DaemonSpec } from '../../../src/control/daemon-spec.js';
import { forwarderFiles } from '../../../src/control/marker.js';

const ID = 'a'.repeat(64);

describe('stateDirOfSpecFile', () => {
  it('finds the state dir of the spec file up writes', () => {
    const root = '/home/me/.local/state/portpilot';
    expect(stateDirOfSpecFile(forwarderFiles(statePaths(root), ID).spec, ID)).toBe(root);
  });

  it('is null for any other path, or a spec of another container', () => {
    expect(stateDirOfSpecFile(`/s/forwarders/${ID}.spec.json`, 'b'.repeat(64))).toBeNull();
    expect(stateDirOfSpecFile(`/s/elsewhere/${ID}.spec.json`, ID)).toBeNull();
    expect(stateDirOfSpecFile(`s/forwarders/${ID}.spec.json`, ID)).toBeNull();
    expect(stateDirOfSpecFile(`/s/forwarders/../forwarders/${ID}.spec.json`, ID)).toBeNull();
    expect(stateDirOfSpecFile('/s/forwarders/x.spec.json', 'x')).toBeNull();
  });
});

const GOOD: DaemonSpec = {
  containerId: ID,
  stateDir: '/home/me/.local/state/portpilot',
  dockerPath: 'docker',
  declared: [
    { service: null, port: 3000, containerId: ID },
    { service: 'db', port: 5432, containerId: 'b'.repeat(64) },
  ],
  attributes: {
    portsAttributes: [
      { key: '3000', attributes: { label: 'App', protocol: 'https', onAutoForward: 'openBrowser' } },
      { key: 'node .*', attributes: { requireLocalPort: true } },
    ],
    otherPortsAttributes: { onAutoForward: 'silent' },
  },
  relayPath: null,
  hostAddress: '127.0.0.1',
  follow: { 'devcontainer.local_folder': '/home/me/app' },
};

const parse = (value: unknown) => () => parseDaemonSpec(JSON.stringify(value), '/s/x.spec.json');

describe('parseDaemonSpec', () => {
  it('reads back the spec up writes, with and without the optional parts', () => {
    expect(parse(GOOD)()).toStrictEqual(GOOD);
    const { follow: _follow, ...plain } = GOOD;
    const bare = { ...plain, attributes: null, relayPath: 'agent' };
    expect(parse(bare)()).toStrictEqual(bare);
    const netns = { ...plain, relayPath: 'netns' };
    expect(parse(netns)()).toStrictEqual(netns);
  });

  it('keeps only the fields it checked', () => {
    expect(parse({ ...GOOD, extra: 'ignored' })()).not.toHaveProperty('extra');
  });

  it('refuses text that is not JSON, or JSON that is not an object', () => {
    expect(() => parseDaemonSpec('{"containerId":', '/s/x.spec.json')).toThrow(
      'the forwarder spec /s/x.spec.json is not JSON',
    );
    for (const value of [null, 3, 'spec', [GOOD]]) expect(parse(value)).toThrow(StateError);
  });

  it.each([
    ['containerId', { containerId: 'abc' }, 'containerId "abc"; expected a full container id'],
    ['stateDir', { stateDir: 'relative/dir' }, 'stateDir "relative/dir"; expected an absolute path'],
    ['dockerPath', { dockerPath: '' }, 'dockerPath ""; expected a program name or path'],
    ['declared', { declared: {} }, 'declared {}; expected an array'],
    ['declared port', { declared: [{ service: null, port: 0, containerId: ID }] }, 'declared[0].port 0'],
    [
      'declared service',
      { declared: [{ service: 7, port: 80, containerId: ID }] },
      'declared[0].service 7; expected null or a Compose service name',
    ],
    [
      'declared container',
      { declared: [{ service: null, port: 80, containerId: '../x' }] },
      'declared[0].containerId "../x"',
    ],
    [
      'relayPath',
      { relayPath: 'teleport' },
      'relayPath "teleport"; expected null or one of direct, netns, agent, mux, exec',
    ],
    ['hostAddress', { hostAddress: 'evil.example' }, 'hostAddress "evil.example"; expected an IP address'],
    ['follow', { follow: { 'a.b': 1 } }, 'follow["a.b"] 1; expected a string'],
    ['attributes', { attributes: [] }, 'attributes []; expected an object'],
    [
      'an attribute',
      {
        attributes: {
          portsAttributes: [{ key: '3000', attributes: { protocol: 'gopher' } }],
          otherPortsAttributes: null,
        },
      },
      'attributes.portsAttributes[0].attributes.protocol',
    ],
    [
      'an attribute key',
      { attributes: { portsAttributes: [{ key: '(', attributes: {} }], otherPortsAttributes: null } },
      'attributes.portsAttributes[0].key',
    ],
    [
      'otherPortsAttributes',
      { attributes: { portsAttributes: [], otherPortsAttributes: { requireLocalPort: 'yes' } } },
      'attributes.otherPortsAttributes.requireLocalPort',
    ],
  ])(
    'refuses a bad %s with a StateError naming the field and what was expected',
    (_name, change, message) => {
      const act = parse({ ...GOOD, ...change });
      expect(act).toThrow(StateError);
      expect(act).toThrow(`the forwarder spec /s/x.spec.json has ${message}`);
    },
  );

  it('refuses a spec missing a field', () => {
    for (const field of [
      'containerId',
      'stateDir',
      'dockerPath',
      'declared',
      'attributes',
      'relayPath',
      'hostAddress',
    ]) {
      const { [field as keyof DaemonSpec]: _gone, ...rest } = GOOD;
      expect(parse(rest), field).toThrow(`has ${field} undefined`);
    }
  });

  it('shortens a huge value in its message', () => {
    const act = parse({ ...GOOD, dockerPath: 7, hostAddress: 'x'.repeat(10_000) });
    expect(act).toThrow(/dockerPath 7; expected/);
    expect(parse({ ...GOOD, hostAddress: 'x'.repeat(10_000) })).toThrow(/x…; expected an IP address$/);
  });
});

describe('parseDaemonSpec reversePorts', () => {
  it('reads reverse ports back, and a spec without them as before', () => {
    const spec = { ...GOOD, reversePorts: [{ hostPort: 5432, containerPort: 15432 }] };
    expect(parse(spec)()).toStrictEqual(spec);
    expect(parse(GOOD)()).not.toHaveProperty('reversePorts');
  });

  it.each([
    [{ reversePorts: 5432 }, 'reversePorts 5432; expected an array'],
    [{ reversePorts: [5432] }, 'reversePorts[0] 5432; expected an object'],
    [{ reversePorts: [{ hostPort: 0, containerPort: 1 }] }, 'reversePorts[0].hostPort 0; expected a port'],
    [
      { reversePorts: [{ hostPort: 1, containerPort: '2' }] },
      'reversePorts[0].containerPort "2"; expected a port',
    ],
    [
      {
        reversePorts: [
          { hostPort: 1, containerPort: 80 },
          { hostPort: 2, containerPort: 80 },
        ],
      },
      'both listen at container port 80',
    ],
  ])('refuses %j with a StateError naming the field', (change, message) => {
    const act = parse({ ...GOOD, ...change });
    expect(act).toThrow(StateError);
    expect(act).toThrow(message);
  });
});
