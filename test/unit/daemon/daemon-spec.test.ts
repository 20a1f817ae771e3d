import { describe, expect, it } from 'vitest';
import { statePaths } from '../../../src/common/state-dir.js';
import { stateDirOfSpecFile } from '../../../src/daemon/daemon-spec.js';
import { forwarderFiles } from '../../../src/daemon/marker.js';

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
