/**
 * struct sockaddr_in / sockaddr_in6 bytes for the shim's socket functions, and the Linux
 * constants that go with them (x86_64 and aarch64 share these values).
 */
import { type IpAddress, readIpv4, readIpv6, writeIpv4, writeIpv6 } from "../wire/address.ts";

export const AF_UNIX = 1;
export const AF_INET = 2;
export const AF_INET6 = 10;
export const SOCK_STREAM = 1;
export const SOCK_DGRAM = 2;
export const SOCK_NONBLOCK = 0o4000;
export const SOCK_CLOEXEC = 0o2000000;
export const IPPROTO_ICMP = 1;
export const IPPROTO_ICMPV6 = 58;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
export const IPPROTO_IPV6 = 41;
/** IPPROTO_IPV6 option: an AF_INET6 socket takes IPv6 only, no IPv4-mapped peers. */
export const IPV6_V6ONLY = 26;
export const SOL_SOCKET = 1;
export const SO_REUSEADDR = 2;
export const SO_ERROR = 4;
export const SO_KEEPALIVE = 9;
export const TCP_NODELAY = 1;
export const SHUT_RD = 0;
export const SHUT_WR = 1;
export const SHUT_RDWR = 2;
export const MSG_PEEK = 2;
export const MSG_DONTWAIT = 0x40;
export const MSG_TRUNC = 0x20;
export const EPOLLIN = 0x001;
export const EPOLLOUT = 0x004;
export const EPOLLERR = 0x008;
export const EPOLLHUP = 0x010;
export const EPOLLRDHUP = 0x2000;
export const EPOLLET = 0x80000000;
export const EPOLL_CTL_ADD = 1;
export const EPOLL_CTL_DEL = 2;
export const EPOLL_CTL_MOD = 3;

/** Size of a struct sockaddr_in. */
export const SOCKADDR_IN_SIZE = 16;
/** Size of a struct sockaddr_in6, also enough for any address the shim returns. */
export const SOCKADDR_IN6_SIZE = 28;

/** Bytes of sockaddr_un.sun_path: a path needs one less, for its NUL. */
export const SUN_PATH_SIZE = 108;
/** Size of a struct sockaddr_un. */
export const SOCKADDR_UN_SIZE = 2 + SUN_PATH_SIZE;

/**
 * Writes a struct sockaddr_un for a filesystem path into `out` (110 bytes); returns the address
 * length to pass to bind/connect (family, path, NUL), or -1 when the path does not fit: its UTF-8
 * form is `SUN_PATH_SIZE` (108) bytes or longer, or it contains a NUL.
 *
 * @example
 * ```ts
 * import { encodeSockaddrUn, SOCKADDR_UN_SIZE } from "./sockaddr.ts";
 * const sa = new Uint8Array(SOCKADDR_UN_SIZE);
 * encodeSockaddrUn(sa, "/run/user/1000/api.sock"); // 26
 * encodeSockaddrUn(sa, "/" + "a".repeat(107)); // -1
 * ```
 */
export function encodeSockaddrUn(out: Uint8Array, path: string): number {
  const bytes = new TextEncoder().encode(path);
  if (bytes.length >= SUN_PATH_SIZE || bytes.includes(0)) return -1;
  out.fill(0, 0, SOCKADDR_UN_SIZE);
  out[0] = AF_UNIX; // sun_family, little-endian u16
  out.set(bytes, 2);
  return 2 + bytes.length + 1;
}

/** Writes a struct sockaddr_in for `address:port` into `out` (16 bytes); returns its length. */
export function encodeSockaddrIn(out: Uint8Array, address: number, port: number): number {
  out.fill(0, 0, SOCKADDR_IN_SIZE);
  out[0] = AF_INET; // sa_family, little-endian u16
  out[2] = port >>> 8; // sin_port, network order
  out[3] = port & 0xff;
  writeIpv4(out, 4, address);
  return SOCKADDR_IN_SIZE;
}

/** Reads the address and port of a struct sockaddr_in; null if it is not AF_INET. */
export function decodeSockaddrIn(bytes: Uint8Array): { address: number; port: number } | null {
  if (bytes[0] !== AF_INET || bytes[1] !== 0) return null;
  return { address: readIpv4(bytes, 4), port: (bytes[2] << 8) | bytes[3] };
}

/**
 * Writes a struct sockaddr_in6 for `[groups]:port` (eight 16-bit groups, scope id for link-local
 * addresses) into `out` (28 bytes); returns its length.
 */
export function encodeSockaddrIn6(
  out: Uint8Array,
  groups: readonly number[],
  port: number,
  scopeId = 0,
): number {
  out.fill(0, 0, SOCKADDR_IN6_SIZE);
  out[0] = AF_INET6; // sa_family, little-endian u16
  out[2] = port >>> 8; // sin6_port, network order
  out[3] = port & 0xff;
  // sin6_flowinfo (4..7) stays 0; sin6_addr at 8.
  for (let i = 0; i < 8; i++) {
    out[8 + 2 * i] = (groups[i] >>> 8) & 0xff;
    out[9 + 2 * i] = groups[i] & 0xff;
  }
  // sin6_scope_id, host byte order (little-endian on x86_64 and aarch64).
  new DataView(out.buffer, out.byteOffset).setUint32(24, scopeId >>> 0, true);
  return SOCKADDR_IN6_SIZE;
}

/**
 * Writes a struct sockaddr_in (IPv4, a number) or sockaddr_in6 (IPv6, a bigint; `scopeId` for
 * link-local addresses) for `address:port` into `out` (28 bytes); returns its length.
 *
 * @example
 * ```ts
 * import { encodeSockaddr, SOCKADDR_IN6_SIZE } from "./sockaddr.ts";
 * const sa = new Uint8Array(SOCKADDR_IN6_SIZE);
 * encodeSockaddr(sa, 0x7f000001, 80); // 16
 * encodeSockaddr(sa, 1n, 80); // 28: [::1]:80
 * ```
 */
export function encodeSockaddr(
  out: Uint8Array,
  address: IpAddress,
  port: number,
  scopeId = 0,
): number {
  if (typeof address === "number") return encodeSockaddrIn(out, address, port);
  out.fill(0, 0, SOCKADDR_IN6_SIZE);
  out[0] = AF_INET6; // sa_family, little-endian u16
  out[2] = port >>> 8; // sin6_port, network order
  out[3] = port & 0xff;
  writeIpv6(out, 8, address);
  new DataView(out.buffer, out.byteOffset).setUint32(24, scopeId >>> 0, true);
  return SOCKADDR_IN6_SIZE;
}

/** Reads the address and port of a struct sockaddr_in or sockaddr_in6; null for other families. */
export function decodeSockaddr(bytes: Uint8Array): { address: IpAddress; port: number } | null {
  if (bytes[1] !== 0) return null;
  const port = (bytes[2] << 8) | bytes[3];
  if (bytes[0] === AF_INET) return { address: readIpv4(bytes, 4), port };
  if (bytes[0] === AF_INET6 && bytes.length >= SOCKADDR_IN6_SIZE) {
    return { address: readIpv6(bytes, 8), port };
  }
  return null;
}
