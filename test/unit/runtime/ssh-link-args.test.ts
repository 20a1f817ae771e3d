import { describe, expect, it } from 'vitest';
import { LINK_HOLD_COMMAND, sshLinkArgs, sshProbeArgs } from '../../../src/runtime/ssh-link-args.js';

describe('sshLinkArgs', () => {
  const target = { kind: 'ssh' as const, user: 'root', host: '127.0.0.1', port: 2222 };

  it('forwards the remote engine socket to a private local one, over one connection held by the forwarder', () => {
    const args = sshLinkArgs(target, '/state/forwarders/abc.engine.sock', '/var/run/docker.sock');
    expect(args).toContain('BatchMode=yes');
    expect(args).toContain('ExitOnForwardFailure=yes');
    expect(args).toContain('StreamLocalBindMask=0177');
    expect(args).toContain('ControlPath=none');
    expect(args.some((arg) => arg.startsWith('ServerAliveInterval='))).toBe(true);
    expect(args[args.indexOf('-L') + 1]).toBe('/state/forwarders/abc.engine.sock:/var/run/docker.sock');
    expect(args[args.indexOf('-l') + 1]).toBe('root');
    expect(args[args.indexOf('-p') + 1]).toBe('2222');
    // The host after `--`, so that no host name is taken for an option; the command holds the link.
    expect(args.slice(-3)).toEqual(['--', '127.0.0.1', LINK_HOLD_COMMAND]);
    expect(args).not.toContain('-N');
  });

  it('names neither user nor port when the URL does not', () => {
    const args = sshLinkArgs({ ...target, user: null, port: null }, '/s', '/r');
    expect(args).not.toContain('-l');
    expect(args).not.toContain('-p');
  });

  it('asks the remote docker CLI for its endpoint', () => {
    const args = sshProbeArgs(target);
    expect(args.slice(-3, -1)).toEqual(['--', '127.0.0.1']);
    expect(args.at(-1)).toMatch(/^docker context inspect --format/);
    expect(args).toContain('BatchMode=yes');
  });
});
