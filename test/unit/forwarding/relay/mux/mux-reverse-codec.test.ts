import { describe, expect, it } from 'vitest';
import { MUX_FRAME_TYPES, MuxProtocolError } from '../../../../../src/forwarding/relay/mux/mux-codec.js';
import {
  MUX_AGENT_STREAM_FIRST,
  MUX_REVERSE_FRAME_TYPES,
  decodeAccept,
  decodeListen,
  encodeAccept,
  encodeListen,
  isAgentStream,
  listenFailureErrno,
} from '../../../../../src/forwarding/relay/mux/mux-reverse-codec.js';

describe('the reverse frames of the mux protocol', () => {
  it('take types 13 to 19, apart from the streams’ own', () => {
    const types = Object.values(MUX_REVERSE_FRAME_TYPES);
    expect([...types].sort((a, b) => a - b)).toEqual([13, 14, 15, 16, 17, 18, 19]);
    for (const type of types) expect(Object.values(MUX_FRAME_TYPES)).not.toContain(type);
  });

  it('give the agent the stream ids with the high bit set', () => {
    expect(MUX_AGENT_STREAM_FIRST).toBe(0x8000_0000);
    expect(isAgentStream(0x8000_0000)).toBe(true);
    expect(isAgentStream(0xffff_ffff)).toBe(true);
    expect(isAgentStream(1)).toBe(false);
    expect(isAgentStream(0x7fff_ffff)).toBe(false);
  });

  it('encode LISTEN as OPEN is, port then address, on the loopback only', () => {
    expect(encodeListen('127.0.0.1', 5432).toString('hex')).toBe(
      '1538' + Buffer.from('127.0.0.1').toString('hex'),
    );
    expect(decodeListen(encodeListen('::1', 80))).toEqual({ address: '::1', port: 80 });
    expect(() => encodeListen('0.0.0.0', 80)).toThrow(MuxProtocolError);
    expect(() => encodeListen('127.0.0.1', 0)).toThrow(MuxProtocolError);
    expect(decodeListen(Buffer.from([1]))).toBeNull();
  });

  it('encode ACCEPT as the listener id', () => {
    expect(encodeAccept(7).toString('hex')).toBe('00000007');
    expect(decodeAccept(encodeAccept(0xfeed_beef))).toBe(0xfeed_beef);
    expect(decodeAccept(Buffer.from([0, 1]))).toBeNull();
  });

  it('read the errno name a LISTEN_FAIL reason starts with', () => {
    expect(listenFailureErrno('EADDRINUSE (Address already in use)')).toBe('EADDRINUSE');
    expect(listenFailureErrno('EADDRNOTAVAIL (Cannot assign requested address)')).toBe('EADDRNOTAVAIL');
    expect(listenFailureErrno('malformed LISTEN')).toBeNull();
  });
});
