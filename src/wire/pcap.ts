/**
 * The pcap savefile format that tcpdump and Wireshark read (pcap-savefile(5);
 * draft-ietf-opsawg-pcap §4 file header, §5 packet record): a 24-byte file header, then one
 * 16-byte record header and the captured bytes per frame. We write little-endian with the
 * microsecond magic; the reader here takes either byte order and either magic (nanoseconds are
 * turned into microseconds). The record writer is native (native/pcap.c, `shim_pcap_append`):
 * it reads the clock and writes header and frame in one writev(2).
 */

/*
 * File header (draft-ietf-opsawg-pcap §4), every field in the writer's byte order:
 *
 *   0                   1                   2                   3
 *   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |                          Magic Number                         |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |          Major Version        |         Minor Version         |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |                           Reserved1                           |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |                           Reserved2                           |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |                            SnapLen                            |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |                           LinkType                            |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 */
/** Field offsets of the file header. */
export const PCAP_FILE = {
  MAGIC: 0,
  VERSION_MAJOR: 4,
  VERSION_MINOR: 6,
  RESERVED1: 8,
  RESERVED2: 12,
  SNAPLEN: 16,
  LINKTYPE: 20,
} as const;

/*
 * Packet record header (§5):
 *
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |                      Timestamp (Seconds)                      |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |            Timestamp (Microseconds or nanoseconds)            |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |                    Captured Packet Length                     |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |                    Original Packet Length                     |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  /                          Packet Data                          /
 */
/** Field offsets of a record header. */
export const PCAP_RECORD = {
  SECONDS: 0,
  FRACTION: 4,
  CAPTURED_LENGTH: 8,
  ORIGINAL_LENGTH: 12,
  DATA: 16,
} as const;

export const PCAP_FILE_HEADER_LEN = 24;
export const PCAP_RECORD_HEADER_LEN = 16;
/** The magic of files with microsecond timestamps (§4). */
export const PCAP_MAGIC_MICROSECONDS = 0xa1b2c3d4;
/** The magic of files with nanosecond timestamps. */
export const PCAP_MAGIC_NANOSECONDS = 0xa1b23c4d;
/** LINKTYPE_ETHERNET (draft-ietf-opsawg-pcaplinktype): IEEE 802.3 frames without FCS. */
export const LINKTYPE_ETHERNET = 1;
/**
 * The snap length we write: libpcap's MAXIMUM_SNAPLEN, which Wireshark also accepts for Ethernet.
 * Above any frame of the tap (a 64 KiB super-frame behind 14 bytes), so nothing is cut.
 */
export const PCAP_SNAPLEN = 262144;

/** The parsed file header. */
export interface PcapFileHeader {
  /** Whether the fields are little-endian. */
  littleEndian: boolean;
  /** Whether the fraction field counts nanoseconds (else microseconds). */
  nanoseconds: boolean;
  versionMajor: number;
  versionMinor: number;
  snaplen: number;
  linktype: number;
}

/** One record of a parsed file. */
export interface PcapRecord {
  seconds: number;
  /** Always microseconds (nanosecond files are divided down). */
  microseconds: number;
  originalLength: number;
  /** The captured bytes (a view into the file's bytes). */
  data: Uint8Array;
}

function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * Writes the file header (little-endian, microseconds, version 2.4) into `buf[offset..+24]`.
 * `buf` must have room: this is a builder, not a parser.
 *
 * @example
 * ```ts
 * import { emitPcapFileHeader, LINKTYPE_ETHERNET, PCAP_SNAPLEN } from "./pcap.ts";
 * const header = new Uint8Array(24);
 * emitPcapFileHeader(header, 0, PCAP_SNAPLEN, LINKTYPE_ETHERNET);
 * header[0]; // 0xd4: the magic, little-endian
 * ```
 */
export function emitPcapFileHeader(
  buf: Uint8Array,
  offset: number,
  snaplen: number,
  linktype: number,
): void {
  const v = view(buf);
  v.setUint32(offset + PCAP_FILE.MAGIC, PCAP_MAGIC_MICROSECONDS, true);
  v.setUint16(offset + PCAP_FILE.VERSION_MAJOR, 2, true);
  v.setUint16(offset + PCAP_FILE.VERSION_MINOR, 4, true);
  v.setUint32(offset + PCAP_FILE.RESERVED1, 0, true);
  v.setUint32(offset + PCAP_FILE.RESERVED2, 0, true);
  v.setUint32(offset + PCAP_FILE.SNAPLEN, snaplen >>> 0, true);
  v.setUint32(offset + PCAP_FILE.LINKTYPE, linktype >>> 0, true);
}

/**
 * Writes one record header at `buf[offset..+16]` (little-endian, microseconds); the frame follows
 * it. The capture itself writes records natively (native/pcap.c); this is the same layout for
 * tests and tools.
 */
export function emitPcapRecordHeader(
  buf: Uint8Array,
  offset: number,
  seconds: number,
  microseconds: number,
  capturedLength: number,
  originalLength: number,
): void {
  const v = view(buf);
  v.setUint32(offset + PCAP_RECORD.SECONDS, seconds >>> 0, true);
  v.setUint32(offset + PCAP_RECORD.FRACTION, microseconds >>> 0, true);
  v.setUint32(offset + PCAP_RECORD.CAPTURED_LENGTH, capturedLength >>> 0, true);
  v.setUint32(offset + PCAP_RECORD.ORIGINAL_LENGTH, originalLength >>> 0, true);
}

/** The file header at the start of `bytes`, or null when it is not a pcap file header. */
export function parsePcapFileHeader(bytes: Uint8Array): PcapFileHeader | null {
  if (bytes.length < PCAP_FILE_HEADER_LEN) return null;
  const v = view(bytes);
  let littleEndian = true;
  let magic = v.getUint32(PCAP_FILE.MAGIC, true);
  if (magic !== PCAP_MAGIC_MICROSECONDS && magic !== PCAP_MAGIC_NANOSECONDS) {
    littleEndian = false;
    magic = v.getUint32(PCAP_FILE.MAGIC, false);
    if (magic !== PCAP_MAGIC_MICROSECONDS && magic !== PCAP_MAGIC_NANOSECONDS) return null;
  }
  return {
    littleEndian,
    nanoseconds: magic === PCAP_MAGIC_NANOSECONDS,
    versionMajor: v.getUint16(PCAP_FILE.VERSION_MAJOR, littleEndian),
    versionMinor: v.getUint16(PCAP_FILE.VERSION_MINOR, littleEndian),
    snaplen: v.getUint32(PCAP_FILE.SNAPLEN, littleEndian),
    linktype: v.getUint32(PCAP_FILE.LINKTYPE, littleEndian),
  };
}

/** Why a file did not parse. */
export type PcapProblem =
  | "bad_header"
  | "truncated_record"
  | "captured_exceeds_snaplen"
  | "captured_exceeds_original"
  | "bad_fraction";

/**
 * A whole capture file: its header and records, or the first problem found (the records before
 * it are not returned). Never throws.
 *
 * @example
 * ```ts
 * import { emitPcapFileHeader, parsePcap } from "./pcap.ts";
 * const file = new Uint8Array(24);
 * emitPcapFileHeader(file, 0, 65535, 1);
 * const parsed = parsePcap(file);
 * if (!parsed.ok || parsed.records.length !== 0) throw new Error("an empty capture");
 * ```
 */
export function parsePcap(
  bytes: Uint8Array,
): { ok: true; header: PcapFileHeader; records: PcapRecord[] } | {
  ok: false;
  problem: PcapProblem;
} {
  const header = parsePcapFileHeader(bytes);
  if (header === null) return { ok: false, problem: "bad_header" };
  const v = view(bytes);
  const le = header.littleEndian;
  const records: PcapRecord[] = [];
  let at = PCAP_FILE_HEADER_LEN;
  while (at < bytes.length) {
    if (bytes.length - at < PCAP_RECORD_HEADER_LEN) {
      return { ok: false, problem: "truncated_record" };
    }
    const captured = v.getUint32(at + PCAP_RECORD.CAPTURED_LENGTH, le);
    const original = v.getUint32(at + PCAP_RECORD.ORIGINAL_LENGTH, le);
    const fraction = v.getUint32(at + PCAP_RECORD.FRACTION, le);
    if (captured > header.snaplen) return { ok: false, problem: "captured_exceeds_snaplen" };
    if (captured > original) return { ok: false, problem: "captured_exceeds_original" };
    if (fraction >= (header.nanoseconds ? 1e9 : 1e6)) return { ok: false, problem: "bad_fraction" };
    const data = at + PCAP_RECORD_HEADER_LEN;
    if (bytes.length - data < captured) return { ok: false, problem: "truncated_record" };
    records.push({
      seconds: v.getUint32(at + PCAP_RECORD.SECONDS, le),
      microseconds: header.nanoseconds ? Math.floor(fraction / 1000) : fraction,
      originalLength: original,
      data: bytes.subarray(data, data + captured),
    });
    at = data + captured;
  }
  return { ok: true, header, records };
}
