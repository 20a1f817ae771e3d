import { describe, expect, it } from 'vitest';
import {
  builtProgramName,
  compileArgs,
} from '../../../../src/forwarding/relay/native-udp/native-udp-build.js';
import {
  parseBindReply,
  targetCommand,
} from '../../../../src/forwarding/relay/native-udp/native-udp-relay.js';

describe('parseBindReply', () => {
  it('reads what the native relay says after it tried to bind', () => {
    expect(parseBindReply('bound 5353 127.0.0.1 ::1')).toEqual({
      kind: 'bound',
      port: 5353,
      addresses: ['127.0.0.1', '::1'],
    });
    expect(parseBindReply('bound 40000 127.0.0.1\n')).toEqual({
      kind: 'bound',
      port: 40000,
      addresses: ['127.0.0.1'],
    });
    expect(parseBindReply('taken EADDRINUSE')).toEqual({ kind: 'taken', code: 'EADDRINUSE' });
    expect(parseBindReply('error ::1 EINVAL')).toEqual({ kind: 'error', address: '::1', code: 'EINVAL' });
  });

  it('is null for a line the program never prints', () => {
    for (const line of [
      '',
      'bound',
      'bound 0 127.0.0.1',
      'bound 70000 127.0.0.1',
      'bound x 127.0.0.1',
      'bound 1 a b c',
      'taken',
      'error EIO',
      'hello world',
    ])
      expect(parseBindReply(line)).toBeNull();
  });
});

describe('targetCommand', () => {
  it('is a line with the address and port, or none', () => {
    expect(targetCommand({ address: '172.17.0.2', port: 53 })).toBe('target 172.17.0.2 53\n');
    expect(targetCommand({ address: 'fd00::2', port: 5353 })).toBe('target fd00::2 5353\n');
    expect(targetCommand(null)).toBe('none\n');
  });
});

describe('the native relay build', () => {
  it('names a build by its source, so a changed source is built anew', () => {
    expect(builtProgramName('int main(void){}')).toMatch(/^udp-relay-[0-9a-f]{16}$/);
    expect(builtProgramName('a')).toBe(builtProgramName('a'));
    expect(builtProgramName('a')).not.toBe(builtProgramName('b'));
  });

  it('compiles with warnings as errors', () => {
    expect(compileArgs(['/src/udp-relay.c', '/src/sessions.c'], '/state/programs/x')).toEqual([
      '-O2',
      '-std=c11',
      '-Wall',
      '-Wextra',
      '-Werror',
      '-o',
      '/state/programs/x',
      '/src/udp-relay.c',
      '/src/sessions.c',
    ]);
  });
});
