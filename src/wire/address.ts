/**
 * IPv4 and MAC address text forms. IPv4 addresses are carried as unsigned 32-bit numbers in host
 * arithmetic (10.0.2.2 is 0x0a000202); MAC addresses as 6-byte arrays.
 */

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
