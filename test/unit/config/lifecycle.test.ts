import { describe, expect, it } from 'vitest';
import { UsageError } from '../../../src/common/errors.js';
import { lifecycleInvocations, parseLifecycleCommand } from '../../../src/config/lifecycle.js';

describe('lifecycleInvocations', () => {
  it('runs a string through /bin/sh -c', () => {
    expect(lifecycleInvocations({ kind: 'shell', command: 'npm ci && npm test' })).toEqual([
      { name: null, argv: ['/bin/sh', '-c', 'npm ci && npm test'] },
    ]);
  });

  it('runs an array as argv, without a shell', () => {
    expect(lifecycleInvocations({ kind: 'argv', argv: ['echo', "foo='bar'"] })).toEqual([
      { name: null, argv: ['echo', "foo='bar'"] },
    ]);
  });

  it('gives one named invocation per parallel entry', () => {
    const invocations = lifecycleInvocations({
      kind: 'parallel',
      commands: {
        server: { kind: 'shell', command: 'npm start' },
        db: { kind: 'argv', argv: ['mysql', '-u', 'root', '-p', 'my database'] },
      },
    });
    expect(invocations).toEqual([
      { name: 'server', argv: ['/bin/sh', '-c', 'npm start'] },
      { name: 'db', argv: ['mysql', '-u', 'root', '-p', 'my database'] },
    ]);
  });
});

describe('parseLifecycleCommand', () => {
  it('reads the three forms', () => {
    expect(parseLifecycleCommand('make', 'p')).toEqual({ kind: 'shell', command: 'make' });
    expect(parseLifecycleCommand(['make', 'all'], 'p')).toEqual({ kind: 'argv', argv: ['make', 'all'] });
    expect(parseLifecycleCommand({ a: 'x', b: ['y'] }, 'p')).toEqual({
      kind: 'parallel',
      commands: { a: { kind: 'shell', command: 'x' }, b: { kind: 'argv', argv: ['y'] } },
    });
  });

  it('treats empty commands as none, as the Dev Containers CLI skips them', () => {
    expect(parseLifecycleCommand('', 'p')).toBeNull();
    expect(parseLifecycleCommand([], 'p')).toBeNull();
    expect(parseLifecycleCommand({}, 'p')).toBeNull();
    expect(parseLifecycleCommand({ a: '', b: ['x'] }, 'p')).toEqual({
      kind: 'parallel',
      commands: { b: { kind: 'argv', argv: ['x'] } },
    });
  });

  it.each([5, true, ['a', 1], { a: 5 }, { a: { b: 'c' } }, { a: ['x', null] }])('rejects %j', (value) => {
    expect(() => parseLifecycleCommand(value, 'postCreateCommand')).toThrow(UsageError);
  });
});
