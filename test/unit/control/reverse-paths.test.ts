import { describe, expect, it } from 'vitest';
import { parseReversePaths } from '../../../src/control/reverse-paths.js';

describe('parseReversePaths', () => {
  it('reads the served reverse ports with their paths', () => {
    const text = JSON.stringify([
      { hostPort: 5432, containerPort: 15432, path: 'mux' },
      { hostPort: 6379, containerPort: 6379, path: 'netns' },
    ]);
    expect(parseReversePaths(text)).toEqual([
      { hostPort: 5432, containerPort: 15432, path: 'mux' },
      { hostPort: 6379, containerPort: 6379, path: 'netns' },
    ]);
    expect(parseReversePaths('[]')).toEqual([]);
  });

  it('refuses a file that is not one: not JSON, not a list, a bad port or path', () => {
    expect(parseReversePaths('{')).toBeNull();
    expect(parseReversePaths('{}')).toBeNull();
    expect(parseReversePaths(JSON.stringify([{ hostPort: 0, containerPort: 1, path: 'mux' }]))).toBeNull();
    expect(parseReversePaths(JSON.stringify([{ hostPort: 1, containerPort: 1, path: 'exec' }]))).toBeNull();
    expect(parseReversePaths(JSON.stringify([null]))).toBeNull();
  });
});
