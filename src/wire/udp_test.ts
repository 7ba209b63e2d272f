import assert from "node:assert/strict";
import { emitUdpHeader, UDP_HEADER_LEN, udpChecksum, UdpDatagram } from "./udp.ts";
import { DHCP_DISCOVER_UDHCPC, UDP_DNS_QUERY_TO_INTERNET } from "./testdata/captured.ts";

const GUEST = 0x0a000264;
const CLOUDFLARE = 0x01010101;

Deno.test("UdpDatagram reads the captured DNS query and verifies its checksum", () => {
  const udp = new UdpDatagram().wrap(UDP_DNS_QUERY_TO_INTERNET, 34);
  assert.equal(udp.check(), "ok");
  assert.equal(udp.srcPort, 0xd8a5);
  assert.equal(udp.dstPort, 53);
  assert.equal(udp.udpLength, 37);
  assert.equal(udp.checksum, 0x36c2);
  assert.equal(udp.payloadOffset, 42);
  assert.equal(udp.payloadLength, 29);
  assert.ok(udp.verifyChecksum(GUEST, CLOUDFLARE));
  assert.ok(!udp.verifyChecksum(GUEST, CLOUDFLARE + 1));
});

Deno.test("UdpDatagram verifies the captured udhcpc DISCOVER from 0.0.0.0", () => {
  const udp = new UdpDatagram().wrap(DHCP_DISCOVER_UDHCPC, 34);
  assert.equal(udp.check(), "ok");
  assert.equal(udp.dstPort, 67);
  assert.ok(udp.verifyChecksum(0, 0xffffffff));
});

Deno.test("emitUdpHeader() into a 0xa5-filled buffer reproduces the captured datagram", () => {
  const bytes = new Uint8Array(40).fill(0xa5);
  bytes.set(UDP_DNS_QUERY_TO_INTERNET.subarray(42), 8);
  emitUdpHeader(bytes, 0, 0xd8a5, 53, 29, GUEST, CLOUDFLARE);
  assert.deepEqual(bytes.subarray(0, 37), UDP_DNS_QUERY_TO_INTERNET.subarray(34));
  assert.deepEqual(Array.from(bytes.subarray(37)), [0xa5, 0xa5, 0xa5]);
});

Deno.test("UdpDatagram.check() reports short views and impossible length fields", () => {
  const udp = new UdpDatagram();
  for (let length = 0; length < UDP_HEADER_LEN; length++) {
    assert.equal(udp.wrap(UDP_DNS_QUERY_TO_INTERNET, 34, length).check(), "truncated");
  }
  const bytes = UDP_DNS_QUERY_TO_INTERNET.slice(34);
  udp.wrap(bytes);
  for (const bad of [0, 7, 38, 65535]) {
    bytes[4] = bad >>> 8;
    bytes[5] = bad & 0xff;
    assert.equal(udp.check(), "bad_length", `${bad}`);
  }
  bytes[5] = 8;
  bytes[4] = 0;
  assert.equal(udp.check(), "ok");
  assert.equal(udp.payloadLength, 0);
});

Deno.test("verifyChecksum() accepts a zero checksum: the sender computed none (RFC 768)", () => {
  const bytes = UDP_DNS_QUERY_TO_INTERNET.slice(34);
  bytes[6] = bytes[7] = 0;
  assert.ok(new UdpDatagram().wrap(bytes).verifyChecksum(GUEST, CLOUDFLARE));
});

Deno.test("a computed checksum of 0 is transmitted as 0xffff (RFC 768)", () => {
  // With the last payload word zero, the sum S gives checksum ~S; writing ~S into that word makes
  // the sum 0xffff, whose complement 0 must go on the wire as 0xffff.
  const bytes = new Uint8Array(12);
  emitUdpHeader(bytes, 0, 1000, 2000, 4, GUEST, CLOUDFLARE);
  const word = (bytes[6] << 8) | bytes[7];
  bytes[6] = bytes[7] = 0;
  bytes[10] = word >>> 8;
  bytes[11] = word & 0xff;
  assert.equal(udpChecksum(bytes, 0, 12, GUEST, CLOUDFLARE), 0xffff);
  emitUdpHeader(bytes, 0, 1000, 2000, 4, GUEST, CLOUDFLARE);
  assert.deepEqual(Array.from(bytes.subarray(6, 8)), [0xff, 0xff]);
  assert.ok(new UdpDatagram().wrap(bytes).verifyChecksum(GUEST, CLOUDFLARE));
});

Deno.test("fillChecksum() after a port rewrite", () => {
  const bytes = UDP_DNS_QUERY_TO_INTERNET.slice(34);
  const udp = new UdpDatagram().wrap(bytes);
  udp.dstPort = 5353;
  assert.ok(!udp.verifyChecksum(GUEST, CLOUDFLARE));
  udp.fillChecksum(GUEST, CLOUDFLARE);
  assert.ok(udp.verifyChecksum(GUEST, CLOUDFLARE));
});
