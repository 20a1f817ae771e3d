import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { StateError } from '../../src/common/errors.js';
import { ensureStateDir } from '../../src/common/state-dir.js';

const made: string[] = [];
afterAll(() => {
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
});

/** A fresh private directory under the system's temporary directory. */
function scratch(): string {
  const dir = mkdtempSync(join(tmpdir(), 'portpilot-ancestry-'));
  made.push(dir);
  return dir;
}

async function refusal(root: string): Promise<StateError> {
  const error: unknown = await ensureStateDir(root).then(
    () => null,
    (rejected: unknown) => rejected,
  );
  if (!(error instanceof StateError)) throw new Error(`ensureStateDir(${root}) did not refuse it`);
  return error;
}

describe('ensureStateDir, the directories above the state dir', () => {
  it('refuses one under a world-writable, non-sticky directory, naming that directory and the fix, and creates nothing', async () => {
    const open = join(scratch(), 'shared');
    mkdirSync(open);
    chmodSync(open, 0o777);
    const root = join(open, 'state', 'portpilot');
    const error = await refusal(root);
    expect(error.code).toBe('STATE_DIR_UNUSABLE');
    expect(error.message).toContain(root);
    expect(error.message).toContain(`${open} above it is writable by everyone (mode 0777) and not sticky`);
    expect(error.description).toContain(`chmod go-w '${open}'`);
    expect(error.description).toMatch(/--state-dir|PORTPILOT_STATE_DIR/);
    expect(existsSync(join(open, 'state'))).toBe(false);
  });

  it('refuses one under a group-writable, non-sticky directory', async () => {
    const group = join(scratch(), 'group');
    mkdirSync(group, { mode: 0o775 });
    chmodSync(group, 0o775);
    expect((await refusal(join(group, 'state'))).message).toContain('writable by its group');
  });

  it('follows a symlink above the state dir and judges where it leads', async () => {
    const base = scratch();
    const open = join(base, 'open');
    mkdirSync(open);
    chmodSync(open, 0o777);
    symlinkSync(open, join(base, 'link'));
    const error = await refusal(join(base, 'link', 'state'));
    expect(error.message).toContain(`${open} above it`);
  });

  it('accepts one under a sticky world-writable directory (as /tmp), and missing parents it creates itself', async () => {
    const sticky = join(scratch(), 'sticky');
    mkdirSync(sticky);
    chmodSync(sticky, 0o1777);
    const root = join(sticky, 'a', 'b', 'portpilot');
    await ensureStateDir(root);
    expect(existsSync(root)).toBe(true);
    // A linked parent that leads somewhere safe is fine too.
    const base = scratch();
    symlinkSync(sticky, join(base, 'link'));
    await ensureStateDir(join(base, 'link', 'portpilot'));
  });
});
