import { describe, expect, it } from 'vitest';
import { noHelperReason } from '../../../src/daemon/reverse-ports.js';

describe('noHelperReason', () => {
  it('says why a reverse port has no namespace helper to serve it', () => {
    expect(noHelperReason(null, true)).toMatch(/on the host's network/);
    expect(noHelperReason('exec', false)).toMatch(/--relay-path exec rules out the namespace helper/);
    expect(noHelperReason('agent', false)).toMatch(/--relay-path agent rules out/);
    expect(noHelperReason(null, false)).toMatch(/cannot enter the container's network namespace/);
    expect(noHelperReason('netns', false)).toMatch(/cannot enter the container's network namespace/);
  });
});
