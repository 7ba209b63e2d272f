/**
 * Addresses and their text forms. IPv4 addresses are carried as unsigned 32-bit numbers in host
 * arithmetic (10.0.2.2 is 0x0a000202), IPv6 addresses as 128-bit bigints (fd00::2 is
 * 0xfd00000000000000_0000000000000002n): the type of an `IpAddress` is its family, and both
 * compare and key Maps by value. MAC addresses are 6-byte arrays.
 */

/** An IPv4 address (number) or an IPv6 address (bigint). */
export type IpAddress = number | bigint;

/** Whether `address` is an IPv6 address. */
export function isIpv6(address: IpAddress): address is bigint {
  return typeof address === "bigint";
}

/** Parses dotted-quad IPv4 text ("10.0.2.2") strictly, as inet_pton(AF_INET) does; null if invalid. */
export function parseIpv4(text: string): number | null {
  const parts = text.split(".");
  if (parts.length !== 4) return null;
  let value = 0;
  for (const part of parts) {
    if (!/^[0-9]{1,3}$/.test(part)) return null;
    if (part.length > 1 && part[0] === "0") return null;
    const octet = Number(part);
    if (octet > 255) return null;
    value = value * 256 + octet;
  }
  return value >>> 0;
}

/** Formats a 32-bit IPv4 address as dotted-quad text. */
export function formatIpv4(address: number): string {
  return `${address >>> 24}.${(address >>> 16) & 0xff}.${(address >>> 8) & 0xff}.${address & 0xff}`;
}

/** The netmask for a prefix length 0..32, as a 32-bit number. */
export function prefixToMask(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/** Formats a MAC address as lower-case colon-separated hex. */
export function formatMac(mac: Uint8Array): string {
  return Array.from(mac, (b) => b.toString(16).padStart(2, "0")).join(":");
}

/** Writes a 32-bit IPv4 address into `bytes` at `offset`, network byte order. */
export function writeIpv4(bytes: Uint8Array, offset: number, address: number): void {
  bytes[offset] = address >>> 24;
  bytes[offset + 1] = (address >>> 16) & 0xff;
  bytes[offset + 2] = (address >>> 8) & 0xff;
  bytes[offset + 3] = address & 0xff;
}

/** Reads a 32-bit IPv4 address from `bytes` at `offset`, network byte order. */
export function readIpv4(bytes: Uint8Array, offset: number): number {
  return ((bytes[offset] << 24) | (bytes[offset + 1] << 16) | (bytes[offset + 2] << 8) |
    bytes[offset + 3]) >>> 0;
}

// IPv6 text forms as eight 16-bit groups: a strict inet_pton(AF_INET6) and glibc's
// inet_ntop(AF_INET6) (RFC 4291 §2.2 input, RFC 5952 §4 output).

const GROUP = /^[0-9a-fA-F]{1,4}$/;

/** Parses the groups of one side of "::"; the last group of the address may be dotted IPv4. */
function parseGroups(text: string, mayEndInIpv4: boolean): number[] | null {
  if (text === "") return [];
  const parts = text.split(":");
  const words: number[] = [];
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i];
    if (mayEndInIpv4 && i === parts.length - 1 && part.includes(".")) {
      const v4 = parseIpv4(part);
      if (v4 === null) return null;
      words.push(v4 >>> 16, v4 & 0xffff);
    } else if (GROUP.test(part)) {
      words.push(parseInt(part, 16));
    } else {
      return null;
    }
  }
  return words;
}

/**
 * Parses IPv6 text as glibc's `inet_pton(AF_INET6)` does: hex groups of 1..4 digits, one `::`
 * standing for at least one zero group, an optional dotted IPv4 tail, no zone id. Returns the eight
 * 16-bit groups, or null.
 *
 * @example
 * ```ts
 * import { parseIpv6Groups } from "./address.ts";
 * parseIpv6Groups("fd00::2"); // [0xfd00, 0, 0, 0, 0, 0, 0, 2]
 * parseIpv6Groups("fe80::1%eth0"); // null
 * ```
 */
export function parseIpv6Groups(text: string): number[] | null {
  const halves = text.split("::");
  if (halves.length > 2) return null;
  if (halves.length === 1) {
    const words = parseGroups(text, true);
    return words !== null && words.length === 8 ? words : null;
  }
  const head = parseGroups(halves[0], false);
  const tail = parseGroups(halves[1], true);
  if (head === null || tail === null) return null;
  const zeros = 8 - head.length - tail.length;
  if (zeros < 1) return null; // "::" would stand for no group at all
  return [...head, ...new Array<number>(zeros).fill(0), ...tail];
}

/**
 * Formats eight 16-bit groups as glibc's `inet_ntop(AF_INET6)` does: lower-case hex, the first
 * longest run of two or more zero groups as `::`, IPv4-compatible and IPv4-mapped addresses with a
 * dotted tail.
 *
 * @example
 * ```ts
 * import { formatIpv6Groups } from "./address.ts";
 * formatIpv6Groups([0xfd00, 0, 0, 0, 0, 0, 0, 2]); // "fd00::2"
 * formatIpv6Groups([0, 0, 0, 0, 0, 0xffff, 0x0a00, 0x0202]); // "::ffff:10.0.2.2"
 * ```
 */
export function formatIpv6Groups(words: readonly number[]): string {
  let bestBase = -1;
  let bestLen = 0;
  for (let i = 0; i < 8;) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen) {
      bestBase = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (bestLen < 2) bestBase = -1;
  let out = "";
  for (let i = 0; i < 8; i++) {
    if (bestBase !== -1 && i >= bestBase && i < bestBase + bestLen) {
      if (i === bestBase) out += ":";
      continue;
    }
    if (i !== 0) out += ":";
    // glibc: "Is this address an encapsulated IPv4?"
    if (i === 6 && bestBase === 0 && (bestLen === 6 || (bestLen === 5 && words[5] === 0xffff))) {
      out += `${words[6] >>> 8}.${words[6] & 0xff}.${words[7] >>> 8}.${words[7] & 0xff}`;
      return out;
    }
    out += words[i].toString(16);
  }
  if (bestBase !== -1 && bestBase + bestLen === 8) out += ":";
  return out;
}

/** ::1, the IPv6 loopback address (RFC 4291 §2.5.3). */
export const IPV6_LOOPBACK = 1n;

const MASK_64 = 0xffffffffffffffffn;

/** Reads a 128-bit IPv6 address from `bytes` at `offset`, network byte order. */
export function readIpv6(bytes: Uint8Array, offset: number): bigint {
  const high = (BigInt(readIpv4(bytes, offset)) << 32n) | BigInt(readIpv4(bytes, offset + 4));
  const low = (BigInt(readIpv4(bytes, offset + 8)) << 32n) | BigInt(readIpv4(bytes, offset + 12));
  return (high << 64n) | low;
}

/** Writes a 128-bit IPv6 address into `bytes` at `offset`, network byte order. */
export function writeIpv6(bytes: Uint8Array, offset: number, address: bigint): void {
  const high = (address >> 64n) & MASK_64;
  const low = address & MASK_64;
  writeIpv4(bytes, offset, Number(high >> 32n));
  writeIpv4(bytes, offset + 4, Number(high & 0xffffffffn));
  writeIpv4(bytes, offset + 8, Number(low >> 32n));
  writeIpv4(bytes, offset + 12, Number(low & 0xffffffffn));
}

/** The eight 16-bit groups of an IPv6 address, most significant first. */
export function ipv6Groups(address: bigint): number[] {
  const groups = new Array<number>(8);
  for (let i = 7; i >= 0; i--) {
    groups[i] = Number(address & 0xffffn);
    address >>= 16n;
  }
  return groups;
}

/**
 * Parses IPv6 text strictly, as inet_pton(AF_INET6) does (no zone id); null if invalid.
 *
 * @example
 * ```ts
 * import { parseIpv6 } from "./address.ts";
 * if (parseIpv6("fd00::2") !== 0xfd00n << 112n | 2n) throw new Error("bad parse");
 * ```
 */
export function parseIpv6(text: string): bigint | null {
  const groups = parseIpv6Groups(text);
  if (groups === null) return null;
  let address = 0n;
  for (const group of groups) address = (address << 16n) | BigInt(group);
  return address;
}

/** Formats an IPv6 address as inet_ntop(AF_INET6) does (RFC 5952: "fd00::2"). */
export function formatIpv6(address: bigint): string {
  return formatIpv6Groups(ipv6Groups(address));
}

/** Formats an address of either family. */
export function formatIp(address: IpAddress): string {
  return isIpv6(address) ? formatIpv6(address) : formatIpv4(address);
}

/** Whether `address` lies in `prefix`/`length` (IPv6, 0 ≤ length ≤ 128). */
export function inIpv6Prefix(address: bigint, prefix: bigint, length: number): boolean {
  const shift = BigInt(128 - length);
  return (address >> shift) === (prefix >> shift);
}
