import { describe, expect, it } from 'vitest';
import { trustedLabelledWorkspace, workspaceIdLabels } from '../../../src/workspace/labels.js';

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

describe('workspaceIdLabels', () => {
  it("takes up's --id-label flags, both spellings, before the container's workspace labels", () => {
    const flags = [
      '--skip-post-create',
      '--id-label',
      'team=web',
      '--id-label=app=shop',
      '--log-format',
      'json',
    ];
    expect(workspaceIdLabels(flags, labels('/w/app', '/w/app/.devcontainer.json'))).toEqual({
      team: 'web',
      app: 'shop',
    });
  });

  it("falls back to the container's folder and config file labels, or null without them", () => {
    expect(workspaceIdLabels([], labels('/w/app', '/w/app/.devcontainer.json'))).toEqual(
      labels('/w/app', '/w/app/.devcontainer.json'),
    );
    expect(workspaceIdLabels([], {})).toBeNull();
  });
});
