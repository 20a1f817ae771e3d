import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { UsageError } from '../../../src/common/errors.js';
import { findConfigFile } from '../../../src/config/find-config.js';

let workspace: string;

beforeEach(async () => {
  workspace = await mkdtemp(path.join(tmpdir(), 'portpilot-config-'));
});

afterEach(async () => {
  await rm(workspace, { recursive: true, force: true });
});

async function write(relative: string, text: string): Promise<string> {
  const file = path.join(workspace, relative);
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, text);
  return file;
}

async function rejection(promise: Promise<unknown>): Promise<UsageError> {
  const error: unknown = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(UsageError);
  return error as UsageError;
}

describe('findConfigFile', () => {
  it('prefers .devcontainer/devcontainer.json over .devcontainer.json', async () => {
    const nested = await write('.devcontainer/devcontainer.json', '{}');
    await write('.devcontainer.json', '{}');
    expect(await findConfigFile(workspace)).toBe(nested);
  });

  it('falls back to .devcontainer.json', async () => {
    const flat = await write('.devcontainer.json', '{}');
    expect(await findConfigFile(workspace)).toBe(flat);
  });

  it('uses --config when given, ignoring the defaults', async () => {
    await write('.devcontainer/devcontainer.json', '{}');
    const other = await write('configs/dev.json', '{}');
    expect(await findConfigFile(workspace, other)).toBe(other);
  });

  it('names the paths it looked at and the fix when there is none', async () => {
    const error = await rejection(findConfigFile(workspace));
    expect(error.code).toBe('CONFIG_NOT_FOUND');
    expect(error.message).toContain(path.join(workspace, '.devcontainer', 'devcontainer.json'));
    expect(error.message).toContain(path.join(workspace, '.devcontainer.json'));
    expect(error.description).toContain('--config');
  });

  it('does not take a directory named devcontainer.json', async () => {
    await mkdir(path.join(workspace, '.devcontainer', 'devcontainer.json'), { recursive: true });
    expect((await rejection(findConfigFile(workspace))).code).toBe('CONFIG_NOT_FOUND');
  });

  it('rejects a --config that does not exist', async () => {
    const missing = path.join(workspace, 'nope.json');
    const error = await rejection(findConfigFile(workspace, missing));
    expect(error.code).toBe('CONFIG_NOT_FOUND');
    expect(error.message).toBe(`--config ${missing}: no such file`);
  });
});
