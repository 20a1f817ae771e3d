import { describe, expect, it } from 'vitest';
import { isInside, labelledWorkspace, workspaceIdLabels } from '../../../src/workspace/labels.js';

const FOLDER = '/home/dev/app';
const CONFIG = '/home/dev/app/.devcontainer/devcontainer.json';
const labels = (folder: string, config: string) => ({
  'devcontainer.local_folder': folder,
  'devcontainer.config_file': config,
});
const LABELS = { 'devcontainer.local_folder': FOLDER, 'devcontainer.config_file': CONFIG };

describe('labelledWorkspace', () => {
  it('follows labels set on the container that name a config inside the folder', () => {
    expect(labelledWorkspace(LABELS, {})).toEqual({
      kind: 'workspace',
      workspaceFolder: FOLDER,
      configFile: CONFIG,
    });
  });

  it('has nothing to follow without both labels', () => {
    expect(labelledWorkspace({ 'devcontainer.local_folder': FOLDER }, {})).toEqual({ kind: 'none' });
  });

  it('refuses a config file outside the folder, by .. or elsewhere', () => {
    for (const configFile of [
      '/tmp/planted.json',
      `${FOLDER}/../other/devcontainer.json`,
      `${FOLDER}-x/d.json`,
    ]) {
      const verdict = labelledWorkspace({ ...LABELS, 'devcontainer.config_file': configFile }, {});
      expect(verdict).toMatchObject({ kind: 'refused', reason: expect.stringContaining('outside') });
    }
  });

  it('refuses labels that came from the image', () => {
    const verdict = labelledWorkspace(LABELS, { 'devcontainer.config_file': CONFIG });
    expect(verdict).toMatchObject({ kind: 'refused', reason: expect.stringContaining('from its image') });
  });

  it('refuses relative paths', () => {
    const verdict = labelledWorkspace({ ...LABELS, 'devcontainer.local_folder': 'app' }, {});
    expect(verdict.kind).toBe('refused');
  });
});

describe('isInside', () => {
  it('is true only strictly inside', () => {
    expect(isInside('/a/b', '/a/b/c')).toBe(true);
    expect(isInside('/a/b', '/a/b')).toBe(false);
    expect(isInside('/a/b', '/a/bc')).toBe(false);
    expect(isInside('/a/b', '/a/b/../c')).toBe(false);
    expect(isInside('/a/b', '/a/b/..foo')).toBe(true);
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
