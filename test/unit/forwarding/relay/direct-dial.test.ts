import { describe, expect, it } from 'vitest';
import {
  directDialAddress,
  fallsBackWhenRefused,
  isIpv6Wildcard,
} from '../../../../src/forwarding/relay/direct-dial.js';
import { groupListenersByPort, parseProcNetTcp } from '../../../../src/forwarding/detect/proc-net-tcp.js';

const V4 = '172.17.0.2';
const V6 = 'fd00::2';
const HEADER =
  '  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n';
// Port 80 on '::' (IPv6-only and dual-stack print alike), and port 81 on '::' and 0.0.0.0 both.
const TCP6 = `${HEADER}   0: 00000000000000000000000000000000:0050 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 101 1 0000000000000000 100 0 0 10 0
   1: 00000000000000000000000000000000:0051 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 102 1 0000000000000000 100 0 0 10 0
`;
const TCP = `${HEADER}   0: 00000000:0051 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 103 1 0000000000000000 100 0 0 10 0
`;

describe('isIpv6Wildcard', () => {
  it("is true for a port bound to '::' alone, as read from /proc/net/tcp6", () => {
    const [v6Only, both] = groupListenersByPort([...parseProcNetTcp(TCP6, 6), ...parseProcNetTcp(TCP, 4)]);
    expect(v6Only?.port).toBe(80);
    expect(isIpv6Wildcard(v6Only!)).toBe(true);
    expect(both?.port).toBe(81);
    expect(isIpv6Wildcard(both!)).toBe(false);
    expect(isIpv6Wildcard({ scope: 'loopback', dialAddress: '::1' })).toBe(false);
  });
});

describe('directDialAddress', () => {
  const ipv6Wildcard = { scope: 'wildcard', dialAddress: '::1' } as const;
  const ipv4Wildcard = { scope: 'wildcard', dialAddress: '127.0.0.1' } as const;

  it("dials an IPv6 wildcard at the container's IPv6 address when it has one", () => {
    expect(directDialAddress([V4, V6], ipv6Wildcard, false)).toBe(V6);
    expect(directDialAddress([V4, V6], ipv6Wildcard, true)).toBe(V6);
  });

  it('dials it at the IPv4 address (dual-stack, fast) until that was refused, then not directly', () => {
    expect(directDialAddress([V4], ipv6Wildcard, false)).toBe(V4);
    expect(directDialAddress([V4], ipv6Wildcard, true)).toBeNull();
  });

  it('dials an IPv4 wildcard at the IPv4 address, a specific address there only, loopback never', () => {
    expect(directDialAddress([V6, V4], ipv4Wildcard, false)).toBe(V4);
    expect(directDialAddress([V4], { scope: 'specific', dialAddress: V4 }, false)).toBe(V4);
    expect(directDialAddress([V4], { scope: 'specific', dialAddress: '10.0.0.9' }, false)).toBeNull();
    expect(directDialAddress([V4, V6], { scope: 'loopback', dialAddress: '127.0.0.1' }, false)).toBeNull();
    expect(directDialAddress([], ipv6Wildcard, false)).toBeNull();
  });
});

describe('fallsBackWhenRefused', () => {
  it('only for an IPv6 wildcard dialled at an IPv4 address', () => {
    expect(fallsBackWhenRefused({ scope: 'wildcard', dialAddress: '::1' }, V4)).toBe(true);
    expect(fallsBackWhenRefused({ scope: 'wildcard', dialAddress: '::1' }, V6)).toBe(false);
    expect(fallsBackWhenRefused({ scope: 'wildcard', dialAddress: '127.0.0.1' }, V4)).toBe(false);
    expect(fallsBackWhenRefused({ scope: 'specific', dialAddress: V4 }, V4)).toBe(false);
  });
});
