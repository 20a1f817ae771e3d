import { describe, expect, it } from 'vitest';
import { ForwarderError } from '../../../../../src/common/errors.js';
import {
  AGENT_HEADER_BYTES,
  AGENT_MAGIC,
  AGENT_TOKEN_BYTES,
  agentArgv,
  encodeAgentHeader,
  parseAgentReady,
} from '../../../../../src/forwarding/relay/agent/agent-protocol.js';

const TOKEN = Buffer.from(Array.from({ length: AGENT_TOKEN_BYTES }, (_, i) => i + 1));

function addressField(header: Buffer): string {
  return header.subarray(4 + AGENT_TOKEN_BYTES, 4 + AGENT_TOKEN_BYTES + 16).toString('hex');
}

describe('encodeAgentHeader', () => {
  it('lays out magic, token, address and big-endian port in a fixed size', () => {
    const header = encodeAgentHeader(TOKEN, '127.0.0.1', 0x1f90);
    expect(header.length).toBe(AGENT_HEADER_BYTES);
    expect(header.subarray(0, 4).toString('latin1')).toBe(AGENT_MAGIC);
    expect(header.subarray(4, 4 + AGENT_TOKEN_BYTES).equals(TOKEN)).toBe(true);
    expect(header.subarray(-2).toString('hex')).toBe('1f90');
  });

  it('writes IPv4 as its IPv4-mapped IPv6 form', () => {
    expect(addressField(encodeAgentHeader(TOKEN, '127.0.0.1', 80))).toBe('00000000000000000000ffff7f000001');
    expect(addressField(encodeAgentHeader(TOKEN, '10.1.2.255', 80))).toBe('00000000000000000000ffff0a0102ff');
  });

  it.each([
    ['::1', '00000000000000000000000000000001'],
    ['::', '00000000000000000000000000000000'],
    ['fd00::2', 'fd000000000000000000000000000002'],
    ['2001:db8:0:0:1:0:0:1', '20010db8000000000001000000000001'],
    ['2001:db8::1:0:0:1', '20010db8000000000001000000000001'],
    ['fe80::1:2', 'fe800000000000000000000000010002'],
    ['::ffff:192.0.2.1', '00000000000000000000ffffc0000201'],
  ])('expands the IPv6 address %s', (address, hex) => {
    expect(addressField(encodeAgentHeader(TOKEN, address, 80))).toBe(hex);
  });

  it('takes port 0 (a ping) and every TCP port, and nothing else', () => {
    expect(encodeAgentHeader(TOKEN, '::1', 0).subarray(-2).toString('hex')).toBe('0000');
    expect(encodeAgentHeader(TOKEN, '::1', 65_535).subarray(-2).toString('hex')).toBe('ffff');
    for (const port of [-1, 65_536, 1.5, Number.NaN]) {
      expect(() => encodeAgentHeader(TOKEN, '::1', port)).toThrow(ForwarderError);
    }
  });

  it('refuses a token of the wrong size and anything but an IP address', () => {
    expect(() => encodeAgentHeader(TOKEN.subarray(1), '127.0.0.1', 80)).toThrow(/token has 31 bytes/);
    expect(() => encodeAgentHeader(TOKEN, 'localhost', 80)).toThrow(ForwarderError);
    expect(() => encodeAgentHeader(TOKEN, 'fe80::1%eth0', 80)).toThrow(ForwarderError);
  });

  it('is pure: the same input gives the same bytes', () => {
    expect(encodeAgentHeader(TOKEN, '::1', 8080).equals(encodeAgentHeader(TOKEN, '::1', 8080))).toBe(true);
  });
});

describe('agentArgv', () => {
  it('runs python3 isolated, or perl, with the listen address and the allowed peer', () => {
    const python = agentArgv('python3', '172.17.0.2', '172.17.0.1');
    expect(python.slice(0, 4)).toEqual(['python3', '-I', '-S', '-c']);
    expect(python.slice(-2)).toEqual(['172.17.0.2', '172.17.0.1']);
    const perl = agentArgv('perl', 'fd00::2', null);
    expect(perl.slice(0, 2)).toEqual(['perl', '-e']);
    expect(perl.slice(-2)).toEqual(['fd00::2', '']);
  });

  it('keeps each program readable and short', () => {
    for (const interpreter of ['python3', 'perl'] as const) {
      const program = agentArgv(interpreter, '172.17.0.2', null)[interpreter === 'python3' ? 4 : 2] ?? '';
      expect(program.startsWith('# portpilot relay agent')).toBe(true);
      expect(program.split('\n').length).toBeLessThan(200);
      // The interpolated constants all made it in: no template text is left.
      expect(program).not.toContain('${');
    }
  });

  it('refuses addresses that are not IP addresses', () => {
    expect(() => agentArgv('python3', 'container', null)).toThrow(ForwarderError);
    expect(() => agentArgv('perl', '172.17.0.2', 'gateway')).toThrow(ForwarderError);
  });
});

describe('parseAgentReady', () => {
  it('reads the port from the agent first line', () => {
    expect(parseAgentReady('{"port": 41234}')).toBe(41_234);
    expect(parseAgentReady(' {"port":1} ')).toBe(1);
  });

  it('returns null for anything else', () => {
    for (const line of ['', 'Traceback (most recent call last):', '{"port": 0}', '{"port": 70000}', '{}']) {
      expect(parseAgentReady(line)).toBeNull();
    }
  });
});
