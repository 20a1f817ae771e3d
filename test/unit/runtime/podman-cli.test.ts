import { describe, expect, it } from 'vitest';
import { podmanStoreOf, sameEngine } from '../../../src/runtime/podman-cli.js';

const info = (graphRoot: string, runRoot: string, remote = false) =>
  JSON.stringify({ host: { serviceIsRemote: remote, arch: 'amd64' }, store: { graphRoot, runRoot } });

describe('podmanStoreOf', () => {
  it('reads the store and whether the CLI is a remote client', () => {
    expect(podmanStoreOf(info('/var/lib/containers/storage', '/run/containers/storage'))).toEqual({
      graphRoot: '/var/lib/containers/storage',
      runRoot: '/run/containers/storage',
      remote: false,
    });
    expect(podmanStoreOf(info('/g', '/r', true))?.remote).toBe(true);
  });

  it('is null for text that names no store', () => {
    expect(podmanStoreOf('not json')).toBeNull();
    expect(podmanStoreOf('null')).toBeNull();
    expect(podmanStoreOf(JSON.stringify({ store: { graphRoot: '/g' } }))).toBeNull();
    expect(podmanStoreOf(JSON.stringify({ store: { graphRoot: '', runRoot: '/r' } }))).toBeNull();
  });
});

describe('sameEngine', () => {
  const rootful = podmanStoreOf(info('/var/lib/containers/storage', '/run/containers/storage'));
  it('holds for a local CLI on the same store', () => {
    expect(sameEngine(rootful, rootful)).toBe(true);
  });

  it("fails for another user's store, a remote client, or an unknown store", () => {
    const rootless = podmanStoreOf(
      info('/home/dev/.local/share/containers/storage', '/run/user/1000/containers'),
    );
    expect(sameEngine(rootless, rootful)).toBe(false);
    expect(sameEngine(rootful, rootless)).toBe(false);
    expect(
      sameEngine(
        podmanStoreOf(info('/var/lib/containers/storage', '/run/containers/storage', true)),
        rootful,
      ),
    ).toBe(false);
    expect(sameEngine(null, rootful)).toBe(false);
    expect(sameEngine(rootful, null)).toBe(false);
  });
});
