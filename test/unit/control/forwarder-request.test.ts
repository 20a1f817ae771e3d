import { describe, expect, it } from 'vitest';
import type { DaemonSpec } from '../../../src/control/daemon-spec.js';
import { planForwarder } from '../../../src/control/forwarder-request.js';

const attributes = {
  portsAttributes: [{ key: '3001', attributes: { onAutoForward: 'ignore' as const } }],
  otherPortsAttributes: null,
};

function spec(overrides: Partial<DaemonSpec> = {}): DaemonSpec {
  return {
    containerId: 'c0ffee',
    stateDir: '/state',
    dockerPath: 'docker',
    declared: [{ service: null, port: 3000, containerId: 'c0ffee' }],
    attributes,
    relayPath: null,
    hostAddress: '127.0.0.1',
    ...overrides,
  };
}

describe('planForwarder', () => {
  it('reuses the running forwarder for the same workspace request', () => {
    expect(planForwarder(spec(), { kind: 'workspace', spec: spec() }).changes).toEqual([]);
  });

  it('reuses it for an attach that asks for nothing new, keeping its ports and attributes', () => {
    const plan = planForwarder(spec({ relayPath: 'exec' }), {
      kind: 'attach',
      spec: spec({ declared: [], attributes: null }),
      added: [],
    });
    expect(plan.changes).toEqual([]);
    expect(plan.spec).toEqual(spec({ relayPath: 'exec' }));
  });

  it("adds an attach's declared port to the running ones and says so", () => {
    const port = { service: null, port: 9000, containerId: 'c0ffee' };
    const plan = planForwarder(spec(), {
      kind: 'attach',
      spec: spec({ declared: [port], attributes: null }),
      added: [port],
    });
    expect(plan.changes).toEqual(['declared ports added: 9000']);
    expect(plan.spec.declared.map((d) => d.port)).toEqual([3000, 9000]);
    expect(plan.spec.attributes).toEqual(attributes);
  });

  it('replaces for a workspace whose config changed, naming each change', () => {
    const plan = planForwarder(spec(), {
      kind: 'workspace',
      spec: spec({
        declared: [{ service: 'db', port: 5432, containerId: 'beef' }],
        attributes: { portsAttributes: [], otherPortsAttributes: null },
        hostAddress: '::1',
      }),
    });
    expect(plan.changes).toEqual([
      '--host-address 127.0.0.1 → ::1',
      'declared ports added: db:5432',
      'declared ports removed: 3000',
      'portsAttributes changed',
    ]);
  });

  it("keeps a running forwarder's attributes and ports for an attach whose config says otherwise", () => {
    const plan = planForwarder(spec(), {
      kind: 'attach',
      spec: spec({ declared: [], attributes: { portsAttributes: [], otherPortsAttributes: null } }),
      added: [],
    });
    expect(plan).toEqual({ spec: spec(), changes: [] });
  });

  it('replaces a forwarder whose spec cannot be read', () => {
    expect(planForwarder(null, { kind: 'attach', spec: spec(), added: [] }).changes).toHaveLength(1);
  });
});

describe('planForwarder reverse ports', () => {
  const reverse = (hostPort: number, containerPort = hostPort) => ({ hostPort, containerPort });

  it('reuses the forwarder when the reverse ports are the same, in any order', () => {
    const running = spec({ reversePorts: [reverse(1), reverse(2, 3)] });
    const wanted = spec({ reversePorts: [reverse(2, 3), reverse(1)] });
    expect(planForwarder(running, { kind: 'workspace', spec: wanted }).changes).toEqual([]);
  });

  it('replaces it when a workspace asks for another set of reverse ports', () => {
    const running = spec({ reversePorts: [reverse(1), reverse(2, 3)] });
    const wanted = spec({ reversePorts: [reverse(2, 4)] });
    expect(planForwarder(running, { kind: 'workspace', spec: wanted }).changes).toEqual([
      'reverse ports added: 2:4',
      'reverse ports removed: 1, 2:3',
    ]);
    expect(
      planForwarder(spec(), { kind: 'workspace', spec: spec({ reversePorts: [reverse(1)] }) }).changes,
    ).toEqual(['reverse ports added: 1']);
  });

  it("adds an attach's reverse ports to the running ones", () => {
    const running = spec({ reversePorts: [reverse(1)] });
    const plan = planForwarder(running, {
      kind: 'attach',
      spec: spec({ reversePorts: [reverse(2)] }),
      added: [],
    });
    expect(plan.spec.reversePorts).toEqual([reverse(1), reverse(2)]);
    expect(plan.changes).toEqual(['reverse ports added: 2']);
    const same = planForwarder(running, { kind: 'attach', spec: spec(), added: [] });
    expect(same.changes).toEqual([]);
    expect(same.spec.reversePorts).toEqual([reverse(1)]);
  });
});
