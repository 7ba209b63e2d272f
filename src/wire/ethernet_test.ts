import assert from "node:assert/strict";
import {
  BROADCAST_MAC,
  emitEthernetHeader,
  EthernetFrame,
  EtherType,
  isBroadcastMac,
  isMulticastMac,
  isZeroMac,
  macEquals,
} from "./ethernet.ts";
import {
  ARP_REQUEST_FOR_GATEWAY,
  ICMP_ECHO_REQUEST_TO_GATEWAY,
  IPV6_NEIGHBOR_SOLICITATION,
} from "./testdata/captured.ts";

const GUEST_MAC = new Uint8Array([0x0e, 0xd4, 0x18, 0xd9, 0x38, 0xfb]);

Deno.test("EthernetFrame reads a captured broadcast ARP frame", () => {
  const eth = new EthernetFrame().wrap(ARP_REQUEST_FOR_GATEWAY);
  assert.equal(eth.check(), "ok");
  assert.equal(eth.ethertype, EtherType.ARP);
  assert.ok(isBroadcastMac(eth.bytes, eth.dstOffset));
  assert.ok(macEquals(eth.bytes, eth.srcOffset, GUEST_MAC, 0));
  assert.equal(eth.payloadOffset, 14);
  assert.equal(eth.payloadLength, 28);
});

Deno.test("EthernetFrame reads unicast IPv4 and multicast IPv6 frames", () => {
  const eth = new EthernetFrame().wrap(ICMP_ECHO_REQUEST_TO_GATEWAY);
  assert.equal(eth.ethertype, EtherType.IPV4);
  assert.ok(!isMulticastMac(eth.bytes, eth.dstOffset));
  eth.wrap(IPV6_NEIGHBOR_SOLICITATION);
  assert.equal(eth.ethertype, EtherType.IPV6);
  assert.ok(isMulticastMac(eth.bytes, eth.dstOffset));
  assert.ok(!isBroadcastMac(eth.bytes, eth.dstOffset));
});

Deno.test("EthernetFrame.check() reports frames shorter than 14 bytes as truncated", () => {
  const eth = new EthernetFrame();
  for (let length = 0; length < 14; length++) {
    assert.equal(eth.wrap(ARP_REQUEST_FOR_GATEWAY, 0, length).check(), "truncated");
  }
  assert.equal(eth.wrap(ARP_REQUEST_FOR_GATEWAY, 0, 14).check(), "ok");
});

Deno.test("wrap() turns out-of-range windows into empty views", () => {
  const eth = new EthernetFrame();
  assert.equal(eth.wrap(ARP_REQUEST_FOR_GATEWAY, 40, 14).check(), "truncated");
  assert.equal(eth.wrap(ARP_REQUEST_FOR_GATEWAY, -1).check(), "truncated");
  assert.equal(eth.wrap(ARP_REQUEST_FOR_GATEWAY, 100).check(), "truncated");
  assert.equal(eth.wrap(ARP_REQUEST_FOR_GATEWAY, 0.5).check(), "truncated");
  assert.equal(eth.length, 0);
});

Deno.test("emitEthernetHeader() writes exactly 14 bytes into a 0xa5-filled buffer", () => {
  const bytes = new Uint8Array(20).fill(0xa5);
  const src = new Uint8Array([0x52, 0x55, 10, 0, 2, 2]);
  emitEthernetHeader(bytes, 2, BROADCAST_MAC, 0, src, 0, EtherType.ARP);
  assert.deepEqual(
    Array.from(bytes),
    [
      0xa5,
      0xa5,
      255,
      255,
      255,
      255,
      255,
      255,
      0x52,
      0x55,
      10,
      0,
      2,
      2,
      0x08,
      0x06,
      0xa5,
      0xa5,
      0xa5,
      0xa5,
    ],
  );
  assert.deepEqual(bytes.subarray(2, 8), ARP_REQUEST_FOR_GATEWAY.subarray(0, 6));
});

Deno.test("EthernetFrame setters round-trip on a SharedArrayBuffer", () => {
  const bytes = new Uint8Array(new SharedArrayBuffer(60));
  const eth = new EthernetFrame().wrap(bytes);
  eth.ethertype = EtherType.IPV6;
  assert.equal(eth.ethertype, 0x86dd);
  assert.ok(isZeroMac(bytes, 0));
});
