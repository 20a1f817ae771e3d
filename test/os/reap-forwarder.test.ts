import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ensureStateDir, makeStateSubdir, statePaths } from '../../src/common/state-dir.js';
import { forwarderFiles } from '../../src/control/marker.js';
import { reapForwarder } from '../../src/control/reap-forwarder.js';

const roots: string[] = [];
afterEach(() => Promise.all(roots.splice(0).map((root) => rm(root, { recursive: true, force: true }))));

const ID = 'a'.repeat(64);
const OTHER = 'b'.repeat(64);

describe('reapForwarder', () => {
  it("removes the SSH link sockets a killed forwarder left (engine, control, dials), and no other container's", async () => {
    const root = await mkdtemp(join(tmpdir(), 'portpilot-reap-'));
    roots.push(root);
    await ensureStateDir(root);
    const paths = statePaths(root);
    await makeStateSubdir(root, paths.forwarders);
    const mine = forwarderFiles(paths, ID).engineSocket;
    const theirs = forwarderFiles(paths, OTHER).engineSocket;
    expect(dirname(mine)).toBe(paths.forwarders);
    const left = (socket: string) => {
      const prefix = socket.replace(/\.sock$/, '');
      return [socket, `${prefix}.ctl`, `${prefix}.dial-1.sock`, `${prefix}.dial-12.sock`];
    };
    for (const file of [...left(mine), ...left(theirs)]) await writeFile(file, '');

    const warnings: string[] = [];
    const result = await reapForwarder(paths, ID, (message) => warnings.push(message));
    expect(result).toEqual({ pid: null, killed: false });
    expect((await readdir(paths.forwarders)).sort()).toEqual(
      left(theirs)
        .map((file) => basename(file))
        .sort(),
    );
    expect(warnings).toEqual([]);
  });
});
