import { describe, expect, it } from 'vitest';
import {
  LINK_HOLD_COMMAND,
  sshDialForwardArgs,
  sshLinkArgs,
  sshProbeArgs,
} from '../../../src/runtime/ssh-link-args.js';

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

describe('the link as the master of its control socket', () => {
  const target = { kind: 'ssh' as const, user: 'root', host: 'build-box', port: 2222 };

  it('makes the link the master of a control socket of its own, saying why sshd refuses a channel', () => {
    const args = sshLinkArgs(target, '/s/abc.engine.sock', '/var/run/docker.sock', '/s/abc.engine.ctl');
    expect(args).toContain('ControlMaster=yes');
    expect(args).toContain('ControlPath=/s/abc.engine.ctl');
    expect(args).toContain('LogLevel=INFO');
    expect(args).not.toContain('ControlPath=none');
    expect(args.slice(-3)).toEqual(['--', 'build-box', LINK_HOLD_COMMAND]);
  });

  it('adds and withdraws a forward of a private socket to a container address through it', () => {
    const add = sshDialForwardArgs(target, '/s/c.ctl', 'forward', '/s/d-1.sock', '172.17.0.2', 8080);
    expect(add[add.indexOf('-O') + 1]).toBe('forward');
    expect(add[add.indexOf('-L') + 1]).toBe('/s/d-1.sock:172.17.0.2:8080');
    expect(add).toContain('ControlPath=/s/c.ctl');
    // A client of the master, never a master of its own.
    expect(add).toContain('ControlMaster=no');
    expect(add.slice(-2)).toEqual(['--', 'build-box']);
    const cancel = sshDialForwardArgs(target, '/s/c.ctl', 'cancel', '/s/d-1.sock', 'fd00::2', 80);
    expect(cancel[cancel.indexOf('-O') + 1]).toBe('cancel');
    expect(cancel[cancel.indexOf('-L') + 1]).toBe('/s/d-1.sock:[fd00::2]:80');
  });
});
