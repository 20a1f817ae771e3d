import { describe, expect, it } from 'vitest';
import { trustedLabelledWorkspace } from '../../../src/workspace/labels.js';

const labels = (folder: string, config: string) => ({
  'devcontainer.local_folder': folder,
  'devcontainer.config_file': config,
});

describe('trustedLabelledWorkspace', () => {
  it('gives the workspace when its config file lies inside its folder', () => {
    expect(trustedLabelledWorkspace(labels('/w/app', '/w/app/.devcontainer/devcontainer.json'))).toEqual({
      workspaceFolder: '/w/app',
      configFile: '/w/app/.devcontainer/devcontainer.json',
    });
  });

  it('refuses a config file outside the folder, a relative path, or missing labels', () => {
    expect(trustedLabelledWorkspace(labels('/w/app', '/etc/devcontainer.json'))).toBeNull();
    expect(trustedLabelledWorkspace(labels('/w/app', '/w/app/../other/devcontainer.json'))).toBeNull();
    expect(trustedLabelledWorkspace(labels('/w/app', '/w/app-evil/devcontainer.json'))).toBeNull();
    expect(trustedLabelledWorkspace(labels('w/app', 'w/app/devcontainer.json'))).toBeNull();
    expect(trustedLabelledWorkspace({ 'devcontainer.local_folder': '/w/app' })).toBeNull();
  });
});
