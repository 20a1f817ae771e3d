import { describe, expect, it } from 'vitest';
import {
  helperArgv,
  namespaceAccess,
  ownsUidMap,
} from '../../../../../src/forwarding/relay/netns/netns-access.js';
import {
  isHelperAccepted,
  isHelperReply,
  isHelperRequest,
} from '../../../../../src/forwarding/relay/netns/helper-protocol.js';

const INIT_NS = 'user:[4026531837]';
const ROOTLESS_NS = 'user:[4026532501]';
const ROOTLESS_MAP = '         0       1000          1\n         1     100000      65536\n';
const IDENTITY_MAP = '         0          0 4294967295\n';

describe('namespaceAccess', () => {
  const base = {
    euid: 0,
    proven: true,
    ownUserNs: INIT_NS,
    containerUserNs: INIT_NS,
    containerUidMap: IDENTITY_MAP,
  };

  it('lets root enter a rootful container, or a rootless one, with --net alone', () => {
    expect(namespaceAccess(base)).toEqual({ allowed: true, nsenterFlags: [] });
    expect(namespaceAccess({ ...base, containerUserNs: ROOTLESS_NS, containerUidMap: ROOTLESS_MAP })).toEqual(
      {
        allowed: true,
        nsenterFlags: [],
      },
    );
  });

  it("lets a rootless engine's own user enter through its user namespace, keeping its credentials", () => {
    expect(
      namespaceAccess({ ...base, euid: 1000, containerUserNs: ROOTLESS_NS, containerUidMap: ROOTLESS_MAP }),
    ).toEqual({ allowed: true, nsenterFlags: ['--user', '--preserve-credentials'] });
  });

  it('refuses any other user, and any container whose init is not proven here', () => {
    expect(
      namespaceAccess({ ...base, euid: 1001, containerUserNs: ROOTLESS_NS, containerUidMap: ROOTLESS_MAP }),
    ).toMatchObject({ allowed: false, reason: expect.stringContaining('uid 1001') });
    // A rootful container, a user who is not root.
    expect(namespaceAccess({ ...base, euid: 1000 })).toMatchObject({ allowed: false });
    expect(namespaceAccess({ ...base, proven: false })).toMatchObject({
      allowed: false,
      reason: expect.stringContaining('not proven'),
    });
  });
});

describe('ownsUidMap', () => {
  it("is true only where the namespace's root is the uid", () => {
    expect(ownsUidMap(ROOTLESS_MAP, 1000)).toBe(true);
    expect(ownsUidMap(ROOTLESS_MAP, 100000)).toBe(false);
    expect(ownsUidMap(IDENTITY_MAP, 1000)).toBe(false);
    expect(ownsUidMap('', 1000)).toBe(false);
  });
});

describe('helperArgv', () => {
  it('enters the network namespace (after the user namespace, when asked) and runs node there', () => {
    expect(helperArgv(42, [], '/usr/bin/node', '/x/netns-helper.js')).toEqual([
      'nsenter',
      '--target',
      '42',
      '--net',
      '--',
      '/usr/bin/node',
      '/x/netns-helper.js',
    ]);
    expect(helperArgv(42, ['--user', '--preserve-credentials'], 'node', 'h.js').slice(3, 6)).toEqual([
      '--user',
      '--preserve-credentials',
      '--net',
    ]);
  });
});

describe('the helper protocol', () => {
  it('takes well-formed connect, listen, close and udp requests only', () => {
    expect(isHelperRequest({ id: 1, op: 'connect', host: '::1', port: 80 })).toBe(true);
    expect(isHelperRequest({ id: 1, op: 'connect', host: '::1', port: 0 })).toBe(false);
    expect(isHelperRequest({ id: 1, op: 'connect', host: '::1', port: 65536 })).toBe(false);
    expect(isHelperRequest({ id: 1, op: 'listen', host: '::1', port: 80 })).toBe(true);
    expect(isHelperRequest({ id: 1, op: 'listen', host: '::1', port: 0 })).toBe(false);
    expect(isHelperRequest({ id: 1, op: 'bind', host: '::1', port: 80 })).toBe(false);
    expect(isHelperRequest({ id: 2, op: 'close', listen: 1 })).toBe(true);
    expect(isHelperRequest({ id: 2, op: 'close', listen: '1' })).toBe(false);
    expect(isHelperAccepted({ accepted: 1 })).toBe(true);
    expect(isHelperAccepted({ id: 1 })).toBe(false);
    expect(isHelperRequest({ id: '1', op: 'connect', host: '::1', port: 80 })).toBe(false);
    expect(isHelperRequest(null)).toBe(false);
    expect(isHelperRequest({ id: 2, op: 'udp', host: '127.0.0.1' })).toBe(true);
    expect(isHelperRequest({ id: 2, op: 'udp', host: '::1' })).toBe(true);
    expect(isHelperRequest({ id: 2, op: 'udp', host: 'localhost' })).toBe(false);
    expect(isHelperReply({ id: 3 })).toBe(true);
    expect(isHelperReply({ id: 3, error: 'connect ECONNREFUSED', code: 'ECONNREFUSED' })).toBe(true);
    expect(isHelperReply({ ready: true })).toBe(false);
  });
});
