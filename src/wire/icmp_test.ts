import assert from "node:assert/strict";
import {
  emitIcmpEcho,
  emitIcmpError,
  ICMP_HEADER_LEN,
  IcmpMessage,
  icmpQuoteLength,
  IcmpType,
  IcmpUnreachable,
} from "./icmp.ts";
import { internetChecksum } from "./checksum.ts";
import { ICMP_ECHO_REQUEST_TO_GATEWAY, UDP_DNS_QUERY_TO_INTERNET } from "./testdata/captured.ts";

Deno.test("IcmpMessage reads the captured ping", () => {
  const icmp = new IcmpMessage().wrap(ICMP_ECHO_REQUEST_TO_GATEWAY, 34, 64);
  assert.equal(icmp.check(), "ok");
  assert.ok(icmp.verifyChecksum());
  assert.equal(icmp.type, IcmpType.ECHO_REQUEST);
  assert.equal(icmp.code, 0);
  assert.equal(icmp.checksum, 0x5b09);
  assert.equal(icmp.identifier, 0x11c6);
  assert.equal(icmp.sequence, 1);
  assert.equal(icmp.dataOffset, 42);
  assert.equal(icmp.dataLength, 56);
});

Deno.test("IcmpMessage.check() reports lengths below 8 as truncated", () => {
  const icmp = new IcmpMessage();
  for (let length = 0; length < ICMP_HEADER_LEN; length++) {
    assert.equal(icmp.wrap(ICMP_ECHO_REQUEST_TO_GATEWAY, 34, length).check(), "truncated");
  }
  assert.equal(icmp.wrap(ICMP_ECHO_REQUEST_TO_GATEWAY, 34, 8).check(), "ok");
});

Deno.test("emitIcmpEcho() into a 0xa5-filled buffer reproduces the captured request", () => {
  const bytes = new Uint8Array(66).fill(0xa5);
  bytes.set(ICMP_ECHO_REQUEST_TO_GATEWAY.subarray(42), 8);
  emitIcmpEcho(bytes, 0, IcmpType.ECHO_REQUEST, 0x11c6, 1, 56);
  assert.deepEqual(bytes.subarray(0, 64), ICMP_ECHO_REQUEST_TO_GATEWAY.subarray(34));
  assert.deepEqual([bytes[64], bytes[65]], [0xa5, 0xa5]);
});

Deno.test("emitIcmpEcho() handles odd data lengths and zero data", () => {
  for (const dataLength of [0, 1, 7, 1473]) {
    const bytes = new Uint8Array(8 + dataLength).map((_, i) => i * 13);
    emitIcmpEcho(bytes, 0, IcmpType.ECHO_REPLY, 1, 2, dataLength);
    assert.ok(new IcmpMessage().wrap(bytes).verifyChecksum(), `${dataLength}`);
  }
});

Deno.test("fillChecksum() and a flipped byte", () => {
  const bytes = ICMP_ECHO_REQUEST_TO_GATEWAY.slice(34);
  const icmp = new IcmpMessage().wrap(bytes);
  icmp.type = IcmpType.ECHO_REPLY;
  assert.ok(!icmp.verifyChecksum());
  icmp.fillChecksum();
  assert.ok(icmp.verifyChecksum());
  bytes[60] ^= 0x40;
  assert.ok(!icmp.verifyChecksum());
});

Deno.test("emitIcmpError() quotes the IP header and 64 bits of data (RFC 792)", () => {
  const datagram = UDP_DNS_QUERY_TO_INTERNET.subarray(14);
  const quote = icmpQuoteLength(datagram, 0, datagram.length);
  assert.equal(quote, 28);
  const bytes = new Uint8Array(40).fill(0xa5);
  const length = emitIcmpError(
    bytes,
    0,
    IcmpType.DEST_UNREACHABLE,
    IcmpUnreachable.PORT,
    0,
    datagram,
    0,
    quote,
  );
  assert.equal(length, 36);
  assert.deepEqual(Array.from(bytes.subarray(0, 2)), [3, 3]);
  assert.deepEqual(Array.from(bytes.subarray(4, 8)), [0, 0, 0, 0]);
  assert.deepEqual(bytes.subarray(8, 36), datagram.subarray(0, 28));
  assert.equal(internetChecksum(bytes, 0, 36), 0);
  assert.deepEqual(Array.from(bytes.subarray(36)), [0xa5, 0xa5, 0xa5, 0xa5]);
});

Deno.test("emitIcmpError() carries the next-hop MTU for fragmentation needed (RFC 1191)", () => {
  const datagram = UDP_DNS_QUERY_TO_INTERNET.subarray(14);
  const bytes = new Uint8Array(64);
  emitIcmpError(
    bytes,
    0,
    IcmpType.DEST_UNREACHABLE,
    IcmpUnreachable.FRAGMENTATION_NEEDED,
    1500,
    datagram,
    0,
    28,
  );
  assert.deepEqual(Array.from(bytes.subarray(4, 8)), [0, 0, 0x05, 0xdc]);
});

Deno.test("icmpQuoteLength() never exceeds the datagram, whatever its IHL says", () => {
  const datagram = new Uint8Array(100);
  datagram[0] = 0x4f; // IHL 15
  assert.equal(icmpQuoteLength(datagram, 0, 64), 64);
  assert.equal(icmpQuoteLength(datagram, 0, 100), 68);
  assert.equal(icmpQuoteLength(datagram, 0, 10), 10);
  assert.equal(icmpQuoteLength(datagram, 0, 0), 0);
  datagram[0] = 0x40; // IHL 0
  assert.equal(icmpQuoteLength(datagram, 0, 64), 8);
});
