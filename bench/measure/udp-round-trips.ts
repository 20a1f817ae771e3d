import {
  UDP_ROUND_TRIP_BYTES,
  UDP_ROUND_TRIP_TIMEOUT_MS,
  UDP_ROUND_TRIP_WARM_UP,
  UDP_ROUND_TRIPS,
} from '../udp/config.js';
import type { Endpoint } from '../setup/topology.js';
import { nsToMs, percentile } from '../stats.js';
import { openUdpClient } from './udp-client.js';

/** One client's request/response round trips, one at a time. */
export interface RoundTripResult {
  /** Round trips answered, per second of the whole run. */
  perS: number;
  p50Us: number;
  p99Us: number;
  /** Round trips timed (answered, after the warm-up) and lost (no answer in UDP_ROUND_TRIP_TIMEOUT_MS). */
  answered: number;
  lost: number;
}

/**
 * Sends UDP_ROUND_TRIPS datagrams (after a warm-up), each once the last one's echo came back (or
 * its time ran out), and times each from send to echo.
 */
export async function measureRoundTrips(endpoint: Endpoint): Promise<RoundTripResult> {
  const socket = await openUdpClient();
  try {
    const payload = Buffer.alloc(UDP_ROUND_TRIP_BYTES);
    let waiting: ((answered: boolean) => void) | null = null;
    let expected = -1;
    socket.on('message', (message: Buffer) => {
      if (message.length >= 4 && message.readUInt32BE(0) === expected) waiting?.(true);
    });
    const once = (seq: number) =>
      new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), UDP_ROUND_TRIP_TIMEOUT_MS);
        waiting = (answered) => {
          clearTimeout(timer);
          resolve(answered);
        };
        expected = seq;
        payload.writeUInt32BE(seq, 0);
        socket.send(payload, endpoint.port, endpoint.host);
      });
    const samples: number[] = [];
    let lost = 0;
    let started = process.hrtime.bigint();
    for (let seq = 0; seq < UDP_ROUND_TRIP_WARM_UP + UDP_ROUND_TRIPS; seq++) {
      if (seq === UDP_ROUND_TRIP_WARM_UP) started = process.hrtime.bigint();
      const sentAt = process.hrtime.bigint();
      const answered = await once(seq);
      waiting = null;
      if (seq < UDP_ROUND_TRIP_WARM_UP) continue;
      if (answered) samples.push(nsToMs(process.hrtime.bigint() - sentAt) * 1000);
      else lost += 1;
    }
    const seconds = nsToMs(process.hrtime.bigint() - started) / 1000;
    if (samples.length === 0) throw new Error(`no datagram came back from ${endpoint.host}:${endpoint.port}`);
    return {
      perS: samples.length / seconds,
      p50Us: percentile(samples, 0.5),
      p99Us: percentile(samples, 0.99),
      answered: samples.length,
      lost,
    };
  } finally {
    socket.close();
  }
}
