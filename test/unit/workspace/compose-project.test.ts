import { describe, expect, it } from 'vitest';
import {
  FALLBACK_PROJECT_NAME,
  composeFileName,
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

describe('composeFileName', () => {
  it("reads a Compose file's top-level name:, not a service's", () => {
    expect(composeFileName("name: 'Shop'\nservices:\n  app:\n    image: x\n")).toBe('Shop');
    expect(composeFileName('services:\n  app:\n    environment:\n      name: x\n')).toBeNull();
  });

  it('comes before the folder rule, after COMPOSE_PROJECT_NAME and .env', () => {
    const files = source([`${WORKSPACE}/.devcontainer/docker-compose.yml`]);
    expect(composeProjectName({ workspaceFolderHost: WORKSPACE }, files, {}, null, 'Shop')).toBe('shop');
    expect(
      composeProjectName({ workspaceFolderHost: WORKSPACE }, files, {}, 'COMPOSE_PROJECT_NAME=dot\n', 'Shop'),
    ).toBe('dot');
  });
});
