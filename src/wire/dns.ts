/**
 * DNS messages (RFC 1035 §4.1): the header, a bounds-checked walk over every section, name
 * compression (§4.1.4) with loop protection, and the small replies a forwarder builds itself
 * (FORMERR, SERVFAIL). Read RFC 1035 §4.1, RFC 6891 §6 (OPT) and RFC 9619 (QDCOUNT) before editing.
 *
 * Nothing here allocates per message except `questionKey`; nothing throws.
 */

import { readU16, writeU16 } from "./view.ts";

/*
 * Header (RFC 1035 §4.1.1):
 *
 *                                   1  1  1  1  1  1
 *     0  1  2  3  4  5  6  7  8  9  0  1  2  3  4  5
 *   +--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+
 *   |                      ID                       |
 *   +--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+
 *   |QR|   Opcode  |AA|TC|RD|RA| Z|AD|CD|   RCODE   |
 *   +--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+
 *   |                    QDCOUNT                    |
 *   |                    ANCOUNT                    |
 *   |                    NSCOUNT                    |
 *   |                    ARCOUNT                    |
 *   +--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+
 */
/** Field offsets of the DNS header. */
export const DNS = {
  ID: 0,
  FLAGS: 2,
  QDCOUNT: 4,
  ANCOUNT: 6,
  NSCOUNT: 8,
  ARCOUNT: 10,
  QUESTION: 12,
} as const;

/** Length of the DNS header. */
export const DNS_HEADER_LEN = 12;

/** Bits of the flags word. */
export const DnsFlag = {
  QR: 0x8000,
  OPCODE_MASK: 0x7800,
  AA: 0x0400,
  TC: 0x0200,
  RD: 0x0100,
  RA: 0x0080,
  RCODE_MASK: 0x000f,
} as const;

/** Response codes (RFC 1035 §4.1.1). */
export const DnsRcode = {
  NOERROR: 0,
  FORMERR: 1,
  SERVFAIL: 2,
  NXDOMAIN: 3,
  NOTIMP: 4,
  REFUSED: 5,
} as const;

/** Largest name on the wire, length octets included (RFC 1035 §2.3.4). */
export const DNS_MAX_NAME_LEN = 255;
/** Largest label (RFC 1035 §2.3.4). */
export const DNS_MAX_LABEL_LEN = 63;
/**
 * Compression pointers followed in one name. Every pointer must go strictly backwards, which
 * already rules out loops; this also bounds the work per name.
 */
export const DNS_MAX_POINTERS = 64;

/** What `checkDnsMessage` reports. */
export type DnsCheck =
  | "ok"
  | "truncated"
  | "bad_name"
  | "compression_loop"
  | "bad_qdcount";

/** The outcome of walking one message: `end` is where the question section ends. */
export interface DnsLayout {
  check: DnsCheck;
  /** Offset just past the question section (12 when QDCOUNT is 0); valid when check is "ok". */
  questionEnd: number;
  /** Offset just past the last record; valid when check is "ok". Bytes after it are ignored. */
  end: number;
}

/** The ID of the message at `offset` (the caller checked that 12 bytes are present). */
export function dnsId(bytes: Uint8Array, offset: number): number {
  return readU16(bytes, offset + DNS.ID);
}

/** The flags word of the message at `offset`. */
export function dnsFlags(bytes: Uint8Array, offset: number): number {
  return readU16(bytes, offset + DNS.FLAGS);
}

/** The opcode (0 QUERY, 4 NOTIFY, 5 UPDATE, ...) from a flags word. */
export function dnsOpcode(flags: number): number {
  return (flags & DnsFlag.OPCODE_MASK) >>> 11;
}

/**
 * Skips the (possibly compressed) name at `at` inside `bytes[start, end)`: returns the offset just
 * past it in the message, or a negative code: -1 truncated, -2 bad name (label too long, name
 * over 255, reserved label type, pointer into the header), -3 compression loop (a pointer not
 * strictly below the bytes of the name read so far, or too many). `start` is the message's first byte: pointers are relative to it.
 */
export function skipDnsName(bytes: Uint8Array, start: number, end: number, at: number): number {
  let pos = at;
  let after = -1; // where the name ends in the message, once the first pointer was taken
  let nameLength = 0;
  let pointers = 0;
  let lowest = pos; // every pointer must point below the name's bytes seen so far
  for (;;) {
    if (pos >= end) return -1;
    const length = bytes[pos];
    if (length === 0) {
      nameLength += 1;
      if (nameLength > DNS_MAX_NAME_LEN) return -2;
      return after >= 0 ? after : pos + 1;
    }
    const kind = length & 0xc0;
    if (kind === 0xc0) {
      if (pos + 1 >= end) return -1;
      const target = start + (((length & 0x3f) << 8) | bytes[pos + 1]);
      if (after < 0) after = pos + 2;
      if (++pointers > DNS_MAX_POINTERS || target >= lowest) return -3;
      if (target < start + DNS_HEADER_LEN) return -2; // the header holds no names
      lowest = target;
      pos = target;
      continue;
    }
    if (kind !== 0) return -2; // 0x40 (extended, RFC 6891 §5) and 0x80 are not in use
    nameLength += length + 1;
    if (nameLength > DNS_MAX_NAME_LEN) return -2;
    pos += length + 1;
  }
}

function nameError(code: number): DnsCheck {
  return code === -1 ? "truncated" : code === -2 ? "bad_name" : "compression_loop";
}

/**
 * Walks the whole message at `bytes[offset, offset + length)`: header, QDCOUNT questions and
 * every resource record of the other three sections, each name and RDLENGTH inside the bounds.
 * QDCOUNT must be 0 or 1 (RFC 9619: more than one question is a format error). With
 * `questionOnly`, the records are not walked (`end` is then the question's end): for answers,
 * which the guest's resolver parses itself and which a server may cut mid-record when it sets TC.
 *
 * @example
 * ```ts
 * import { checkDnsMessage } from "./dns.ts";
 * // ID 0x1234, RD, one question: "a." type A class IN.
 * const q = new Uint8Array([0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0x61, 0, 0, 1, 0, 1]);
 * checkDnsMessage(q, 0, q.length).check; // "ok"
 * ```
 */
export function checkDnsMessage(
  bytes: Uint8Array,
  offset: number,
  length: number,
  questionOnly = false,
): DnsLayout {
  const end = offset + length;
  const fail = (check: DnsCheck): DnsLayout => ({ check, questionEnd: 0, end: 0 });
  if (length < DNS_HEADER_LEN || end > bytes.length) return fail("truncated");
  const qdcount = readU16(bytes, offset + DNS.QDCOUNT);
  if (qdcount > 1) return fail("bad_qdcount");
  let pos = offset + DNS.QUESTION;
  if (qdcount === 1) {
    pos = skipDnsName(bytes, offset, end, pos);
    if (pos < 0) return fail(nameError(pos));
    pos += 4; // QTYPE, QCLASS
    if (pos > end) return fail("truncated");
  }
  const questionEnd = pos;
  if (questionOnly) return { check: "ok", questionEnd, end: questionEnd };
  const records = readU16(bytes, offset + DNS.ANCOUNT) + readU16(bytes, offset + DNS.NSCOUNT) +
    readU16(bytes, offset + DNS.ARCOUNT);
  for (let i = 0; i < records; i++) {
    pos = skipDnsName(bytes, offset, end, pos);
    if (pos < 0) return fail(nameError(pos));
    // TYPE, CLASS, TTL, RDLENGTH (RFC 1035 §4.1.3).
    if (pos + 10 > end) return fail("truncated");
    const rdlength = readU16(bytes, pos + 8);
    pos += 10 + rdlength;
    if (pos > end) return fail("truncated");
  }
  return { check: "ok", questionEnd, end: pos };
}

function lowerAscii(byte: number): number {
  return byte >= 0x41 && byte <= 0x5a ? byte | 0x20 : byte;
}

/**
 * Whether the first question of two messages is the same (name compared without regard to ASCII
 * case, RFC 4343; type and class exactly), and both have the same QDCOUNT (0 or 1). Both messages
 * must have passed `checkDnsMessage`; the first question never uses compression, since a pointer
 * could only point backwards into the header, which `checkDnsMessage` rejects.
 */
export function sameQuestion(
  a: Uint8Array,
  aOffset: number,
  aQuestionEnd: number,
  b: Uint8Array,
  bOffset: number,
  bQuestionEnd: number,
): boolean {
  if (readU16(a, aOffset + DNS.QDCOUNT) !== readU16(b, bOffset + DNS.QDCOUNT)) return false;
  const length = aQuestionEnd - aOffset;
  if (length !== bQuestionEnd - bOffset) return false;
  for (let i = DNS.QUESTION; i < length; i++) {
    if (lowerAscii(a[aOffset + i]) !== lowerAscii(b[bOffset + i])) return false;
  }
  return true;
}

/**
 * Writes a reply that carries only a header and the question of the request at `request[offset,
 * questionEnd)` (`questionEnd` = offset + 12 to send no question): the request's ID, opcode and RD,
 * QR and RA set, the given RCODE, no records. Returns its length. `out` needs `questionEnd -
 * offset` bytes. Used for FORMERR (RFC 1035 §4.1.1) and SERVFAIL when every upstream failed.
 *
 * @example
 * ```ts
 * import { DnsRcode, emitDnsErrorReply } from "./dns.ts";
 * const q = new Uint8Array([0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0x61, 0, 0, 1, 0, 1]);
 * const out = new Uint8Array(q.length);
 * emitDnsErrorReply(out, 0, q, 0, q.length, DnsRcode.SERVFAIL); // 19
 * ```
 */
export function emitDnsErrorReply(
  out: Uint8Array,
  outOffset: number,
  request: Uint8Array,
  offset: number,
  questionEnd: number,
  rcode: number,
): number {
  const length = questionEnd - offset;
  for (let i = 0; i < length; i++) out[outOffset + i] = request[offset + i];
  const flags = readU16(request, offset + DNS.FLAGS);
  writeU16(
    out,
    outOffset + DNS.FLAGS,
    DnsFlag.QR | (flags & (DnsFlag.OPCODE_MASK | DnsFlag.RD)) | DnsFlag.RA | (rcode & 0xf),
  );
  writeU16(out, outOffset + DNS.QDCOUNT, length > DNS_HEADER_LEN ? 1 : 0);
  writeU16(out, outOffset + DNS.ANCOUNT, 0);
  writeU16(out, outOffset + DNS.NSCOUNT, 0);
  writeU16(out, outOffset + DNS.ARCOUNT, 0);
  return length;
}
