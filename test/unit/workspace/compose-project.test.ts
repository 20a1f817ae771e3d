import { describe, expect, it } from 'vitest';
import { KEEP_ALIVE_SCRIPT } from '../../../src/workspace/keep-alive.js';
import {
  FALLBACK_PROJECT_NAME,
  composeFileVersion,
  composeMount,
  composeOverride,
  composeProjectName,
  type ComposeSource,
} from '../../../src/workspace/compose-project.js';

const WORKSPACE = '/home/dev/My Shop.v2';

function source(files: string[]): ComposeSource {
  return { kind: 'compose', files, service: 'app', runServices: null };
}

describe('composeProjectName', () => {
  it('is <workspace>_devcontainer when the first Compose file is in .devcontainer', () => {
    const name = composeProjectName(
      { workspaceFolderHost: WORKSPACE },
      source([`${WORKSPACE}/.devcontainer/docker-compose.yml`, '/elsewhere/extra.yml']),
      {},
    );
    expect(name).toBe('myshopv2_devcontainer');
  });

  it("is the first Compose file's folder name otherwise", () => {
    const name = composeProjectName(
      { workspaceFolderHost: WORKSPACE },
      source(['/srv/Stack-1/compose.yml']),
      {},
    );
    expect(name).toBe('stack-1');
  });

  it('takes COMPOSE_PROJECT_NAME first, cleaned the same way', () => {
    const env = { COMPOSE_PROJECT_NAME: 'Team_Env!' };
    expect(composeProjectName({ workspaceFolderHost: WORKSPACE }, source(['/a/b.yml']), env)).toBe(
      'team_env',
    );
  });

  it("takes COMPOSE_PROJECT_NAME from the workspace's .env next, the environment's winning", () => {
    const dotEnv = '# local settings\nDB_PORT=5432\nCOMPOSE_PROJECT_NAME= Shop-Dev \nOTHER=1\n';
    const compose = source([`${WORKSPACE}/.devcontainer/docker-compose.yml`]);
    expect(composeProjectName({ workspaceFolderHost: WORKSPACE }, compose, {}, dotEnv)).toBe('shop-dev');
    expect(
      composeProjectName({ workspaceFolderHost: WORKSPACE }, compose, { COMPOSE_PROJECT_NAME: 'ci' }, dotEnv),
    ).toBe('ci');
    // Set to nothing usable, or not at line start: the folder rule.
    for (const text of ['COMPOSE_PROJECT_NAME=!!\n', '# COMPOSE_PROJECT_NAME=x\n', 'DB=1\n', '']) {
      expect(composeProjectName({ workspaceFolderHost: WORKSPACE }, compose, {}, text)).toBe(
        'myshopv2_devcontainer',
      );
    }
  });

  it('falls back to a fixed name when nothing usable is left', () => {
    expect(composeProjectName({ workspaceFolderHost: WORKSPACE }, source(['/...///x.yml']), {})).toBe(
      FALLBACK_PROJECT_NAME,
    );
  });
});

describe('composeFileVersion', () => {
  it('reads a quoted or bare top-level version', () => {
    expect(composeFileVersion('version: "3.8"\nservices: {}\n')).toBe('3.8');
    expect(composeFileVersion("# c\nversion: '2.4' # old\n")).toBe('2.4');
    expect(composeFileVersion('version: 3\n')).toBe('3');
  });

  it('ignores an indented version (a service property) and a file without one', () => {
    expect(composeFileVersion('services:\n  app:\n    version: 1\n')).toBeNull();
    expect(composeFileVersion('services: {}\n')).toBeNull();
  });
});

describe('composeOverride', () => {
  const base = {
    service: 'app',
    labels: {
      'devcontainer.local_folder': '/w',
      'devcontainer.config_file': '/w/.devcontainer/devcontainer.json',
    },
    overrideCommand: false,
    containerEnv: {},
    containerUser: null,
    version: null,
  };

  it('labels the service so its container is found again, and adds nothing else by default', () => {
    expect(composeOverride(base)).toEqual({
      services: {
        app: {
          labels: {
            'devcontainer.local_folder': '/w',
            'devcontainer.config_file': '/w/.devcontainer/devcontainer.json',
          },
        },
      },
    });
  });

  it('replaces the entrypoint with the keep-alive when overrideCommand is true, $ doubled for Compose', () => {
    const service = (
      composeOverride({ ...base, overrideCommand: true }).services as Record<string, { entrypoint: string[] }>
    ).app;
    expect(service.entrypoint).toEqual(['/bin/sh', '-c', KEEP_ALIVE_SCRIPT.replace(/\$/g, '$$$$'), '-']);
    expect(service.entrypoint[2]).toContain('wait $$!');
  });

  it('adds containerEnv and containerUser, and repeats the version', () => {
    const override = composeOverride({
      ...base,
      containerEnv: { PRICE: '$5', HOME_DIR: '${HOME}' },
      containerUser: 'dev',
      version: '3.8',
    });
    expect(override.version).toBe('3.8');
    expect(override.services).toMatchObject({
      app: { environment: { PRICE: '$$5', HOME_DIR: '$${HOME}' }, user: 'dev' },
    });
  });

  it('doubles $ in label values too', () => {
    const override = composeOverride({ ...base, labels: { a: 'x$y' } });
    expect(override.services).toEqual({ app: { labels: { a: 'x$$y' } } });
  });
});

describe('composeMount', () => {
  it('turns a bind mount into a short-syntax volumes entry, read-only kept', () => {
    expect(composeMount('source=/home/dev/.ssh,target=/root/.ssh,type=bind')).toEqual({
      kind: 'volume',
      entry: '/home/dev/.ssh:/root/.ssh',
      named: null,
    });
    expect(composeMount('type=bind,src=/srv/data,dst=/data,readonly')).toEqual({
      kind: 'volume',
      entry: '/srv/data:/data:ro',
      named: null,
    });
  });

  it('declares a named volume (external when it says so); a mount without type is a volume, as for docker', () => {
    expect(composeMount('source=node_modules,target=/w/node_modules,type=volume')).toEqual({
      kind: 'volume',
      entry: 'node_modules:/w/node_modules',
      named: { name: 'node_modules', external: false },
    });
    expect(composeMount('src=shared-cache,destination=/cache,external=true')).toEqual({
      kind: 'volume',
      entry: 'shared-cache:/cache',
      named: { name: 'shared-cache', external: true },
    });
    expect(composeMount('type=volume,target=/scratch')).toEqual({
      kind: 'volume',
      entry: '/scratch',
      named: null,
    });
  });

  it('gives tmpfs mounts as tmpfs entries, and doubles $ for Compose', () => {
    expect(composeMount('type=tmpfs,target=/run/cache')).toEqual({ kind: 'tmpfs', target: '/run/cache' });
    expect(composeMount('type=bind,source=/home/a$b,target=/x')).toMatchObject({ entry: '/home/a$$b:/x' });
  });

  it('refuses a mount with no target or an unknown type, naming it', () => {
    for (const bad of ['type=bind,source=/a', 'type=npipe,source=x,target=/y', '']) {
      expect(() => composeMount(bad)).toThrow(`mounts: '${bad}' cannot be given to Compose`);
    }
  });
});

describe('composeOverride with mounts', () => {
  it('adds volumes, tmpfs and the named volumes to declare', () => {
    const override = composeOverride({
      service: 'app',
      labels: {},
      overrideCommand: false,
      containerEnv: {},
      containerUser: null,
      version: '3.8',
      mounts: [
        'source=/home/dev/.ssh,target=/root/.ssh,type=bind,readonly',
        'source=cache,target=/cache,type=volume',
        'source=shared,target=/shared,type=volume,external=true',
        'type=tmpfs,target=/tmp/fast',
      ],
    });
    expect(override).toEqual({
      version: '3.8',
      services: {
        app: {
          labels: {},
          volumes: ['/home/dev/.ssh:/root/.ssh:ro', 'cache:/cache', 'shared:/shared'],
          tmpfs: ['/tmp/fast'],
        },
      },
      volumes: { cache: {}, shared: { external: true } },
    });
  });
});
