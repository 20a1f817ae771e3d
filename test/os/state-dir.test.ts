import { chmod, lstat, mkdir, mkdtemp, rm, stat, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ensureStateDir, makeStateSubdir, statePaths } from '../../src/common/state-dir.js';

let base: string;

beforeEach(async () => {
  base = await mkdtemp(join(tmpdir(), 'portpilot-state-dir-'));
});

afterEach(async () => {
  await rm(base, { recursive: true, force: true });
});

async function modeOf(path: string): Promise<string> {
  return ((await stat(path)).mode & 0o777).toString(8);
}

describe('makeStateSubdir', () => {
  it('creates a folder of the state dir 0700', async () => {
    const paths = statePaths(join(base, 'state'));
    await ensureStateDir(paths.root);
    await makeStateSubdir(paths.root, paths.forwarders);
    expect(await modeOf(paths.forwarders)).toBe('700');
  });

  it('tightens a folder found looser (0777) to 0700, as it does the state dir itself', async () => {
    const paths = statePaths(join(base, 'state'));
    await mkdir(paths.forwarders, { recursive: true });
    await chmod(paths.root, 0o755);
    await chmod(paths.forwarders, 0o777);
    await ensureStateDir(paths.root);
    await makeStateSubdir(paths.root, paths.forwarders);
    expect(await modeOf(paths.root)).toBe('700');
    expect(await modeOf(paths.forwarders)).toBe('700');
  });

  it('never changes the mode of what a link in the state dir points at', async () => {
    const paths = statePaths(join(base, 'state'));
    const elsewhere = join(base, 'elsewhere');
    await mkdir(elsewhere, { mode: 0o755 });
    await chmod(elsewhere, 0o755);
    await ensureStateDir(paths.root);
    await symlink(elsewhere, paths.forwarders);
    await makeStateSubdir(paths.root, paths.forwarders);
    expect((await lstat(paths.forwarders)).isSymbolicLink()).toBe(true);
    expect(await modeOf(elsewhere)).toBe('755');
  });
});
