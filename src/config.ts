/**
 * The configuration of one network, as the command line or a library caller gives it, and the
 * addresses derived from it (slirp4netns defaults: 10.0.2.0/24, gateway N+2, DNS N+3, DHCP
 * N+15..N+30, recommended guest address N+100; with IPv6, fd00::/64 with fd00::2 and fd00::3).
 */
import { prefixToMask } from "./wire/address.ts";

/** Where the tap device comes from. */
export type TapTarget =
  /** Join the namespaces of a process: /proc/PID/ns/{user,net}. */
  | { kind: "pid"; pid: number; tapName: string }
  /** Join the network namespace at a path (e.g. /run/netns/x or /proc/PID/ns/net). */
  | { kind: "path"; netnsPath: string; tapName: string }
  /** Use an inherited, already open tap fd (slirp4netns 1.3 `--netns-type=tapfd`). */
  | { kind: "tapfd"; fd: number }
  /**
   * `--target-type=bess`: listen on an AF_UNIX SOCK_SEQPACKET socket at `socketPath` and use the
   * one client that connects as the link, one Ethernet frame per packet (src/link/bess.ts).
   */
  | { kind: "bess"; socketPath: string };

/** Everything that shapes one network. Addresses are 32-bit numbers (see wire/address.ts). */
export interface Config {
  /** The namespace to serve and the tap to make there, or an inherited tap fd. */
  target: TapTarget;
  /** User namespace to join before the network namespace; default /proc/PID/ns/user for pid targets. */
  userNsPath?: string;
  /** Bring up lo and the tap, set MTU, MAC, address and default route (`-c`). */
  configure: boolean;
  /** Link MTU, 68..65521. */
  mtu: number;
  /** Network address (host bits zero), `--cidr`. */
  network: number;
  /** Prefix length 1..25, `--cidr`. */
  prefix: number;
  /** MAC for the tap (`--macaddress`, only with configure); up to 6 bytes as slirp4netns accepts. */
  macAddress?: Uint8Array;
  /** 10.0.2.2 does not reach the host's 127.0.0.1. */
  disableHostLoopback: boolean;
  /** Write "1" here when everything is up. */
  readyFd?: number;
  /** Exit 0 on any poll event on this fd. */
  exitFd?: number;
  /** Path of the port-forwarding API socket (`--api-socket`). */
  apiSocket?: string;
  /** `--pcap`: capture every frame of the tap into this file (src/link/capture.ts). */
  pcap?: string;
  /** IPv6 on the link (`-6`). */
  enableIpv6: boolean;
  /** `--enable-sandbox`. */
  enableSandbox: boolean;
  /** `--enable-seccomp`. */
  enableSeccomp: boolean;
  /** Source address for outgoing IPv4 sockets, a literal (`--outbound-addr`). */
  outboundAddr?: string;
  /** `--outbound-addr6`, resolved: IPv6 UDP and ping sockets (and TCP) are bound to it. */
  outboundAddr6?: bigint;
  /** 10.0.2.3 is no DNS forwarder (`--disable-dns`). */
  disableDns: boolean;
}

/** The defaults slirp4netns uses for everything but the target. */
export const DEFAULTS = {
  configure: false,
  mtu: 1500,
  network: 0x0a000200,
  prefix: 24,
  disableHostLoopback: false,
  enableIpv6: false,
  enableSandbox: false,
  enableSeccomp: false,
  disableDns: false,
} as const;

/** Addresses derived from the network prefix. */
export interface Addresses {
  /** The network address, N. */
  network: number;
  /** The netmask as a number. */
  netmask: number;
  /** The prefix length. */
  prefix: number;
  /** The host alias: the gateway, N+2. */
  gateway: number;
  /** The DNS forwarder, N+3. */
  dns: number;
  /** The first address DHCP hands out, N+15. */
  dhcpStart: number;
  /** The last address DHCP hands out, N+30. */
  dhcpEnd: number;
  /** The address `--configure` gives the guest, N+100. */
  guest: number;
  /** The broadcast address. */
  broadcast: number;
  /** The IPv6 network (`-6`), or null when IPv6 is off. */
  ipv6: Ipv6Addresses | null;
}

/** The IPv6 network, fixed as in slirp4netns (libslirp's defaults; issue #349 upstream). */
export interface Ipv6Addresses {
  /** fd00:: (RFC 4193 unique local, though without the random global ID). */
  prefix: bigint;
  /** 64: the guest autoconfigures (SLAAC) an address in the prefix. */
  prefixLength: number;
  /** The host alias and router, fd00::2. */
  gateway: bigint;
  /** The DNS forwarder, fd00::3. */
  dns: bigint;
  /** The router's link-local address, the source of router advertisements: fe80::2. */
  routerLinkLocal: bigint;
}

/** The IPv6 addresses slirp4netns uses with `-6`. */
export const IPV6_ADDRESSES: Readonly<Ipv6Addresses> = Object.freeze({
  prefix: 0xfd00n << 112n,
  prefixLength: 64,
  gateway: (0xfd00n << 112n) | 2n,
  dns: (0xfd00n << 112n) | 3n,
  routerLinkLocal: (0xfe80n << 112n) | 2n,
});

/** Number of DHCP leases, as in libslirp (NB_BOOTP_CLIENTS). */
export const DHCP_POOL_SIZE = 16;

/** Derives the fixed addresses of a network from its prefix; `ipv6` adds the IPv6 network. */
export function deriveAddresses(network: number, prefix: number, ipv6 = false): Addresses {
  const netmask = prefixToMask(prefix);
  return {
    network,
    netmask,
    prefix,
    gateway: (network + 2) >>> 0,
    dns: (network + 3) >>> 0,
    dhcpStart: (network + 15) >>> 0,
    dhcpEnd: (network + 15 + DHCP_POOL_SIZE - 1) >>> 0,
    guest: (network + 100) >>> 0,
    broadcast: (network | ~netmask) >>> 0,
    ipv6: ipv6 ? { ...IPV6_ADDRESSES } : null,
  };
}
