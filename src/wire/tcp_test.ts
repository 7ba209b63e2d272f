import assert from "node:assert/strict";
import {
  emitTcpHeader,
  emitTcpMssOption,
  emitTcpSackPermittedOption,
  emitTcpTimestampsOption,
  emitTcpWindowScaleOption,
  parseTcpOptions,
  TCP_HEADER_LEN,
  TcpFlag,
  TcpOptions,
  TcpSegment,
} from "./tcp.ts";
import { TCP_SYN_TO_INTERNET } from "./testdata/captured.ts";

const GUEST = 0x0a000264;
const SERVER = 0x5db8d822;

Deno.test("TcpSegment reads the captured Linux SYN", () => {
  const tcp = new TcpSegment().wrap(TCP_SYN_TO_INTERNET, 34);
  assert.equal(tcp.check(), "ok");
  assert.equal(tcp.srcPort, 0xe9e4);
  assert.equal(tcp.dstPort, 80);
  assert.equal(tcp.seq, 0x90b934b6);
  assert.equal(tcp.ack, 0);
  assert.equal(tcp.headerLength, 40);
  assert.equal(tcp.flags, TcpFlag.SYN);
  assert.equal(tcp.window, 0xfaf0);
  assert.equal(tcp.checksum, 0xbfd6);
  assert.equal(tcp.urgentPointer, 0);
  assert.equal(tcp.optionsLength, 20);
  assert.equal(tcp.payloadLength, 0);
  assert.equal(tcp.segmentLength, 1);
  assert.ok(tcp.verifyChecksum(GUEST, SERVER));
  assert.ok(!tcp.verifyChecksum(GUEST, SERVER ^ 1));
});

Deno.test("parseTcpOptions() reads MSS, SACK-permitted, timestamps and window scale", () => {
  const options = new TcpOptions();
  assert.ok(parseTcpOptions(new TcpSegment().wrap(TCP_SYN_TO_INTERNET, 34), options));
  assert.equal(options.mss, 1460);
  assert.ok(options.sackPermitted);
  assert.ok(options.hasTimestamps);
  assert.equal(options.tsVal, 0x5505464d);
  assert.equal(options.tsEcr, 0);
  assert.equal(options.windowScale, 10);
  assert.equal(options.sackBlocks, 0);
});

Deno.test("emitTcpHeader() and option helpers into a 0xa5-filled buffer reproduce the SYN", () => {
  const bytes = new Uint8Array(44).fill(0xa5);
  emitTcpHeader(bytes, 0, 0xe9e4, 80, 0x90b934b6, 0, TcpFlag.SYN, 0xfaf0, 20);
  // Linux orders them MSS, SACK-permitted + timestamps (no NOPs), NOP + window scale.
  let at = emitTcpMssOption(bytes, 20, 1460);
  bytes.set([4, 2, 8, 10], at);
  bytes.set([0x55, 0x05, 0x46, 0x4d, 0, 0, 0, 0], at + 4);
  at = emitTcpWindowScaleOption(bytes, at + 12, 10);
  assert.equal(at, 40);
  const segment = new TcpSegment().wrap(bytes, 0, 40);
  segment.fillChecksum(GUEST, SERVER);
  assert.deepEqual(bytes.subarray(0, 40), TCP_SYN_TO_INTERNET.subarray(34));
  assert.deepEqual(Array.from(bytes.subarray(40)), [0xa5, 0xa5, 0xa5, 0xa5]);
});

Deno.test("the NOP-padded option helpers parse back", () => {
  const bytes = new Uint8Array(44).fill(0xa5);
  emitTcpHeader(bytes, 0, 1, 2, 3, 4, TcpFlag.SYN | TcpFlag.ACK, 5, 24);
  let at = emitTcpMssOption(bytes, 20, 65495);
  at = emitTcpSackPermittedOption(bytes, at);
  at = emitTcpTimestampsOption(bytes, at, 0xdeadbeef, 0x01020304);
  at = emitTcpWindowScaleOption(bytes, at, 7);
  assert.equal(at, 44);
  const segment = new TcpSegment().wrap(bytes);
  assert.equal(segment.check(), "ok");
  assert.equal(segment.flags, TcpFlag.SYN | TcpFlag.ACK);
  const options = new TcpOptions();
  assert.ok(parseTcpOptions(segment, options));
  assert.deepEqual(
    [options.mss, options.sackPermitted, options.tsVal, options.tsEcr, options.windowScale],
    [65495, true, 0xdeadbeef, 0x01020304, 7],
  );
});

Deno.test("TcpSegment.check() rejects short views and data offsets < 5 or past the view", () => {
  const tcp = new TcpSegment();
  for (let length = 0; length < TCP_HEADER_LEN; length++) {
    assert.equal(tcp.wrap(TCP_SYN_TO_INTERNET, 34, length).check(), "truncated");
  }
  const bytes = TCP_SYN_TO_INTERNET.slice(34);
  tcp.wrap(bytes);
  for (let offset = 0; offset < 5; offset++) {
    bytes[12] = offset << 4;
    assert.equal(tcp.check(), "bad_data_offset", `${offset}`);
  }
  bytes[12] = 11 << 4; // 44 > 40
  assert.equal(tcp.check(), "bad_data_offset");
  bytes[12] = 15 << 4;
  assert.equal(tcp.check(), "bad_data_offset");
  bytes[12] = 5 << 4;
  assert.equal(tcp.check(), "ok");
  assert.equal(tcp.payloadLength, 20);
});

function segmentWithOptions(options: number[]): TcpSegment {
  const padded = options.length + ((4 - (options.length % 4)) % 4);
  const bytes = new Uint8Array(20 + padded);
  bytes[12] = ((20 + padded) >>> 2) << 4;
  bytes.set(options, 20);
  const segment = new TcpSegment().wrap(bytes);
  assert.equal(segment.check(), "ok");
  return segment;
}

Deno.test("parseTcpOptions() rejects lengths of 0 or 1, past the header, or missing", () => {
  const out = new TcpOptions();
  assert.ok(!parseTcpOptions(segmentWithOptions([2, 0, 0, 0]), out));
  assert.ok(!parseTcpOptions(segmentWithOptions([8, 1, 0, 0]), out));
  assert.ok(!parseTcpOptions(segmentWithOptions([2, 8, 5, 0xb4]), out));
  assert.ok(!parseTcpOptions(segmentWithOptions([1, 1, 1, 2]), out));
  assert.ok(!parseTcpOptions(segmentWithOptions([99, 255, 0, 0]), out));
});

Deno.test("parseTcpOptions() skips unknown options and known ones of the wrong length", () => {
  const out = new TcpOptions();
  // Unknown kind 30 (MPTCP) length 4, MSS of length 3 (ignored), window scale.
  assert.ok(parseTcpOptions(segmentWithOptions([30, 4, 1, 2, 2, 3, 9, 3, 3, 5]), out));
  assert.equal(out.mss, -1);
  assert.equal(out.windowScale, 5);
  // Timestamps of length 8, SACK-permitted of length 3.
  assert.ok(parseTcpOptions(segmentWithOptions([8, 8, 1, 2, 3, 4, 5, 6, 4, 3, 0]), out));
  assert.ok(!out.hasTimestamps && !out.sackPermitted);
});

Deno.test("parseTcpOptions() stops at End and resets earlier results", () => {
  const out = new TcpOptions();
  assert.ok(parseTcpOptions(segmentWithOptions([2, 4, 1, 0]), out));
  assert.equal(out.mss, 256);
  assert.ok(parseTcpOptions(segmentWithOptions([0, 2, 4, 1, 0]), out));
  assert.equal(out.mss, -1);
});

Deno.test("parseTcpOptions() clamps a window shift above 14 (RFC 7323 §2.3)", () => {
  const out = new TcpOptions();
  assert.ok(parseTcpOptions(segmentWithOptions([3, 3, 200, 0]), out));
  assert.equal(out.windowScale, 14);
});

Deno.test("parseTcpOptions() reads SACK blocks and rejects malformed SACK lengths", () => {
  const out = new TcpOptions();
  const blocks = [0, 0, 0, 10, 0, 0, 0, 20, 0, 0, 0, 30, 0, 0, 0, 40];
  assert.ok(parseTcpOptions(segmentWithOptions([1, 1, 5, 18, ...blocks]), out));
  assert.equal(out.sackBlocks, 2);
  assert.deepEqual([out.sackLeft[0], out.sackRight[0], out.sackLeft[1], out.sackRight[1]], [
    10,
    20,
    30,
    40,
  ]);
  assert.ok(parseTcpOptions(segmentWithOptions([5, 12, ...blocks.slice(0, 10)]), out));
  assert.equal(out.sackBlocks, 0);
});

Deno.test("segmentLength counts SYN and FIN", () => {
  const bytes = new Uint8Array(25);
  emitTcpHeader(bytes, 0, 1, 2, 3, 4, TcpFlag.FIN | TcpFlag.ACK, 5, 0);
  assert.equal(new TcpSegment().wrap(bytes).segmentLength, 6);
});
