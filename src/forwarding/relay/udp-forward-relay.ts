import { errorMessage, PortpilotError } from '../../common/errors.js';
import type { ProcessRunner } from '../../runtime/process-runner.js';
import { DEFAULT_BIND_ADDRESS, type HostListener } from '../host/host-listener.js';
import { startNativeUdpRelay, type NativeUdpRelay } from './native-udp/native-udp-relay.js';
import { bindUdpRelay, MAX_UDP_SESSIONS, sessionIdleMs, type UdpRelayOptions } from './udp-relay.js';

/** How often a native relay's target is looked at again (a new container address reaches it this late). */
export const NATIVE_TARGET_POLL_MS = 250;

/** Sources whose program started and said nothing (it cannot run here): their forwards relay in-process. */
const cannotRun = new WeakSet<NativeUdpRelaySource>();

/** The native UDP relay where it can be had: its program (null: none) and the runner that starts it. */
export interface NativeUdpRelaySource {
  program: () => Promise<string | null>;
  runner: ProcessRunner;
}

/**
 * A UDP forward's host sockets and relay. A forward whose datagrams go straight to the container's
 * address (the direct path) is relayed by the native program (native-udp/udp-relay.c: no JavaScript
 * turn per datagram, the round trips of Docker's own proxy or better), told where to send as that
 * changes; every other forward, or any where the program cannot be had, by the in-process relay
 * (udp-relay.ts). A native relay whose forward comes to need the in-process one (the server turned
 * out to be on the container's loopback), or that dies, hands its port over to it.
 */
export async function bindUdpForwardRelay(
  options: UdpRelayOptions,
  native: NativeUdpRelaySource | null,
): Promise<HostListener | null> {
  const log = options.log ?? (() => {});
  const first = options.target();
  if (native === null || first === null || first.open !== undefined || cannotRun.has(native)) {
    return bindUdpRelay(options);
  }
  const program = await native.program();
  if (program === null) return bindUdpRelay(options);
  let relay: NativeUdpRelay | null;
  try {
    relay = await startNativeUdpRelay(program, native.runner, {
      bindAddress: options.bindAddress ?? DEFAULT_BIND_ADDRESS,
      port: options.port,
      idleMs: options.idleMs ?? sessionIdleMs(process.env),
      maxSessions: MAX_UDP_SESSIONS,
      onStderr: (text) => log('native udp relay said', { port: options.port, text: text.trim() }),
    });
  } catch (error) {
    // A program that does not run at all is not tried again for the next forward.
    if (error instanceof PortpilotError && error.code === 'FORWARDER_FAILED') cannotRun.add(native);
    log('native udp relay did not start: relaying in-process', { error: errorMessage(error) });
    return bindUdpRelay(options);
  }
  if (relay === null) return null;
  return followTarget(relay, options);
}

function followTarget(relay: NativeUdpRelay, options: UdpRelayOptions): HostListener {
  const log = options.log ?? (() => {});
  let inProcess: Promise<HostListener | null> | null = null;
  let closing: Promise<void> | undefined;
  const handOver = (why: string) => {
    if (inProcess || closing) return;
    clearInterval(poll);
    log(`udp port ${relay.port} moves to the in-process relay: ${why}`);
    inProcess = relay.close().then(async () => {
      const bound = await bindUdpRelay({ ...options, port: relay.port }).catch(() => null);
      if (bound === null) log('udp port lost to another program while it moved', { port: relay.port });
      return bound;
    });
  };
  const look = () => {
    const target = options.target();
    if (target !== null && target.open !== undefined) handOver('its datagrams now go through the container');
    else relay.setTarget(target && { address: target.address, port: target.port });
  };
  look();
  const poll = setInterval(look, NATIVE_TARGET_POLL_MS);
  poll.unref();
  void relay.exited.then((code) => {
    if (!closing) handOver(`the native relay exited (${code})`);
  });
  const close = () =>
    (closing ??= (async () => {
      clearInterval(poll);
      await relay.close();
      await (await inProcess)?.close();
    })());
  return {
    port: relay.port,
    addresses: relay.addresses,
    // As the in-process relay: a datagram has no connection to outlive the forward.
    withdraw: close,
    close,
  };
}
