import { describe, expect, it } from 'vitest';
import {
  channelListenerSource,
  reportedOwners,
  type ListenerReporter,
} from '../../../../src/forwarding/detect/channel-listener-source.js';
import type { ReportFrame } from '../../../../src/forwarding/detect/listener-report.js';
import type { ListenerSource } from '../../../../src/forwarding/detect/listener-source.js';
import type { SocketOwnerFinder } from '../../../../src/forwarding/detect/socket-owners.js';

const tcpLine = (port: number, inode: number) =>
  `0: 0100007F:${port.toString(16).toUpperCase().padStart(4, '0')} 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 ${inode} 1`;

function frame(full: boolean, seq: number, count: number, records: string[]): ReportFrame {
  const header = Buffer.alloc(9);
  header.writeUInt32BE(seq, 0);
  header.writeUInt32BE(count, 5);
  return { full, payload: Buffer.concat([header, Buffer.from(records.join('\n'), 'latin1')]) };
}

/** A channel that reports what the test sends, and counts the full reports asked for. */
function fakeReporter() {
  let onReport: ((frame: ReportFrame) => void) | null = null;
  const reporter = {
    asked: 0,
    watchListeners(report: (frame: ReportFrame) => void) {
      onReport = report;
      return Promise.resolve(true);
    },
    askFullReport() {
      reporter.asked += 1;
    },
    send: (next: ReportFrame) => onReport?.(next),
  };
  return reporter satisfies ListenerReporter;
}

const noExec: ListenerSource = {
  kind: 'exec',
  mayHaveChanged: () => Promise.resolve('none'),
  read: () => Promise.reject(new Error('no exec read expected')),
};

describe('channelListenerSource', () => {
  it('reads the view the reports build, and asks for a full report on a gap', async () => {
    const reporter = fakeReporter();
    const source = channelListenerSource(reporter, noExec);
    expect(await source.mayHaveChanged()).toBe('none');
    reporter.send(frame(true, 1, 1, ['r 32768 60999', `+ tcp ${tcpLine(3000, 11)}`]));
    expect(await source.mayHaveChanged()).toBe('processes');
    expect((await source.read()).map((l) => l.port)).toEqual([3000]);
    reporter.send(frame(false, 2, 2, [`+ tcp ${tcpLine(4000, 12)}`]));
    expect((await source.read()).map((l) => l.port)).toEqual([3000, 4000]);
    // Frame 3 lost: frame 4 is not applied, the last view stands, and a full report is asked for once.
    reporter.send(frame(false, 4, 1, ['- tcp 0100007F:0FA0 12']));
    reporter.send(frame(false, 5, 0, ['- tcp 0100007F:0BB8 11']));
    expect(reporter.asked).toBe(1);
    expect((await source.read()).map((l) => l.port)).toEqual([3000, 4000]);
    reporter.send(frame(true, 6, 1, ['r 32768 60999', `+ tcp ${tcpLine(5000, 13)}`]));
    expect(await source.mayHaveChanged()).toBe('processes');
    expect((await source.read()).map((l) => l.port)).toEqual([5000]);
  });

  it('gives the reported owners, and leaves sockets reported without one to the other finder', async () => {
    const reporter = fakeReporter();
    const source = channelListenerSource(reporter, noExec);
    const asked: number[][] = [];
    const other: SocketOwnerFinder = {
      find: (inodes) => {
        asked.push([...inodes]);
        return Promise.resolve(new Map([...inodes].map((inode) => [inode, 'seen by exec'])));
      },
    };
    const owners = reportedOwners(source, other);
    // No report yet: the other finder answers.
    expect(await owners.find(new Set([11]))).toEqual(new Map([[11, 'seen by exec']]));
    await source.mayHaveChanged();
    reporter.send(
      frame(true, 1, 2, [
        `+ tcp ${tcpLine(3000, 11)}`,
        `o 11 7 ${Buffer.from('python3\0-m\0http.server\0').toString('hex')}`,
        `+ tcp ${tcpLine(4000, 12)}`,
      ]),
    );
    expect(await owners.find(new Set([11, 12]))).toEqual(
      new Map([
        [11, 'python3 -m http.server'],
        [12, 'seen by exec'],
      ]),
    );
    expect(asked).toEqual([[11], [12]]);
    // A source that is not a channel's keeps the finder it was given.
    expect(reportedOwners(noExec, other)).toBe(other);
  });
});
