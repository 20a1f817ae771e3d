import { describe, expect, it } from 'vitest';
import { parseReferenceResult } from '../../../src/devcontainer/reference-cli.js';

describe('parseReferenceResult', () => {
  it("reads the reference CLI's result: the last JSON object line of its stdout", () => {
    const stdout =
      '{"type":"text"}\nnot json\n{"outcome":"success","containerId":"abc","remoteUser":"vscode"}\n';
    expect(parseReferenceResult(stdout)).toEqual({
      outcome: 'success',
      containerId: 'abc',
      remoteUser: 'vscode',
    });
  });

  it('gives null for output with no JSON object line', () => {
    expect(parseReferenceResult('')).toBeNull();
    expect(parseReferenceResult('[1,2]\n{broken\n')).toBeNull();
  });
});
