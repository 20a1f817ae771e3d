/**
 * Container ports of the UDP echo servers: bound to 0.0.0.0 (portpilot's direct path, and the
 * direct send), to 127.0.0.1 (the netns path), and a third, bound to 0.0.0.0, that `docker run -p
 * HOSTPORT:PORT/udp` publishes. Below the container's ephemeral range (32768 on), where a UDP
 * socket counts as a client's and is not auto-forwarded.
 */
export const UDP_PORTS = { direct: 25001, netns: 25002, published: 25003 } as const;
/** The cases, in table order. */
export const UDP_CASES = [
  'direct',
  'docker-proxy',
  'portpilot-direct',
  'portpilot-in-process',
  'portpilot-netns',
] as const;
/** The in-process case's forwarder is told this (its direct-path forward relayed in Node, not natively). */
export const UDP_IN_PROCESS_ENV = { PORTPILOT_UDP_RELAY: 'in-process' } as const;
export type UdpCaseName = (typeof UDP_CASES)[number];
/** The case the targets compare portpilot with. */
export const UDP_PROXY: UdpCaseName = 'docker-proxy';
/**
 * Round trips: one client per case, one datagram of this size at a time, after a warm-up, in
 * UDP_ROUND_TRIP_ROUNDS runs of UDP_ROUND_TRIPS / UDP_ROUND_TRIP_ROUNDS taken case by case in turn (on
 * a shared machine one case after the other saw the load move between them).
 */
export const UDP_ROUND_TRIPS = 5_000;
export const UDP_ROUND_TRIP_ROUNDS = 5;
export const UDP_ROUND_TRIP_WARM_UP = 100;
export const UDP_ROUND_TRIP_BYTES = 64;
/** A round trip with no answer in this long counts as lost (and the next is sent). */
export const UDP_ROUND_TRIP_TIMEOUT_MS = 500;
/** Rate runs: datagrams of this size sent at a fixed rate for this long, echoes counted until the drain ends. */
export const UDP_RATE_BYTES = 1_000;
export const UDP_RATE_SECONDS = 2;
export const UDP_RATE_DRAIN_MS = 1_000;
/**
 * The rates (datagrams/s) docker-proxy steps up through until one loses a datagram: about ×1.5 a
 * step (doubling, docker-proxy carried 2,000/s and lost at 4,000/s here, a coarse answer).
 */
/** Runs of docker-proxy at a step before the step counts as lossy (each run that lost is tried again). */
export const UDP_RATE_TRIES = 2;
export const UDP_RATE_STEPS = [
  1_000, 1_500, 2_000, 3_000, 4_000, 6_000, 8_000, 12_000, 16_000, 24_000, 32_000,
] as const;
