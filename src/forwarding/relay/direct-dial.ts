import type { BindScope } from '../detect/proc-net-tcp.js';

/** How a listener is bound, as far as dialling it from the host goes (see groupListenersByPort). */
export interface ListenerBinding {
  scope: BindScope;
  /** The address to dial inside the container: for a wildcard, ::1 when no IPv4 wildcard socket exists. */
  dialAddress: string;
}

/**
 * Pure: true for a listener bound to the IPv6 wildcard `::` alone. It may be dual-stack or IPv6-only
 * (IPV6_V6ONLY, nginx's `listen [::]:80;`): /proc/net/tcp6 shows the two alike, so only a dial at an
 * IPv4 address tells them apart.
 */
export function isIpv6Wildcard(listener: ListenerBinding): boolean {
  return listener.scope === 'wildcard' && listener.dialAddress === '::1';
}

/**
 * Pure: the container address the host dials a listener at, or null when only a path inside the
 * container (agent, exec) reaches it. An IPv6 wildcard is dialled at the container's IPv6 address
 * when it has one (both kinds accept there); else at its IPv4 address, which a dual-stack socket
 * accepts at full speed, until `ipv4Refused` says this socket is IPv6-only.
 */
export function directDialAddress(
  addresses: readonly string[],
  listener: ListenerBinding,
  ipv4Refused: boolean,
): string | null {
  const ipv4 = addresses.find((address) => !address.includes(':')) ?? null;
  const ipv6 = addresses.find((address) => address.includes(':')) ?? null;
  if (isIpv6Wildcard(listener)) return ipv6 ?? (ipv4Refused ? null : ipv4);
  if (listener.scope === 'wildcard') return ipv4 ?? ipv6;
  if (listener.scope === 'specific' && addresses.includes(listener.dialAddress)) return listener.dialAddress;
  return null;
}

/**
 * Pure: whether a direct dial of `listener` at `address` that is refused should go on inside the
 * container instead: an IPv6 wildcard dialled at an IPv4 address may be IPv6-only.
 */
export function fallsBackWhenRefused(listener: ListenerBinding, address: string): boolean {
  return isIpv6Wildcard(listener) && !address.includes(':');
}
