import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readComposeProjectName } from '../../src/workspace/compose.js';

const root = mkdtempSync(path.join(tmpdir(), 'portpilot-project-name-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** A workspace folder whose Compose file is in .devcontainer, with `.env` as given. */
function workspace(name: string, dotEnv: string | 'directory' | null) {
  const folder = path.join(root, name);
  mkdirSync(path.join(folder, '.devcontainer'), { recursive: true });
  if (dotEnv === 'directory') mkdirSync(path.join(folder, '.env'));
  else if (dotEnv !== null) writeFileSync(path.join(folder, '.env'), dotEnv);
  const source = {
    kind: 'compose' as const,
    files: [path.join(folder, '.devcontainer', 'docker-compose.yml')],
    service: 'app',
    runServices: null,
  };
  return { config: { workspaceFolderHost: folder }, source };
}

describe('readComposeProjectName', () => {
  it("reads COMPOSE_PROJECT_NAME from the workspace's .env", async () => {
    const { config, source } = workspace('named', 'COMPOSE_PROJECT_NAME=Orders\n');
    expect(await readComposeProjectName(config, source, {})).toBe('orders');
    expect(await readComposeProjectName(config, source, { COMPOSE_PROJECT_NAME: 'mine' })).toBe('mine');
  });

  it('uses the folder rule when there is no .env, or .env is a folder', async () => {
    for (const [name, dotEnv] of [
      ['plain', null],
      ['odd', 'directory'],
    ] as const) {
      const { config, source } = workspace(name, dotEnv);
      expect(await readComposeProjectName(config, source, {})).toBe(`${name}_devcontainer`);
    }
  });

  it("takes the Compose files' top-level name:, the last file that sets one winning, after .env", async () => {
    const { config, source } = workspace('top-level', null);
    const second = path.join(config.workspaceFolderHost, '.devcontainer', 'docker-compose.extra.yml');
    writeFileSync(source.files[0] ?? '', "name: 'Shop'\nservices:\n  app:\n    image: x\n");
    writeFileSync(second, 'services:\n  app:\n    environment: { name: not-this }\n');
    const both = { ...source, files: [...source.files, second] };
    expect(await readComposeProjectName(config, both, {})).toBe('shop');
    writeFileSync(second, 'name: shop-dev\n');
    expect(await readComposeProjectName(config, both, {})).toBe('shop-dev');
    expect(await readComposeProjectName(config, both, { COMPOSE_PROJECT_NAME: 'env-wins' })).toBe('env-wins');
  });
});
