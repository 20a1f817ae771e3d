import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isOnPath } from '../../src/runtime/container-cli.js';

describe('isOnPath', () => {
  it('finds an executable file in any PATH directory, and nothing else of that name', () => {
    const root = mkdtempSync(join(tmpdir(), 'portpilot-path-'));
    const [empty, plain, exe, dir] = ['empty', 'plain', 'exe', 'dir'].map((name) => join(root, name)) as [
      string,
      string,
      string,
      string,
    ];
    for (const folder of [empty, plain, exe, dir]) mkdirSync(folder);
    writeFileSync(join(plain, 'podman'), '#!/bin/sh\n');
    chmodSync(join(plain, 'podman'), 0o644);
    writeFileSync(join(exe, 'podman'), '#!/bin/sh\n');
    chmodSync(join(exe, 'podman'), 0o755);
    mkdirSync(join(dir, 'podman'));

    expect(isOnPath('podman', [empty, plain, dir].join(delimiter))).toBe(false);
    expect(isOnPath('podman', ['', empty, plain, exe].join(delimiter))).toBe(true);
    expect(isOnPath('docker', [empty, plain, exe].join(delimiter))).toBe(false);
    expect(isOnPath('podman', '')).toBe(false);
  });
});
