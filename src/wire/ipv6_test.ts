import assert from "node:assert/strict";
import { parseIpv6 } from "./address.ts";
import {
  emitIpv6Header,
  IPV6_HEADER_LEN,
  Ipv6NextHeader,
  Ipv6Packet,
  isIpv4MappedIpv6,
  isLinkLocalIpv6,
  isMulticastIpv6,
  isSpecialIpv6,
} from "./ipv6.ts";

const GUEST = parseIpv6("fd00::5054:ff:fe12:3456")!;
const GATEWAY = parseIpv6("fd00::2")!;

Deno.test("emitIpv6Header() writes the RFC 8200 §3 layout that Ipv6Packet reads back", () => {
  const bytes = new Uint8Array(2 + IPV6_HEADER_LEN + 8).fill(0xa5);
  emitIpv6Header(bytes, 2, 8, Ipv6NextHeader.UDP, 64, GATEWAY, GUEST, 0xb8);
  assert.deepEqual(Array.from(bytes.subarray(2, 10)), [0x6b, 0x80, 0, 0, 0, 8, 17, 64]);
  const ip = new Ipv6Packet().wrap(bytes, 2);
  assert.equal(ip.check(), "ok");
  assert.equal(ip.version, 6);
  assert.equal(ip.trafficClass, 0xb8);
  assert.equal(ip.flowLabel, 0);
  assert.equal(ip.payloadLength, 8);
  assert.equal(ip.nextHeader, Ipv6NextHeader.UDP);
  assert.equal(ip.hopLimit, 64);
  assert.equal(ip.src, GATEWAY);
  assert.equal(ip.dst, GUEST);
  assert.equal(ip.payloadOffset, 2 + IPV6_HEADER_LEN);
});

Deno.test("Ipv6Packet.check() reports truncation, a wrong version and a payload past the buffer", () => {
  const bytes = new Uint8Array(IPV6_HEADER_LEN + 4);
  emitIpv6Header(bytes, 0, 4, Ipv6NextHeader.ICMPV6, 255, GATEWAY, GUEST);
  const ip = new Ipv6Packet();
  assert.equal(ip.wrap(bytes).check(), "ok");
  assert.equal(ip.wrap(bytes, 0, 39).check(), "truncated");
  assert.equal(ip.wrap(new Uint8Array(0)).check(), "truncated");
  bytes[5] = 5;
  assert.equal(ip.wrap(bytes).check(), "payload_length_exceeds_buffer");
  bytes[5] = 4;
  bytes[0] = 0x45;
  assert.equal(ip.wrap(bytes).check(), "bad_version");
});

Deno.test("Ipv6Packet accessors never throw on garbage before check()", () => {
  const ip = new Ipv6Packet().wrap(new Uint8Array(3));
  assert.equal(ip.check(), "truncated");
  assert.equal(typeof ip.src, "bigint");
  assert.equal(ip.payloadLength, 0);
});

Deno.test("address classes: multicast, link-local, IPv4-mapped and never-a-peer", () => {
  assert.ok(isMulticastIpv6(parseIpv6("ff02::1")!));
  assert.ok(!isMulticastIpv6(GATEWAY));
  assert.ok(isLinkLocalIpv6(parseIpv6("fe80::2")!));
  assert.ok(isLinkLocalIpv6(parseIpv6("febf::1")!));
  assert.ok(!isLinkLocalIpv6(parseIpv6("fec0::1")!));
  assert.ok(isIpv4MappedIpv6(parseIpv6("::ffff:10.0.2.2")!));
  assert.ok(!isIpv4MappedIpv6(parseIpv6("::10.0.2.2")!));
  for (const text of ["::", "::1", "::ffff:127.0.0.1", "ff02::16"]) {
    assert.ok(isSpecialIpv6(parseIpv6(text)!), text);
  }
  for (const text of ["fd00::2", "2001:db8::1", "fe80::1"]) {
    assert.ok(!isSpecialIpv6(parseIpv6(text)!), text);
  }
});
