import { describe, expect, it } from 'vitest';
import { ancestorProblem, ancestorsOf } from '../../../src/common/state-dir-ancestry.js';

const ME = 1000;

describe('ancestorProblem', () => {
  it('accepts directories owned by you or root that no one else can write', () => {
    expect(ancestorProblem({ uid: ME, mode: 0o40755 }, ME)).toBeNull();
    expect(ancestorProblem({ uid: 0, mode: 0o40755 }, ME)).toBeNull();
    expect(ancestorProblem({ uid: ME, mode: 0o40700 }, ME)).toBeNull();
  });

  it('accepts a sticky directory writable by others, as /tmp is', () => {
    expect(ancestorProblem({ uid: 0, mode: 0o41777 }, ME)).toBeNull();
    expect(ancestorProblem({ uid: ME, mode: 0o41775 }, ME)).toBeNull();
  });

  it('refuses one writable by everyone or its group without the sticky bit, saying which', () => {
    expect(ancestorProblem({ uid: 0, mode: 0o40777 }, ME)).toBe(
      'is writable by everyone (mode 0777) and not sticky',
    );
    expect(ancestorProblem({ uid: ME, mode: 0o40775 }, ME)).toBe(
      'is writable by its group (mode 0775) and not sticky',
    );
  });

  it("refuses one owned by another user, whatever its mode, and root's view is root's alone", () => {
    expect(ancestorProblem({ uid: 1001, mode: 0o40755 }, ME)).toBe(
      'is owned by uid 1001, neither you (uid 1000) nor root',
    );
    expect(ancestorProblem({ uid: 1001, mode: 0o41777 }, ME)).toMatch(/uid 1001/);
    expect(ancestorProblem({ uid: ME, mode: 0o40755 }, 0)).toMatch(/uid 1000, neither you \(uid 0\)/);
  });
});

describe('ancestorsOf', () => {
  it('lists every directory above a path from the root down', () => {
    expect(ancestorsOf('/home/me/.local/state/portpilot')).toEqual([
      '/',
      '/home',
      '/home/me',
      '/home/me/.local',
      '/home/me/.local/state',
    ]);
    expect(ancestorsOf('/state')).toEqual(['/']);
    expect(ancestorsOf('/')).toEqual(['/']);
  });
});
