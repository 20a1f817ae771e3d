import { describe, expect, it } from 'vitest';
import {
  EMPTY_VIEW,
  applyReport,
  keyOfLine,
  listenersOfView,
  type ReportFrame,
  type ReportedView,
} from '../../../../src/forwarding/detect/listener-report.js';

const TCP_3000 =
  '0: 0100007F:0BB8 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1001 1 0000000000000000 100 0 0 10 0';
const TCP6_8080 =
  '1: 00000000000000000000000000000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1002 1 0000000000000000 100 0 0 10 0';
const UDP_5353 =
  '2: 00000000:14E9 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 1003 2 0000000000000000 0';
const DNS_TCP =
  '3: 0B00007F:A1B2 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1004 1 0000000000000000 100 0 0 10 0';
const hex = (text: string) => Buffer.from(text, 'utf8').toString('hex');

/** A report frame as the agent writes it: sequence number, more, count, then the records. */
function frame(full: boolean, seq: number, count: number, records: string[], more = 0): ReportFrame {
  const header = Buffer.alloc(9);
  header.writeUInt32BE(seq, 0);
  header.writeUInt8(more, 4);
  header.writeUInt32BE(count, 5);
  return { full, payload: Buffer.concat([header, Buffer.from(records.join('\n'), 'latin1')]) };
}

function apply(view: ReportedView, ...frames: ReportFrame[]) {
  const outcomes = [];
  for (const next of frames) {
    const result = applyReport(view, next);
    view = result.view;
    outcomes.push(result.outcome);
  }
  return { view, outcomes };
}

const ports = (view: ReportedView) => listenersOfView(view).map((l) => `${l.protocol ?? 'tcp'}/${l.port}`);

const FULL = frame(true, 7, 2, [
  'r 32768 60999',
  `+ tcp ${TCP_3000}`,
  `o 1001 42 ${hex(['node', 'server.js', '--port', '3000', ''].join('\0'))}`,
  `+ tcp6 ${TCP6_8080}`,
]);

describe('applyReport', () => {
  it('takes a full report as the view, with each socket keyed by table, address and inode', () => {
    const { view, outcomes } = apply(EMPTY_VIEW, FULL);
    expect(outcomes).toEqual(['applied']);
    expect([...view.sockets.keys()]).toEqual([
      'tcp 0100007F:0BB8 1001',
      'tcp6 00000000000000000000000000000000:1F90 1002',
    ]);
    expect(ports(view)).toEqual(['tcp/3000', 'tcp/8080']);
    // The command line as the local path shows it: arguments joined by spaces.
    expect(view.owners.get(1001)).toEqual({ pid: 42, commandLine: 'node server.js --port 3000' });
    expect(view.expected).toBe(8);
  });

  it('applies what was added and removed, in order of the sequence numbers', () => {
    const { view, outcomes } = apply(
      EMPTY_VIEW,
      FULL,
      frame(false, 8, 3, [`+ udp ${UDP_5353}`, `o 1003 50 ${hex('dnsmasq\0')}`]),
      frame(false, 9, 2, ['- tcp 0100007F:0BB8 1001']),
    );
    expect(outcomes).toEqual(['applied', 'applied', 'applied']);
    expect(ports(view)).toEqual(['tcp/8080', 'udp/5353']);
    // The owner of a socket gone goes with it.
    expect([...view.owners.keys()]).toEqual([1003]);
  });

  it('on a gap in the numbers keeps the last view and waits for a full report', () => {
    const first = apply(EMPTY_VIEW, FULL).view;
    const gap = applyReport(first, frame(false, 10, 3, [`+ udp ${UDP_5353}`]));
    expect(gap.outcome).toBe('resync');
    expect(ports(gap.view)).toEqual(['tcp/3000', 'tcp/8080']);
    expect(gap.view.expected).toBeNull();
    // Changes that come before the full report are not applied to a view that missed some.
    const later = applyReport(gap.view, frame(false, 11, 1, ['- tcp 0100007F:0BB8 1001']));
    expect(later.outcome).toBe('ignored');
    expect(later.view).toBe(gap.view);
    // The full report (any number) replaces the view and the numbering goes on from it.
    const resync = apply(
      later.view,
      frame(true, 12, 1, ['r 32768 60999', `+ udp ${UDP_5353}`]),
      frame(false, 13, 0, ['- udp 00000000:14E9 1003']),
    );
    expect(resync.outcomes).toEqual(['applied', 'applied']);
    expect(ports(resync.view)).toEqual([]);
  });

  it('asks for a full report for changes before any full report', () => {
    expect(applyReport(EMPTY_VIEW, frame(false, 1, 1, [`+ tcp ${TCP_3000}`])).outcome).toBe('ignored');
  });

  it.each([
    ['a count that is not the view', frame(false, 8, 5, [`+ udp ${UDP_5353}`])],
    ['a removal of a socket not in the view', frame(false, 8, 1, ['- tcp 0100007F:1234 99'])],
    ['an addition of a socket already there', frame(false, 8, 3, [`+ tcp ${TCP_3000}`])],
    ['a line that is not a table line', frame(false, 8, 3, ['+ tcp 0: garbage'])],
    ['an unknown table', frame(false, 8, 3, [`+ raw ${UDP_5353}`])],
    ['an unknown record', frame(false, 8, 2, ['x 1 2'])],
    ['an owner that is not hex', frame(false, 8, 2, ['o 1001 42 zz'])],
    ['a header cut short', { full: false, payload: Buffer.from([0, 0, 0, 8]) }],
    ['a more flag that is not 0 or 1', frame(false, 8, 2, [], 7)],
  ])('asks for a full report on %s, applying none of the frame', (_, bad) => {
    const first = apply(EMPTY_VIEW, FULL).view;
    const result = applyReport(first, bad);
    expect(result.outcome).toBe('resync');
    expect(result.view.sockets).toBe(first.sockets);
    expect(result.view.owners).toBe(first.owners);
  });

  it('holds a report cut into frames as partial until its last frame, checking the count then', () => {
    const { view, outcomes } = apply(
      EMPTY_VIEW,
      frame(true, 1, 3, ['r 32768 60999', `+ tcp ${TCP_3000}`], 1),
      frame(false, 2, 3, [`+ tcp6 ${TCP6_8080}`], 1),
      frame(false, 3, 3, [`+ udp ${UDP_5353}`]),
    );
    expect(outcomes).toEqual(['partial', 'partial', 'applied']);
    expect(ports(view)).toEqual(['tcp/3000', 'tcp/8080', 'udp/5353']);
  });

  it('numbers wrap past 2^32 - 1', () => {
    const { outcomes } = apply(
      EMPTY_VIEW,
      frame(true, 0xffff_ffff, 0, ['r 32768 60999']),
      frame(false, 0, 1, [`+ tcp ${TCP_3000}`]),
    );
    expect(outcomes).toEqual(['applied', 'applied']);
  });
});

describe('listenersOfView', () => {
  it("leaves out the engine's DNS server and UDP ports in the reported ephemeral range", () => {
    const { view } = apply(
      EMPTY_VIEW,
      frame(true, 1, 3, ['r 5000 6000', `+ tcp ${DNS_TCP}`, `+ tcp ${TCP_3000}`, `+ udp ${UDP_5353}`]),
    );
    expect(ports(view)).toEqual(['tcp/3000']);
  });
});

describe('keyOfLine', () => {
  it('keys a socket by its table, local address and inode, not its slot or queues', () => {
    const moved = TCP_3000.replace('0:', '17:').replace('00000000:00000000', '00000000:00000003');
    expect(keyOfLine('tcp', moved)).toBe(keyOfLine('tcp', TCP_3000));
    expect(keyOfLine('tcp', 'sl local_address')).toBeNull();
  });
});
