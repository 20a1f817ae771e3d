import { describe, expect, it } from 'vitest';
import { findHostAddress } from '../../src/forwarding/relay/agent/agent-process.js';

describe('findHostAddress', () => {
  it("names the host's own address on the route to the destination", async () => {
    expect(await findHostAddress('127.0.0.1')).toBe('127.0.0.1');
    expect(await findHostAddress('127.0.0.2')).toBe('127.0.0.1');
  });

  it('returns null when the address cannot be routed to', async () => {
    // 0.0.0.0 and the IPv4 broadcast address are never a route for a unicast connect.
    expect(await findHostAddress('255.255.255.255')).toBeNull();
  });
});
