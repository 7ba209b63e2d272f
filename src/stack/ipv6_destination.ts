/**
 * Where a guest's IPv6 packet to `dst` leads on the host: the one rule TCP, UDP and ICMP echo
 * share (libslirp's translation, slirp4netns reference §4.6, and stricter). fd00::2 and every
 * other address of fd00::/64 stand for the host's ::1, so an address of the slirp prefix never
 * becomes a host socket's destination (the machine's own interfaces may carry fd00::/64
 * addresses); with `--disable-host-loopback` they are refused. Unspecified, loopback, IPv4-mapped,
 * multicast and link-local destinations lead nowhere. Everything else is itself. The DNS address
 * (fd00::3) and the gateway's own services are each protocol's to decide before asking.
 */

import type { Ipv6Addresses } from "../config.ts";
import { inIpv6Prefix, IPV6_LOOPBACK } from "../wire/address.ts";
import { isLinkLocalIpv6, isSpecialIpv6 } from "../wire/ipv6.ts";

/** The host address to use; `refused` (answer ICMPv6 no route); `invalid` (drop and count). */
export type Ipv6Destination = bigint | "refused" | "invalid";

/**
 * The host side of a guest destination.
 *
 * @example
 * ```ts
 * import { IPV6_ADDRESSES } from "../config.ts";
 * import { ipv6HostDestination } from "./ipv6_destination.ts";
 * ipv6HostDestination(0xfd00n << 112n | 0x1234n, IPV6_ADDRESSES, false); // 1n, the host's ::1
 * ipv6HostDestination(0xfe80n << 112n | 1n, IPV6_ADDRESSES, false); // "invalid"
 * ```
 */
export function ipv6HostDestination(
  dst: bigint,
  v6: Ipv6Addresses,
  disableHostLoopback: boolean,
): Ipv6Destination {
  if (inIpv6Prefix(dst, v6.prefix, v6.prefixLength)) {
    return disableHostLoopback ? "refused" : IPV6_LOOPBACK;
  }
  return isSpecialIpv6(dst) || isLinkLocalIpv6(dst) ? "invalid" : dst;
}

/**
 * Whether a host sender's IPv6 address may reach the guest as itself: the other direction of
 * `ipv6HostDestination`. Addresses the guest could not tell from its own network (fd00::/64) or
 * could not answer (special, link-local) may not; ::1 is each protocol's to map to an alias.
 */
export function isHostIpv6Peer(address: bigint, v6: Ipv6Addresses): boolean {
  return !isSpecialIpv6(address) && !isLinkLocalIpv6(address) &&
    !inIpv6Prefix(address, v6.prefix, v6.prefixLength);
}
