/**
 * Where a guest's TCP connection goes on the host (slirp4netns reference §4.5, §4.6).
 * IPv4: the gateway (network+2) is the host's 127.0.0.1 unless `--disable-host-loopback`; the
 * DNS address (network+3) port 53 is the host's nameservers, in resolv.conf order, unless
 * `--disable-dns`; every other address, inside the slirp network or not, is itself.
 * IPv6 (`-6`): fd00::3 port 53 is the host's nameservers likewise; fd00::2 and every other
 * address of fd00::/64 is the host's ::1 (libslirp translates the whole prefix), so an address
 * in the slirp prefix never becomes a host socket's destination, even where the host's own
 * interfaces carry fd00::/64 addresses; link-local, multicast, loopback, unspecified and
 * IPv4-mapped destinations are unreachable; every other address is itself.
 */

import type { Addresses } from "../../config.ts";
import type { IpAddress } from "../../wire/address.ts";
import { ipv6HostDestination } from "../ipv6_destination.ts";

/** The host's loopback address, 127.0.0.1. */
export const HOST_LOOPBACK = 0x7f000001;
/** The DNS port (RFC 1035 §4.2). */
export const DNS_PORT = 53;

/**
 * Where to connect: addresses to try in order; or nowhere, answered with ICMP net unreachable
 * (ICMPv6 no route for an IPv6 guest), as libslirp answers a refused destination.
 */
export type TcpRoute =
  | { kind: "connect"; targets: readonly IpAddress[] }
  | { kind: "unreachable" };

/** What shapes the routes. */
export interface TcpRouteConfig {
  addresses: Addresses;
  disableHostLoopback: boolean;
  disableDns: boolean;
  /**
   * The nameservers to try for DNS over TCP, first first, of either family (read when a
   * connection opens).
   */
  nameservers(now: number): readonly IpAddress[];
}

/**
 * Builds the route function the relay asks for each new connection.
 *
 * @example
 * ```ts
 * import { deriveAddresses } from "../../config.ts";
 * import { tcpRoutes } from "./routes.ts";
 * const route = tcpRoutes({
 *   addresses: deriveAddresses(0x0a000200, 24, true),
 *   disableHostLoopback: false,
 *   disableDns: false,
 *   nameservers: () => [0x7f000035],
 * });
 * route(0x0a000202, 80, 0); // { kind: "connect", targets: [0x7f000001] }
 * route(0x0a000203, 53, 0); // { kind: "connect", targets: [0x7f000035] }
 * route(0xfd00n << 112n | 2n, 80, 0); // { kind: "connect", targets: [1n] }, the host's ::1
 * ```
 */
export function tcpRoutes(
  config: TcpRouteConfig,
): (dst: IpAddress, port: number, now: number) => TcpRoute {
  const netUnreachable: TcpRoute = { kind: "unreachable" };
  const loopback4: TcpRoute = config.disableHostLoopback
    ? netUnreachable
    : { kind: "connect", targets: [HOST_LOOPBACK] };
  const { gateway, dns } = config.addresses;
  const v6 = config.addresses.ipv6;
  const nameservers = (port: number, now: number): TcpRoute => {
    // libslirp refuses other ports of the DNS address (EPERM → ICMP net unreachable).
    if (port !== DNS_PORT) return netUnreachable;
    const targets = config.nameservers(now);
    return targets.length === 0 ? netUnreachable : { kind: "connect", targets };
  };
  return (dst, port, now) => {
    if (typeof dst === "bigint") {
      if (v6 === null) return netUnreachable;
      if (dst === v6.dns && !config.disableDns) return nameservers(port, now);
      const host = ipv6HostDestination(dst, v6, config.disableHostLoopback);
      return typeof host === "bigint" ? { kind: "connect", targets: [host] } : netUnreachable;
    }
    if (dst === gateway) return loopback4;
    if (dst === dns && !config.disableDns) return nameservers(port, now);
    return { kind: "connect", targets: [dst] };
  };
}
