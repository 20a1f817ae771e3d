import { describe, expect, it } from 'vitest';
import { isLoopbackAddress } from '../../../../src/forwarding/host/host-listener.js';

describe('isLoopbackAddress', () => {
  it.each(['127.0.0.1', '127.1.2.3', '::1', '0:0:0:0:0:0:0:1', '::ffff:127.0.0.1'])('%s is loopback', (a) =>
    expect(isLoopbackAddress(a)).toBe(true),
  );
  it.each(['0.0.0.0', '::', '192.0.2.2', '172.17.0.1', 'fe80::1', '::ffff:10.0.0.1', 'localhost', ''])(
    '%s is not',
    (a) => expect(isLoopbackAddress(a)).toBe(false),
  );
});
