import { describe, expect, it } from 'vitest';
import { UsageError } from '../../../src/common/errors.js';
import { refuseBothScopes } from '../../../src/operations/scope.js';

describe('refuseBothScopes', () => {
  it('refuses --container-id together with --workspace-folder, as every command that takes both does', () => {
    const both = () => refuseBothScopes({ containerId: 'web', workspaceFolder: '/src/app' });
    expect(both).toThrow(UsageError);
    expect(both).toThrow('give --container-id or --workspace-folder, not both');
  });

  it('takes either one alone, or neither (given as absent or null)', () => {
    expect(() => refuseBothScopes({ containerId: 'web' })).not.toThrow();
    expect(() => refuseBothScopes({ containerId: null, workspaceFolder: '/src/app' })).not.toThrow();
    expect(() => refuseBothScopes({})).not.toThrow();
  });
});
