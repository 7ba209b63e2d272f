/**
 * TCP segment headers (RFC 9293 §3.1) and their options: MSS (RFC 9293 §3.2), window scale and
 * timestamps (RFC 7323), SACK-permitted and SACK (RFC 2018). This is the header only; the
 * connection logic lives in the stack. Read RFC 9293 §3.1–3.2 before editing.
 */

import type { IpAddress } from "./address.ts";
import { finishChecksum, pseudoHeaderSum, sumBytes } from "./checksum.ts";
import { IpProtocol } from "./ipv4.ts";
import { ByteView, readU16, readU32, writeU16, writeU32 } from "./view.ts";

/*
 * TCP header (RFC 9293 §3.1):
 *
 *   0                   1                   2                   3
 *   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |          Source Port          |       Destination Port        |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |                        Sequence Number                        |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |                    Acknowledgment Number                      |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |  Data |       |C|E|U|A|P|R|S|F|                               |
 *  | Offset| Rsrvd |W|C|R|C|S|S|Y|I|            Window             |
 *  |       |       |R|E|G|K|H|T|N|N|                               |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |           Checksum            |         Urgent Pointer        |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |                           [Options]                           |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |                                                               :
 *  :                             Data                              :
 *  :                                                               |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 */
/** Field offsets of the TCP header. */
export const TCP = {
  SRC_PORT: 0,
  DST_PORT: 2,
  SEQ: 4,
  ACK: 8,
  DATA_OFFSET: 12,
  FLAGS: 13,
  WINDOW: 14,
  CHECKSUM: 16,
  URGENT: 18,
  OPTIONS: 20,
} as const;

/** Length of a TCP header without options. */
export const TCP_HEADER_LEN = 20;
/** Largest TCP header: data offset 15. */
export const TCP_MAX_HEADER_LEN = 60;

/** Control bits (RFC 9293 §3.1; CWR and ECE from RFC 3168). */
export const TcpFlag = {
  FIN: 0x01,
  SYN: 0x02,
  RST: 0x04,
  PSH: 0x08,
  ACK: 0x10,
  URG: 0x20,
  ECE: 0x40,
  CWR: 0x80,
} as const;

/** Option kinds and their fixed lengths (RFC 9293 §3.2; RFC 7323; RFC 2018). */
export const TcpOption = {
  END: 0,
  NOP: 1,
  MSS: 2,
  MSS_LEN: 4,
  WINDOW_SCALE: 3,
  WINDOW_SCALE_LEN: 3,
  SACK_PERMITTED: 4,
  SACK_PERMITTED_LEN: 2,
  SACK: 5,
  TIMESTAMPS: 8,
  TIMESTAMPS_LEN: 10,
} as const;

/** Largest window shift (RFC 7323 §2.3). */
export const TCP_MAX_WINDOW_SCALE = 14;
/** Most SACK blocks that fit in 40 option bytes (RFC 2018 §3). */
export const TCP_MAX_SACK_BLOCKS = 4;

/** What `TcpSegment.check()` reports. */
export type TcpCheck = "ok" | "truncated" | "bad_data_offset";

/**
 * A view of a TCP segment; wrap it over exactly the IP payload (the checksum and payload length
 * depend on it). Accessors are safe after `check()` returned `"ok"`.
 *
 * @example
 * ```ts
 * import { emitTcpHeader, TcpFlag, TcpSegment } from "./tcp.ts";
 * const bytes = new Uint8Array(20);
 * emitTcpHeader(bytes, 0, 40000, 80, 1, 0, TcpFlag.SYN, 65535, 0);
 * const tcp = new TcpSegment().wrap(bytes);
 * if (tcp.check() !== "ok" || tcp.flags !== TcpFlag.SYN) throw new Error("bad TCP");
 * ```
 */
export class TcpSegment extends ByteView {
  /** Checks that the header, with its options, fits: 5 ≤ data offset, header ≤ view. */
  check(): TcpCheck {
    if (this.length < TCP_HEADER_LEN) return "truncated";
    const headerLength = this.headerLength;
    if (headerLength < TCP_HEADER_LEN || headerLength > this.length) return "bad_data_offset";
    return "ok";
  }

  get srcPort(): number {
    return this.u16(TCP.SRC_PORT);
  }
  set srcPort(value: number) {
    this.setU16(TCP.SRC_PORT, value);
  }

  get dstPort(): number {
    return this.u16(TCP.DST_PORT);
  }
  set dstPort(value: number) {
    this.setU16(TCP.DST_PORT, value);
  }

  get seq(): number {
    return this.u32(TCP.SEQ);
  }
  set seq(value: number) {
    this.setU32(TCP.SEQ, value);
  }

  get ack(): number {
    return this.u32(TCP.ACK);
  }
  set ack(value: number) {
    this.setU32(TCP.ACK, value);
  }

  /** Header length in bytes (data offset × 4). */
  get headerLength(): number {
    return (this.bytes[this.offset + TCP.DATA_OFFSET] >>> 4) << 2;
  }

  /** The eight control bits (CWR … FIN). */
  get flags(): number {
    return this.bytes[this.offset + TCP.FLAGS];
  }
  set flags(value: number) {
    this.bytes[this.offset + TCP.FLAGS] = value;
  }

  get window(): number {
    return this.u16(TCP.WINDOW);
  }
  set window(value: number) {
    this.setU16(TCP.WINDOW, value);
  }

  get checksum(): number {
    return this.u16(TCP.CHECKSUM);
  }

  get urgentPointer(): number {
    return this.u16(TCP.URGENT);
  }

  /** Absolute offset of the options. */
  get optionsOffset(): number {
    return this.offset + TCP.OPTIONS;
  }

  get optionsLength(): number {
    return this.headerLength - TCP_HEADER_LEN;
  }

  /** Absolute offset of the data. */
  get payloadOffset(): number {
    return this.offset + this.headerLength;
  }

  get payloadLength(): number {
    return this.length - this.headerLength;
  }

  /** Sequence space the segment occupies: data length, plus one each for SYN and FIN. */
  get segmentLength(): number {
    const flags = this.flags;
    return this.payloadLength + (flags & TcpFlag.SYN ? 1 : 0) + (flags & TcpFlag.FIN ? 1 : 0);
  }

  /** Whether the checksum over the whole view and the pseudo-header is correct. */
  verifyChecksum(src: IpAddress, dst: IpAddress): boolean {
    const sum = sumBytes(
      this.bytes,
      this.offset,
      this.length,
      pseudoHeaderSum(src, dst, IpProtocol.TCP, this.length),
    );
    return finishChecksum(sum) === 0;
  }

  /** Computes and writes the checksum over the whole view and the pseudo-header. */
  fillChecksum(src: IpAddress, dst: IpAddress): void {
    this.setU16(TCP.CHECKSUM, 0);
    const sum = sumBytes(
      this.bytes,
      this.offset,
      this.length,
      pseudoHeaderSum(src, dst, IpProtocol.TCP, this.length),
    );
    this.setU16(TCP.CHECKSUM, finishChecksum(sum));
  }
}

/**
 * The options of one segment that the stack understands, filled in place by
 * `parseTcpOptions` so that no object is allocated per segment. -1 means "absent".
 */
export class TcpOptions {
  /** Maximum segment size, or -1. */
  mss = -1;
  /** Window shift count 0..14 (larger values are clamped to 14), or -1. */
  windowScale = -1;
  sackPermitted = false;
  /** Whether the timestamps option was present; then `tsVal` and `tsEcr` are set. */
  hasTimestamps = false;
  tsVal = 0;
  tsEcr = 0;
  /** Number of SACK blocks (0..4) in `sackLeft`/`sackRight`. */
  sackBlocks = 0;
  readonly sackLeft: Uint32Array = new Uint32Array(TCP_MAX_SACK_BLOCKS);
  readonly sackRight: Uint32Array = new Uint32Array(TCP_MAX_SACK_BLOCKS);

  /** Forgets everything: all options absent. */
  reset(): void {
    this.mss = -1;
    this.windowScale = -1;
    this.sackPermitted = false;
    this.hasTimestamps = false;
    this.tsVal = 0;
    this.tsEcr = 0;
    this.sackBlocks = 0;
  }
}

/**
 * Parses the option list of a checked segment into `out` (reset first). Returns false for a
 * malformed list: an option without room for its length octet, a length below 2, or a length
 * running past the header (RFC 9293 §3.1: a TCP implementation "MUST be prepared to handle an
 * illegal option length (e.g., zero)"). A known option with the wrong length is skipped and
 * left absent; unknown options are skipped (RFC 9293 §3.1: "MUST ignore without error any TCP
 * option it does not implement").
 *
 * @example
 * ```ts
 * import { parseTcpOptions, TcpOptions, TcpSegment } from "./tcp.ts";
 * const bytes = new Uint8Array(24);
 * bytes[12] = 6 << 4;
 * bytes.set([2, 4, 0x05, 0xb4], 20);
 * const options = new TcpOptions();
 * const ok = parseTcpOptions(new TcpSegment().wrap(bytes), options);
 * if (!ok || options.mss !== 1460) throw new Error("bad options");
 * ```
 */
export function parseTcpOptions(segment: TcpSegment, out: TcpOptions): boolean {
  out.reset();
  const bytes = segment.bytes;
  let i = segment.optionsOffset;
  const end = segment.payloadOffset;
  while (i < end) {
    const kind = bytes[i];
    if (kind === TcpOption.END) return true;
    if (kind === TcpOption.NOP) {
      i++;
      continue;
    }
    if (i + 1 >= end) return false;
    const length = bytes[i + 1];
    if (length < 2 || i + length > end) return false;
    switch (kind) {
      case TcpOption.MSS:
        if (length === TcpOption.MSS_LEN) out.mss = readU16(bytes, i + 2);
        break;
      case TcpOption.WINDOW_SCALE:
        // RFC 7323 §2.3: a shift above 14 MUST be treated as 14.
        if (length === TcpOption.WINDOW_SCALE_LEN) {
          out.windowScale = Math.min(bytes[i + 2], TCP_MAX_WINDOW_SCALE);
        }
        break;
      case TcpOption.SACK_PERMITTED:
        if (length === TcpOption.SACK_PERMITTED_LEN) out.sackPermitted = true;
        break;
      case TcpOption.SACK:
        // RFC 2018 §3: length 2 + 8n, n ≥ 1.
        if (length >= 10 && (length - 2) % 8 === 0) {
          const blocks = Math.min((length - 2) >>> 3, TCP_MAX_SACK_BLOCKS);
          for (let b = 0; b < blocks; b++) {
            out.sackLeft[b] = readU32(bytes, i + 2 + 8 * b);
            out.sackRight[b] = readU32(bytes, i + 6 + 8 * b);
          }
          out.sackBlocks = blocks;
        }
        break;
      case TcpOption.TIMESTAMPS:
        if (length === TcpOption.TIMESTAMPS_LEN) {
          out.hasTimestamps = true;
          out.tsVal = readU32(bytes, i + 2);
          out.tsEcr = readU32(bytes, i + 6);
        }
        break;
    }
    i += length;
  }
  return true;
}

/**
 * Writes a TCP header at `offset` with a data offset covering `optionsLength` bytes of options
 * (a multiple of 4, written by the caller, e.g. with the `emitTcp*Option` helpers). The checksum
 * is left zero: fill it with `TcpSegment.fillChecksum` once the options and data are in place.
 */
export function emitTcpHeader(
  bytes: Uint8Array,
  offset: number,
  srcPort: number,
  dstPort: number,
  seq: number,
  ack: number,
  flags: number,
  window: number,
  optionsLength: number,
): void {
  writeU16(bytes, offset + TCP.SRC_PORT, srcPort);
  writeU16(bytes, offset + TCP.DST_PORT, dstPort);
  writeU32(bytes, offset + TCP.SEQ, seq);
  writeU32(bytes, offset + TCP.ACK, ack);
  bytes[offset + TCP.DATA_OFFSET] = ((TCP_HEADER_LEN + optionsLength) >>> 2) << 4;
  bytes[offset + TCP.FLAGS] = flags;
  writeU16(bytes, offset + TCP.WINDOW, window);
  writeU16(bytes, offset + TCP.CHECKSUM, 0);
  writeU16(bytes, offset + TCP.URGENT, 0);
}

/** Writes the 4-byte MSS option at `offset`; returns the offset after it. */
export function emitTcpMssOption(bytes: Uint8Array, offset: number, mss: number): number {
  bytes[offset] = TcpOption.MSS;
  bytes[offset + 1] = TcpOption.MSS_LEN;
  writeU16(bytes, offset + 2, mss);
  return offset + TcpOption.MSS_LEN;
}

/** Writes NOP + the 3-byte window scale option (4 bytes) at `offset`; returns the offset after. */
export function emitTcpWindowScaleOption(bytes: Uint8Array, offset: number, shift: number): number {
  bytes[offset] = TcpOption.NOP;
  bytes[offset + 1] = TcpOption.WINDOW_SCALE;
  bytes[offset + 2] = TcpOption.WINDOW_SCALE_LEN;
  bytes[offset + 3] = shift;
  return offset + 4;
}

/** Writes NOP, NOP + SACK-permitted (4 bytes) at `offset`; returns the offset after. */
export function emitTcpSackPermittedOption(bytes: Uint8Array, offset: number): number {
  bytes[offset] = TcpOption.NOP;
  bytes[offset + 1] = TcpOption.NOP;
  bytes[offset + 2] = TcpOption.SACK_PERMITTED;
  bytes[offset + 3] = TcpOption.SACK_PERMITTED_LEN;
  return offset + 4;
}

/**
 * Writes NOP, NOP + timestamps (12 bytes, the RFC 7323 Appendix A layout) at `offset`; returns the
 * offset after.
 */
export function emitTcpTimestampsOption(
  bytes: Uint8Array,
  offset: number,
  tsVal: number,
  tsEcr: number,
): number {
  bytes[offset] = TcpOption.NOP;
  bytes[offset + 1] = TcpOption.NOP;
  bytes[offset + 2] = TcpOption.TIMESTAMPS;
  bytes[offset + 3] = TcpOption.TIMESTAMPS_LEN;
  writeU32(bytes, offset + 4, tsVal);
  writeU32(bytes, offset + 8, tsEcr);
  return offset + 12;
}
