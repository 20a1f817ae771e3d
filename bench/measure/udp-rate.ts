import { setTimeout as sleep } from 'node:timers/promises';
import type { Endpoint } from '../setup/topology.js';
import { nsToMs } from '../stats.js';
import { UDP_RATE_BYTES, UDP_RATE_DRAIN_MS, UDP_RATE_SECONDS } from '../udp/config.js';
import { openUdpClient } from './udp-client.js';

/** Datagrams sent at a fixed rate through a path to an echo server, and how many came back. */
export interface RateResult {
  /** Datagrams per second asked for, and sent (the sender may fall behind on a busy machine). */
  ratePerS: number;
  sentPerS: number;
  sent: number;
  /** Distinct datagrams echoed back before the drain ended. */
  echoed: number;
  /** 1 − echoed / sent. */
  loss: number;
  /** Echoed bytes per second of the sending time, 10^6 bytes. */
  echoedMbPerS: number;
}

/**
 * Sends UDP_RATE_BYTES datagrams, each numbered, at `ratePerS` for UDP_RATE_SECONDS (paced against
 * the clock, a burst each turn of the event loop to catch up), then waits UDP_RATE_DRAIN_MS for the
 * last echoes, and counts the distinct ones that came back.
 */
export async function measureRate(endpoint: Endpoint, ratePerS: number): Promise<RateResult> {
  const socket = await openUdpClient();
  try {
    const seen = new Set<number>();
    socket.on('message', (message: Buffer) => {
      if (message.length >= 4) seen.add(message.readUInt32BE(0));
    });
    const total = Math.round(ratePerS * UDP_RATE_SECONDS);
    const started = process.hrtime.bigint();
    let sent = 0;
    while (sent < total) {
      const due = Math.min(total, Math.floor((nsToMs(process.hrtime.bigint() - started) / 1000) * ratePerS));
      for (; sent < due; sent++) {
        const payload = Buffer.alloc(UDP_RATE_BYTES);
        payload.writeUInt32BE(sent, 0);
        socket.send(payload, endpoint.port, endpoint.host);
      }
      await new Promise((resolve) => setImmediate(resolve));
    }
    const seconds = nsToMs(process.hrtime.bigint() - started) / 1000;
    await sleep(UDP_RATE_DRAIN_MS);
    const echoed = seen.size;
    return {
      ratePerS,
      sentPerS: sent / seconds,
      sent,
      echoed,
      loss: 1 - echoed / sent,
      echoedMbPerS: (echoed * UDP_RATE_BYTES) / 1e6 / seconds,
    };
  } finally {
    socket.close();
  }
}
