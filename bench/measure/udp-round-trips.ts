import type { Socket } from 'node:dgram';
import type { Endpoint } from '../setup/topology.js';
import { nsToMs, percentile } from '../stats.js';
import { UDP_ROUND_TRIP_BYTES, UDP_ROUND_TRIP_TIMEOUT_MS } from '../udp/config.js';
import { openUdpClient } from './udp-client.js';

/** One client's request/response round trips, one at a time. */
export interface RoundTripResult {
  /** Round trips answered per second of the time spent on them. */
  perS: number;
  p50Us: number;
  p99Us: number;
  /** Round trips timed (answered) and lost (no answer in UDP_ROUND_TRIP_TIMEOUT_MS). */
  answered: number;
  lost: number;
}

/** What a run of round trips found: each answered one's time, how many were lost, and how long it took. */
export interface RoundTripTally {
  samplesUs: number[];
  lost: number;
  seconds: number;
}

/** One client of one path: its socket stays open across runs (one session through a forwarder). */
export interface RoundTripper {
  /** Sends `count` datagrams, each once the last one's echo came back or its time ran out. */
  run(count: number): Promise<RoundTripTally>;
  close(): void;
}

function roundTrip(socket: Socket, endpoint: Endpoint, payload: Buffer, seq: number): Promise<boolean> {
  return new Promise((resolve) => {
    const onMessage = (message: Buffer) => {
      if (message.length < 4 || message.readUInt32BE(0) !== seq) return;
      finish(true);
    };
    const finish = (answered: boolean) => {
      clearTimeout(timer);
      socket.off('message', onMessage);
      resolve(answered);
    };
    const timer = setTimeout(() => finish(false), UDP_ROUND_TRIP_TIMEOUT_MS);
    socket.on('message', onMessage);
    payload.writeUInt32BE(seq, 0);
    socket.send(payload, endpoint.port, endpoint.host);
  });
}

/** Opens a client toward the endpoint for round trips of UDP_ROUND_TRIP_BYTES datagrams. */
export async function openRoundTripper(endpoint: Endpoint): Promise<RoundTripper> {
  const socket = await openUdpClient();
  const payload = Buffer.alloc(UDP_ROUND_TRIP_BYTES);
  let seq = 0;
  return {
    async run(count) {
      const tally: RoundTripTally = { samplesUs: [], lost: 0, seconds: 0 };
      const started = process.hrtime.bigint();
      for (let i = 0; i < count; i++) {
        const sentAt = process.hrtime.bigint();
        if (await roundTrip(socket, endpoint, payload, seq++))
          tally.samplesUs.push(nsToMs(process.hrtime.bigint() - sentAt) * 1000);
        else tally.lost += 1;
      }
      tally.seconds = nsToMs(process.hrtime.bigint() - started) / 1000;
      return tally;
    },
    close: () => socket.close(),
  };
}

/** Pure: the figures of several runs of one path, taken together; throws when none was answered. */
export function roundTripResult(tallies: readonly RoundTripTally[]): RoundTripResult {
  const samples = tallies.flatMap((tally) => tally.samplesUs);
  const seconds = tallies.reduce((sum, tally) => sum + tally.seconds, 0);
  if (samples.length === 0) throw new Error('no datagram came back');
  return {
    perS: samples.length / seconds,
    p50Us: percentile(samples, 0.5),
    p99Us: percentile(samples, 0.99),
    answered: samples.length,
    lost: tallies.reduce((sum, tally) => sum + tally.lost, 0),
  };
}
