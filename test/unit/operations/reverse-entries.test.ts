import { describe, expect, it } from 'vitest';
import { reverseEntryOf } from '../../../src/operations/reverse-entries.js';

describe('reverseEntryOf', () => {
  it('lists a reverse port with direction "reverse" and the path serving it: the container port listens, the host port is dialled', () => {
    const marker = {
      pid: 42,
      startTime: 1,
      containerId: 'a'.repeat(64),
      containerName: 'web',
      logFile: '/l',
      startedAt: '2026-12-06T06:00:00.000Z',
    };
    expect(reverseEntryOf(marker, { hostPort: 5432, containerPort: 15432, path: 'mux' })).toMatchObject({
      containerId: 'a'.repeat(64),
      containerName: 'web',
      containerPort: 15432,
      hostAddress: '127.0.0.1',
      hostPort: 5432,
      protocol: 'tcp',
      forwarderPid: 42,
      path: 'mux',
      direction: 'reverse',
    });
  });
});
