/**
 * One view for both IP families, as the layers above the dispatcher see a packet: an IPv4
 * datagram (options allowed, not a fragment) or an IPv6 packet whose upper-layer header directly
 * follows the fixed header (the dispatcher reassembles fragments and strips extension headers
 * before it hands a packet on). TCP, UDP and the NAT read addresses, protocol and payload through
 * it without caring which family they serve.
 */

import { type IpAddress, readIpv6 } from "./address.ts";
import { Ipv4Packet } from "./ipv4.ts";
import { IPV6, IPV6_HEADER_LEN, Ipv6Packet } from "./ipv6.ts";
import { readU32 } from "./view.ts";

/**
 * The bigint of the IPv6 address last read, reused while the bytes stay the same: a flow's packets
 * carry the same addresses, and building a bigint from 16 bytes takes several allocations.
 */
class Ipv6AddressCache {
  #w0 = -1;
  #w1 = -1;
  #w2 = -1;
  #w3 = -1;
  #address = 0n;

  read(bytes: Uint8Array, offset: number): bigint {
    const w0 = readU32(bytes, offset);
    const w1 = readU32(bytes, offset + 4);
    const w2 = readU32(bytes, offset + 8);
    const w3 = readU32(bytes, offset + 12);
    if (w0 !== this.#w0 || w1 !== this.#w1 || w2 !== this.#w2 || w3 !== this.#w3) {
      this.#w0 = w0;
      this.#w1 = w1;
      this.#w2 = w2;
      this.#w3 = w3;
      this.#address = readIpv6(bytes, offset);
    }
    return this.#address;
  }
}

/**
 * A checked IP packet of either family. `read` fills the fields; they are plain values, valid
 * until the next `read`.
 *
 * @example
 * ```ts
 * import { IpPacket } from "./ip.ts";
 * import { emitIpv6Header, Ipv6NextHeader } from "./ipv6.ts";
 * const bytes = new Uint8Array(48);
 * emitIpv6Header(bytes, 0, 8, Ipv6NextHeader.UDP, 64, 0xfd00n << 112n | 100n, 1n);
 * const ip = new IpPacket();
 * if (!ip.read(bytes, 0, bytes.length) || ip.protocol !== 17 || ip.payloadOffset !== 40) {
 *   throw new Error("bad packet");
 * }
 * ```
 */
export class IpPacket {
  readonly v4 = new Ipv4Packet();
  readonly v6 = new Ipv6Packet();
  /** The family of the packet last read. */
  ipv6 = false;
  /** Absolute offset of the IP header. */
  offset = 0;
  /** IPv4: the protocol; IPv6: the next header, which is the upper layer's. */
  protocol = 0;
  src: IpAddress = 0;
  dst: IpAddress = 0;
  /** Absolute offset and length of the upper-layer data. */
  payloadOffset = 0;
  payloadLength = 0;
  /** Header and payload: the bytes an ICMP error quotes from. */
  totalLength = 0;
  readonly #src6 = new Ipv6AddressCache();
  readonly #dst6 = new Ipv6AddressCache();

  /**
   * Reads the packet at `bytes[offset, offset + length)` (the version nibble picks the family);
   * false when it is not a whole, checked packet: truncated, a payload past the buffer, or an
   * IPv4 fragment.
   */
  read(bytes: Uint8Array, offset: number, length: number): boolean {
    this.offset = offset;
    if (bytes[offset] >>> 4 === 6) {
      const v6 = this.v6.wrap(bytes, offset, length);
      if (v6.check() !== "ok") return false;
      this.ipv6 = true;
      this.protocol = v6.nextHeader;
      this.src = this.#src6.read(bytes, offset + IPV6.SRC);
      this.dst = this.#dst6.read(bytes, offset + IPV6.DST);
      this.payloadOffset = offset + IPV6_HEADER_LEN;
      this.payloadLength = v6.payloadLength;
      this.totalLength = IPV6_HEADER_LEN + this.payloadLength;
      return true;
    }
    const v4 = this.v4.wrap(bytes, offset, length);
    if (v4.check() !== "ok" || v4.isFragment) return false;
    this.ipv6 = false;
    this.protocol = v4.protocol;
    this.src = v4.src;
    this.dst = v4.dst;
    this.payloadOffset = v4.payloadOffset;
    this.payloadLength = v4.payloadLength;
    this.totalLength = v4.totalLength;
    return true;
  }
}
