import { describe, expect, it } from 'vitest';
import { substituteString, substituteValues } from '../../../src/config/substitute-variables.js';

const CONTEXT = {
  localWorkspaceFolder: '/home/dev/my-app',
  containerWorkspaceFolder: '/workspaces/my-app',
  env: { HOME: '/home/dev', EMPTY: '' },
};

describe('substituteString', () => {
  it.each([
    ['${localWorkspaceFolder}', '/home/dev/my-app'],
    ['${localWorkspaceFolderBasename}', 'my-app'],
    ['${containerWorkspaceFolder}/src', '/workspaces/my-app/src'],
    ['${containerWorkspaceFolderBasename}', 'my-app'],
    ['${localEnv:HOME}', '/home/dev'],
    ['${env:HOME}', '/home/dev'],
    ['[${localEnv:EMPTY}]', '[]'],
    ['[${localEnv:UNSET}]', '[]'],
    ['${localEnv:UNSET:http://x:1}', 'http://x:1'],
    ['${containerEnv:PATH}', '${containerEnv:PATH}'],
    ['${devcontainerId}', '${devcontainerId}'],
    ['${localEnv}', '${localEnv}'],
    ['a ${localEnv:HOME} b ${localWorkspaceFolderBasename}', 'a /home/dev b my-app'],
  ])('%s', (text, expected) => {
    expect(substituteString(text, CONTEXT)).toBe(expected);
  });

  it('leaves container workspace variables while that folder is unknown', () => {
    const context = { ...CONTEXT, containerWorkspaceFolder: null };
    expect(substituteString('${containerWorkspaceFolder}', context)).toBe('${containerWorkspaceFolder}');
  });
});

describe('substituteValues', () => {
  it('substitutes string values, not keys or other types', () => {
    const value = { '${localEnv:HOME}': ['${localEnv:HOME}', 1, true, null, { x: '${localEnv:HOME}' }] };
    expect(substituteValues(value, CONTEXT)).toEqual({
      '${localEnv:HOME}': ['/home/dev', 1, true, null, { x: '/home/dev' }],
    });
  });
});
