import { describe, expect, it } from 'vitest';
import { specForReplacement } from '../../../src/daemon/follow-workspace.js';
import type { DaemonSpec } from '../../../src/control/daemon-spec.js';

const OLD = 'a'.repeat(64);
const NEW = 'b'.repeat(64);
const DB = 'c'.repeat(64);

describe('specForReplacement', () => {
  it('moves the ports declared in the replaced container to the new one, and keeps the rest', () => {
    const spec: DaemonSpec = {
      containerId: OLD,
      stateDir: '/s',
      dockerPath: 'docker',
      declared: [
        { service: null, port: 3000, containerId: OLD },
        { service: 'db', port: 5432, containerId: DB },
      ],
      attributes: {
        portsAttributes: [{ key: '3000', attributes: { label: 'web' } }],
        otherPortsAttributes: null,
      },
      relayPath: null,
      hostAddress: '127.0.0.1',
      follow: { 'devcontainer.local_folder': '/w' },
    };
    expect(specForReplacement(spec, NEW)).toEqual({
      ...spec,
      containerId: NEW,
      declared: [
        { service: null, port: 3000, containerId: NEW },
        { service: 'db', port: 5432, containerId: DB },
      ],
    });
  });
});
