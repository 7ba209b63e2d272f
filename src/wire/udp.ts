/**
 * UDP datagrams over IPv4 (RFC 768) and IPv6 (RFC 8200 §8.1), with the pseudo-header checksum of
 * the family of the addresses. Read RFC 768, RFC 1122 §4.1.3.4 and RFC 8200 §8.1 before editing.
 */

import type { IpAddress } from "./address.ts";
import { finishChecksum, pseudoHeaderSum, sumBytes } from "./checksum.ts";
import { IpProtocol } from "./ipv4.ts";
import { ByteView, writeU16 } from "./view.ts";

/*
 * UDP header (RFC 768):
 *
 *   0      7 8     15 16    23 24    31
 *  +--------+--------+--------+--------+
 *  |     Source      |   Destination   |
 *  |      Port       |      Port       |
 *  +--------+--------+--------+--------+
 *  |                 |                 |
 *  |     Length      |    Checksum     |
 *  +--------+--------+--------+--------+
 *  |
 *  |          data octets ...
 *  +---------------- ...
 */
/** Field offsets of the UDP header. */
export const UDP = {
  SRC_PORT: 0,
  DST_PORT: 2,
  LENGTH: 4,
  CHECKSUM: 6,
  PAYLOAD: 8,
} as const;

/** Length of the UDP header. */
export const UDP_HEADER_LEN = 8;

/** What `UdpDatagram.check()` reports. */
export type UdpCheck = "ok" | "truncated" | "bad_length";

/**
 * A view of a UDP datagram; wrap it over the IP payload. After `check()` returned `"ok"`, the
 * `udpLength` bytes the header claims lie inside the view. IP payload bytes beyond `udpLength` are
 * ignored.
 *
 * @example
 * ```ts
 * import { emitUdpHeader, UdpDatagram } from "./udp.ts";
 * const bytes = new Uint8Array(12);
 * emitUdpHeader(bytes, 0, 68, 67, 4, 0, 0xffffffff);
 * const udp = new UdpDatagram().wrap(bytes);
 * if (udp.check() !== "ok" || !udp.verifyChecksum(0, 0xffffffff)) throw new Error("bad UDP");
 * ```
 */
export class UdpDatagram extends ByteView {
  /**
   * Checks that the header fits and that its length field covers at least the header and at
   * most the bytes present (RFC 768: "Length is the length in octets of this user datagram
   * including this header and the data").
   */
  check(): UdpCheck {
    if (this.length < UDP_HEADER_LEN) return "truncated";
    const udpLength = this.udpLength;
    if (udpLength < UDP_HEADER_LEN || udpLength > this.length) return "bad_length";
    return "ok";
  }

  get srcPort(): number {
    return this.u16(UDP.SRC_PORT);
  }
  set srcPort(value: number) {
    this.setU16(UDP.SRC_PORT, value);
  }

  get dstPort(): number {
    return this.u16(UDP.DST_PORT);
  }
  set dstPort(value: number) {
    this.setU16(UDP.DST_PORT, value);
  }

  /** The length field: header plus data. */
  get udpLength(): number {
    return this.u16(UDP.LENGTH);
  }

  get checksum(): number {
    return this.u16(UDP.CHECKSUM);
  }

  /** Absolute offset of the data. */
  get payloadOffset(): number {
    return this.offset + UDP.PAYLOAD;
  }

  /** Data length from the length field. */
  get payloadLength(): number {
    return this.udpLength - UDP_HEADER_LEN;
  }

  /**
   * Whether the checksum is correct for the given IP addresses. Over IPv4 a zero checksum means
   * the sender computed none and is accepted (RFC 768: "An all zero transmitted checksum value
   * means that the transmitter generated no checksum"); over IPv6 it is wrong (RFC 8200 §8.1:
   * "IPv6 receivers must discard UDP packets containing a zero checksum").
   */
  verifyChecksum(src: IpAddress, dst: IpAddress): boolean {
    if (this.checksum === 0) return typeof src === "number";
    const udpLength = this.udpLength;
    const sum = sumBytes(
      this.bytes,
      this.offset,
      udpLength,
      pseudoHeaderSum(src, dst, IpProtocol.UDP, udpLength),
    );
    return finishChecksum(sum) === 0;
  }

  /** Computes and writes the checksum over `udpLength` bytes (see `udpChecksum`). */
  fillChecksum(src: IpAddress, dst: IpAddress): void {
    this.setU16(UDP.CHECKSUM, 0);
    this.setU16(UDP.CHECKSUM, udpChecksum(this.bytes, this.offset, this.udpLength, src, dst));
  }
}

/**
 * The checksum to transmit for the UDP datagram at `bytes[offset, offset + udpLength)`, whose
 * checksum field must be zero. A computed 0 is sent as 0xffff, since 0 means "no checksum"
 * (RFC 768: "If the computed checksum is zero, it is transmitted as all ones").
 */
export function udpChecksum(
  bytes: Uint8Array,
  offset: number,
  udpLength: number,
  src: IpAddress,
  dst: IpAddress,
): number {
  const sum = sumBytes(
    bytes,
    offset,
    udpLength,
    pseudoHeaderSum(src, dst, IpProtocol.UDP, udpLength),
  );
  return finishChecksum(sum) || 0xffff;
}

/**
 * Writes a UDP header at `offset` for `payloadLength` bytes of data that must already follow it,
 * and its checksum for the given IP addresses.
 */
export function emitUdpHeader(
  bytes: Uint8Array,
  offset: number,
  srcPort: number,
  dstPort: number,
  payloadLength: number,
  src: IpAddress,
  dst: IpAddress,
): void {
  const udpLength = UDP_HEADER_LEN + payloadLength;
  writeU16(bytes, offset + UDP.SRC_PORT, srcPort);
  writeU16(bytes, offset + UDP.DST_PORT, dstPort);
  writeU16(bytes, offset + UDP.LENGTH, udpLength);
  writeU16(bytes, offset + UDP.CHECKSUM, 0);
  writeU16(bytes, offset + UDP.CHECKSUM, udpChecksum(bytes, offset, udpLength, src, dst));
}
