/**
 * ICMP for IPv4 (RFC 792): echo request/reply, and error messages (destination unreachable,
 * time exceeded) that quote the offending datagram. Read RFC 792 and RFC 1122 §3.2.2 before
 * editing.
 */

import { internetChecksum } from "./checksum.ts";
import { ByteView, copyBytes, writeU16, writeU32 } from "./view.ts";

/*
 * ICMP header (RFC 792). Echo and echo reply:
 *
 *   0                   1                   2                   3
 *   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |     Type      |     Code      |          Checksum             |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |           Identifier          |        Sequence Number        |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |     Data ...
 *  +-+-+-+-+-
 *
 * Error messages have 32 "unused" bits (the next-hop MTU in the low 16 for "fragmentation
 * needed", RFC 1191 §4) in place of identifier and sequence number, then the quoted "Internet
 * Header + 64 bits of Original Data Datagram".
 */
/** Field offsets of the ICMP header. */
export const ICMP = {
  TYPE: 0,
  CODE: 1,
  CHECKSUM: 2,
  IDENTIFIER: 4,
  SEQUENCE: 6,
  REST_OF_HEADER: 4,
  DATA: 8,
} as const;

/** Length of the ICMP header of echo and error messages. */
export const ICMP_HEADER_LEN = 8;

/** ICMP types (RFC 792). */
export const IcmpType = {
  ECHO_REPLY: 0,
  DEST_UNREACHABLE: 3,
  ECHO_REQUEST: 8,
  TIME_EXCEEDED: 11,
  PARAMETER_PROBLEM: 12,
} as const;

/** Codes of destination unreachable (RFC 792; RFC 1122 §3.2.2.1; RFC 1812 §5.2.7.1). */
export const IcmpUnreachable = {
  NET: 0,
  HOST: 1,
  PROTOCOL: 2,
  PORT: 3,
  FRAGMENTATION_NEEDED: 4,
  NET_PROHIBITED: 9,
  HOST_PROHIBITED: 10,
  ADMIN_PROHIBITED: 13,
} as const;

/** Bytes of original data quoted after the quoted IP header (RFC 792: "64 bits"). */
export const ICMP_QUOTED_DATA_LEN = 8;

/** What `IcmpMessage.check()` reports. */
export type IcmpCheck = "ok" | "truncated";

/**
 * A view of an ICMP message; wrap it over exactly the IP payload so the checksum covers the
 * whole message. Accessors are safe after `check()` returned `"ok"`.
 *
 * @example
 * ```ts
 * import { emitIcmpEcho, IcmpMessage, IcmpType } from "./icmp.ts";
 * const bytes = new Uint8Array(12);
 * emitIcmpEcho(bytes, 0, IcmpType.ECHO_REQUEST, 0x10dd, 1, 4);
 * const icmp = new IcmpMessage().wrap(bytes);
 * if (icmp.check() !== "ok" || !icmp.verifyChecksum()) throw new Error("bad ICMP");
 * ```
 */
export class IcmpMessage extends ByteView {
  /** `"truncated"` when shorter than the 8-byte header. */
  check(): IcmpCheck {
    return this.length < ICMP_HEADER_LEN ? "truncated" : "ok";
  }

  get type(): number {
    return this.bytes[this.offset + ICMP.TYPE];
  }
  set type(value: number) {
    this.bytes[this.offset + ICMP.TYPE] = value;
  }

  get code(): number {
    return this.bytes[this.offset + ICMP.CODE];
  }
  set code(value: number) {
    this.bytes[this.offset + ICMP.CODE] = value;
  }

  get checksum(): number {
    return this.u16(ICMP.CHECKSUM);
  }
  set checksum(value: number) {
    this.setU16(ICMP.CHECKSUM, value);
  }

  /** Echo identifier. */
  get identifier(): number {
    return this.u16(ICMP.IDENTIFIER);
  }

  /** Echo sequence number. */
  get sequence(): number {
    return this.u16(ICMP.SEQUENCE);
  }

  /** Absolute offset of the data after the 8-byte header. */
  get dataOffset(): number {
    return this.offset + ICMP.DATA;
  }

  get dataLength(): number {
    return this.length - ICMP.DATA;
  }

  /** Whether the checksum over the whole view is correct. */
  verifyChecksum(): boolean {
    return internetChecksum(this.bytes, this.offset, this.length) === 0;
  }

  /** Recomputes and writes the checksum over the whole view. */
  fillChecksum(): void {
    this.setU16(ICMP.CHECKSUM, 0);
    this.setU16(ICMP.CHECKSUM, internetChecksum(this.bytes, this.offset, this.length));
  }
}

/**
 * Writes an echo or echo reply header at `offset` and the checksum over it and the
 * `dataLength` bytes of data that must already follow it.
 */
export function emitIcmpEcho(
  bytes: Uint8Array,
  offset: number,
  type: number,
  identifier: number,
  sequence: number,
  dataLength: number,
): void {
  bytes[offset + ICMP.TYPE] = type;
  bytes[offset + ICMP.CODE] = 0;
  writeU16(bytes, offset + ICMP.CHECKSUM, 0);
  writeU16(bytes, offset + ICMP.IDENTIFIER, identifier);
  writeU16(bytes, offset + ICMP.SEQUENCE, sequence);
  writeU16(
    bytes,
    offset + ICMP.CHECKSUM,
    internetChecksum(bytes, offset, ICMP_HEADER_LEN + dataLength),
  );
}

/**
 * How many bytes of an offending datagram an ICMP error quotes: its IP header plus 64 bits of
 * data (RFC 792; RFC 1122 §3.2.2), never more than the datagram has. `datagram[offset]` must be
 * the IPv4 version/IHL byte; a nonsensical IHL is clamped to the available bytes.
 */
export function icmpQuoteLength(datagram: Uint8Array, offset: number, length: number): number {
  if (!(length > 0)) return 0;
  const headerLength = (datagram[offset] & 0x0f) << 2;
  return Math.min(length, headerLength + ICMP_QUOTED_DATA_LEN);
}

/**
 * Writes an ICMP error message (destination unreachable, time exceeded, ...) at `offset`:
 * header with `restOfHeader` as the 32-bit second word (0, or the next-hop MTU for
 * "fragmentation needed"), then `quoteLength` bytes copied from `datagram[datagramOffset..]`
 * (see `icmpQuoteLength`), then the checksum. Returns the ICMP message length. The caller makes
 * sure `8 + quoteLength` bytes fit.
 *
 * @example
 * ```ts
 * import { emitIcmpError, icmpQuoteLength, IcmpType, IcmpUnreachable } from "./icmp.ts";
 * const original = new Uint8Array(40);
 * original[0] = 0x45;
 * const out = new Uint8Array(64);
 * const quote = icmpQuoteLength(original, 0, 40);
 * const n = emitIcmpError(out, 0, IcmpType.DEST_UNREACHABLE, IcmpUnreachable.PORT, 0, original, 0, quote);
 * if (n !== 36) throw new Error("unexpected length");
 * ```
 */
export function emitIcmpError(
  bytes: Uint8Array,
  offset: number,
  type: number,
  code: number,
  restOfHeader: number,
  datagram: Uint8Array,
  datagramOffset: number,
  quoteLength: number,
): number {
  bytes[offset + ICMP.TYPE] = type;
  bytes[offset + ICMP.CODE] = code;
  writeU16(bytes, offset + ICMP.CHECKSUM, 0);
  writeU32(bytes, offset + ICMP.REST_OF_HEADER, restOfHeader);
  copyBytes(bytes, offset + ICMP.DATA, datagram, datagramOffset, quoteLength);
  const length = ICMP_HEADER_LEN + quoteLength;
  writeU16(bytes, offset + ICMP.CHECKSUM, internetChecksum(bytes, offset, length));
  return length;
}
