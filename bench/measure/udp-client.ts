import { createSocket, type Socket } from 'node:dgram';

// A loopback burst at tens of thousands of datagrams a second outruns Linux's default 208 KiB.
const BUFFER_BYTES = 4 << 20;

/**
 * A fresh IPv4 UDP socket on an ephemeral port of every address (a direct send to the container's
 * address must not come from 127.0.0.1); a new one per run, so that no late reply of an earlier run
 * is counted, and each run is a new session to a forwarder.
 */
export async function openUdpClient(): Promise<Socket> {
  const socket = createSocket({ type: 'udp4', recvBufferSize: BUFFER_BYTES, sendBufferSize: BUFFER_BYTES });
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(0, () => resolve());
  });
  return socket;
}
