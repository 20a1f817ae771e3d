import { describe, expect, it } from 'vitest';
import { fallsToMux, reversePathOf } from '../../../src/daemon/reverse-ports.js';

const none = { netns: false, mux: false, hostNetwork: false };

describe('reversePathOf', () => {
  it('takes the namespace helper where one may run, else the mux channel', () => {
    expect(reversePathOf({ ...none, netns: true, mux: true }, null)).toEqual({ path: 'netns' });
    expect(reversePathOf({ ...none, mux: true }, null)).toEqual({ path: 'mux' });
    expect(reversePathOf({ ...none, mux: true }, 'mux')).toEqual({ path: 'mux' });
    expect(reversePathOf({ ...none, netns: true }, 'netns')).toEqual({ path: 'netns' });
  });

  it('says why a reverse port has nothing to serve it', () => {
    const reason = (means: Partial<typeof none>, relayPath: Parameters<typeof reversePathOf>[1]) => {
      const chosen = reversePathOf({ ...none, ...means }, relayPath);
      return chosen.path === null ? chosen.reason : `served by ${chosen.path}`;
    };
    expect(reason({ hostNetwork: true, netns: true }, null)).toMatch(/on the host's network/);
    expect(reason({}, 'exec')).toMatch(
      /--relay-path exec rules out the namespace helper and the mux channel, which serve reverse ports/,
    );
    expect(reason({}, 'agent')).toMatch(/--relay-path agent rules out/);
    expect(reason({}, null)).toMatch(/cannot enter the container's network namespace.*no python3 or perl/);
    expect(reason({}, 'netns')).toMatch(/cannot enter the container's network namespace/);
    expect(reason({}, 'mux')).toMatch(/^the container has no python3 or perl to run the mux agent$/);
  });
});

describe('fallsToMux', () => {
  it('moves a port to the mux channel only when the helper cannot start and the container has a channel', () => {
    expect(fallsToMux(false, true)).toBe(true);
    // The helper runs: the port is taken in the container, which the channel could not have either.
    expect(fallsToMux(true, true)).toBe(false);
    expect(fallsToMux(false, false)).toBe(false);
  });
});
