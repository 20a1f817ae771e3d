import { describe, expect, it } from 'vitest';
import { dockerBuildArgs, imageTagFor } from '../../../src/workspace/build-image.js';

describe('imageTagFor', () => {
  const config = {
    workspaceFolderHost: '/home/dev/My App',
    configFile: '/home/dev/My App/.devcontainer.json',
  };

  it('is portpilot-<basename>-<hash>, in the characters an image name allows', () => {
    expect(imageTagFor(config)).toMatch(/^portpilot-my-app-[0-9a-f]{12}$/);
  });

  it('is the same for the same workspace and differs between workspaces and configs', () => {
    expect(imageTagFor(config)).toBe(imageTagFor({ ...config }));
    expect(imageTagFor({ ...config, workspaceFolderHost: '/other/My App' })).not.toBe(imageTagFor(config));
    expect(imageTagFor({ ...config, configFile: '/home/dev/My App/b.json' })).not.toBe(imageTagFor(config));
  });

  it('has a name even for a folder of symbols', () => {
    expect(imageTagFor({ workspaceFolderHost: '/%%%', configFile: '/%%%/x.json' })).toMatch(
      /^portpilot-workspace-[0-9a-f]{12}$/,
    );
  });
});

describe('dockerBuildArgs', () => {
  it('builds the Dockerfile in its context with the tag', () => {
    const source = {
      kind: 'dockerfile' as const,
      dockerfile: '/w/.devcontainer/Dockerfile',
      context: '/w',
      args: {},
      target: null,
    };
    expect(dockerBuildArgs(source, 't')).toEqual([
      'build',
      '-f',
      '/w/.devcontainer/Dockerfile',
      '-t',
      't',
      '/w',
    ]);
  });

  it('passes target and build args before the context', () => {
    const source = {
      kind: 'dockerfile' as const,
      dockerfile: '/w/Dockerfile',
      context: '/w',
      args: { VERSION: '1.2', EMPTY: '' },
      target: 'dev',
    };
    expect(dockerBuildArgs(source, 't')).toEqual([
      'build',
      '-f',
      '/w/Dockerfile',
      '-t',
      't',
      '--target',
      'dev',
      '--build-arg',
      'VERSION=1.2',
      '--build-arg',
      'EMPTY=',
      '/w',
    ]);
  });
});
