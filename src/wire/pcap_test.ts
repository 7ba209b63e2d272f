import assert from "node:assert/strict";
import {
  emitPcapFileHeader,
  emitPcapRecordHeader,
  LINKTYPE_ETHERNET,
  parsePcap,
  parsePcapFileHeader,
  PCAP_SNAPLEN,
} from "./pcap.ts";

/** The header tcpdump -w writes on a little-endian host for Ethernet, snaplen 262144. */
const TCPDUMP_HEADER = Uint8Array.from([
  0xd4,
  0xc3,
  0xb2,
  0xa1,
  0x02,
  0x00,
  0x04,
  0x00,
  0,
  0,
  0,
  0,
  0,
  0,
  0,
  0,
  0x00,
  0x00,
  0x04,
  0x00,
  0x01,
  0x00,
  0x00,
  0x00,
]);

Deno.test("emitPcapFileHeader() writes tcpdump's bytes for Ethernet and snaplen 262144", () => {
  const header = new Uint8Array(24).fill(0xa5);
  emitPcapFileHeader(header, 0, PCAP_SNAPLEN, LINKTYPE_ETHERNET);
  assert.deepEqual(header, TCPDUMP_HEADER);
});

Deno.test("parsePcapFileHeader() takes both byte orders and the nanosecond magic", () => {
  assert.deepEqual(parsePcapFileHeader(TCPDUMP_HEADER), {
    littleEndian: true,
    nanoseconds: false,
    versionMajor: 2,
    versionMinor: 4,
    snaplen: 262144,
    linktype: 1,
  });
  const big = Uint8Array.from([
    0xa1,
    0xb2,
    0x3c,
    0x4d,
    0,
    2,
    0,
    4,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0xff,
    0xff,
    0,
    0,
    0,
    1,
  ]);
  assert.deepEqual(parsePcapFileHeader(big), {
    littleEndian: false,
    nanoseconds: true,
    versionMajor: 2,
    versionMinor: 4,
    snaplen: 65535,
    linktype: 1,
  });
  assert.equal(parsePcapFileHeader(TCPDUMP_HEADER.subarray(0, 23)), null);
  assert.equal(parsePcapFileHeader(new Uint8Array(24)), null);
});

Deno.test("parsePcap() reads records and reports the first problem", () => {
  const file = new Uint8Array(24 + 16 + 3 + 16 + 2);
  emitPcapFileHeader(file, 0, 3, LINKTYPE_ETHERNET);
  emitPcapRecordHeader(file, 24, 1700000000, 999999, 3, 60);
  file.set([1, 2, 3], 40);
  emitPcapRecordHeader(file, 43, 1700000001, 5, 2, 2);
  file.set([4, 5], 59);
  const parsed = parsePcap(file);
  assert.ok(parsed.ok);
  assert.deepEqual(parsed.records.map((r) => [r.seconds, r.microseconds, r.originalLength]), [
    [1700000000, 999999, 60],
    [1700000001, 5, 2],
  ]);
  assert.deepEqual([...parsed.records[0].data], [1, 2, 3]);
  assert.deepEqual(parsePcap(file.subarray(0, file.length - 1)), {
    ok: false,
    problem: "truncated_record",
  });
  assert.deepEqual(parsePcap(file.subarray(0, 30)), { ok: false, problem: "truncated_record" });
  const over = file.slice();
  emitPcapRecordHeader(over, 24, 0, 0, 4, 60);
  assert.deepEqual(parsePcap(over), { ok: false, problem: "captured_exceeds_snaplen" });
  const longer = file.slice();
  emitPcapRecordHeader(longer, 24, 0, 0, 3, 2);
  assert.deepEqual(parsePcap(longer), { ok: false, problem: "captured_exceeds_original" });
  const fraction = file.slice();
  emitPcapRecordHeader(fraction, 24, 0, 1_000_000, 3, 3);
  assert.deepEqual(parsePcap(fraction), { ok: false, problem: "bad_fraction" });
  assert.deepEqual(parsePcap(new Uint8Array(3)), { ok: false, problem: "bad_header" });
});
