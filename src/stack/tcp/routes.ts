/**
 * Where a guest's TCP connection goes on the host (slirp4netns reference §4.5, §4.6): the
 * gateway (network+2) is the host's 127.0.0.1 unless `--disable-host-loopback`; the DNS address
 * (network+3) port 53 is the host's nameservers, in resolv.conf order, unless `--disable-dns`;
 * every other address, inside the slirp network or not, is itself.
 */

import type { Addresses } from "../../config.ts";
import { IcmpUnreachable } from "../../wire/icmp.ts";

/** The host's loopback address, 127.0.0.1. */
export const HOST_LOOPBACK = 0x7f000001;
/** The DNS port (RFC 1035 §4.2). */
export const DNS_PORT = 53;

/** Where to connect: addresses to try in order; or the ICMP unreachable code to answer with. */
export type TcpRoute =
  | { kind: "connect"; targets: readonly number[] }
  | { kind: "unreachable"; code: number };

/** What shapes the routes. */
export interface TcpRouteConfig {
  addresses: Addresses;
  disableHostLoopback: boolean;
  disableDns: boolean;
  /** The IPv4 nameservers to try for DNS over TCP, first first (read when a connection opens). */
  nameservers(now: number): readonly number[];
}

/**
 * Builds the route function the relay asks for each new connection.
 *
 * @example
 * ```ts
 * import { deriveAddresses } from "../../config.ts";
 * import { tcpRoutes } from "./routes.ts";
 * const route = tcpRoutes({
 *   addresses: deriveAddresses(0x0a000200, 24),
 *   disableHostLoopback: false,
 *   disableDns: false,
 *   nameservers: () => [0x7f000035],
 * });
 * route(0x0a000202, 80, 0); // { kind: "connect", targets: [0x7f000001] }
 * route(0x0a000203, 53, 0); // { kind: "connect", targets: [0x7f000035] }
 * ```
 */
export function tcpRoutes(
  config: TcpRouteConfig,
): (dst: number, port: number, now: number) => TcpRoute {
  const loopback: TcpRoute = { kind: "connect", targets: [HOST_LOOPBACK] };
  const netUnreachable: TcpRoute = { kind: "unreachable", code: IcmpUnreachable.NET };
  const { gateway, dns } = config.addresses;
  return (dst, port, now) => {
    if (dst === gateway) return config.disableHostLoopback ? netUnreachable : loopback;
    if (dst === dns && !config.disableDns) {
      // libslirp refuses other ports of the DNS address (EPERM → ICMP net unreachable).
      if (port !== DNS_PORT) return netUnreachable;
      const targets = config.nameservers(now);
      return targets.length === 0 ? netUnreachable : { kind: "connect", targets };
    }
    return { kind: "connect", targets: [dst] };
  };
}
