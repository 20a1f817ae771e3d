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
