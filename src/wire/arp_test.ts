import assert from "node:assert/strict";
import { ARP_LEN, ArpOp, ArpPacket, emitArp } from "./arp.ts";
import { macEquals } from "./ethernet.ts";
import { ARP_REPLY_FROM_GUEST, ARP_REQUEST_FOR_GATEWAY } from "./testdata/captured.ts";

const GUEST_MAC = new Uint8Array([0x0e, 0xd4, 0x18, 0xd9, 0x38, 0xfb]);
const GATEWAY_MAC = new Uint8Array([0x52, 0x55, 0x0a, 0x00, 0x02, 0x02]);

Deno.test("ArpPacket reads the captured Linux request for the gateway", () => {
  const arp = new ArpPacket().wrap(ARP_REQUEST_FOR_GATEWAY, 14);
  assert.equal(arp.check(), "ok");
  assert.equal(arp.operation, ArpOp.REQUEST);
  assert.ok(macEquals(arp.bytes, arp.senderMacOffset, GUEST_MAC, 0));
  assert.equal(arp.senderIp, 0x0a000264);
  assert.equal(arp.targetIp, 0x0a000202);
});

Deno.test("ArpPacket reads the captured Linux reply", () => {
  const arp = new ArpPacket().wrap(ARP_REPLY_FROM_GUEST, 14);
  assert.equal(arp.check(), "ok");
  assert.equal(arp.operation, ArpOp.REPLY);
  assert.equal(arp.senderIp, 0x0a000264);
  assert.ok(macEquals(arp.bytes, arp.targetMacOffset, GATEWAY_MAC, 0));
});

Deno.test("emitArp() into a 0xa5-filled buffer reproduces the captured reply", () => {
  const bytes = new Uint8Array(ARP_LEN + 2).fill(0xa5);
  emitArp(bytes, 0, ArpOp.REPLY, GUEST_MAC, 0, 0x0a000264, GATEWAY_MAC, 0, 0x0a000202);
  assert.deepEqual(bytes.subarray(0, ARP_LEN), ARP_REPLY_FROM_GUEST.subarray(14));
  assert.deepEqual(Array.from(bytes.subarray(ARP_LEN)), [0xa5, 0xa5]);
});

Deno.test("ArpPacket.check() reports every length below 28 as truncated", () => {
  const arp = new ArpPacket();
  for (let length = 0; length < ARP_LEN; length++) {
    assert.equal(arp.wrap(ARP_REQUEST_FOR_GATEWAY, 14, length).check(), "truncated", `${length}`);
  }
});

Deno.test("ArpPacket.check() rejects other hardware and protocol types", () => {
  const bytes = ARP_REQUEST_FOR_GATEWAY.slice(14);
  const arp = new ArpPacket().wrap(bytes);
  bytes[1] = 6; // IEEE 802
  assert.equal(arp.check(), "unsupported_hardware");
  bytes[1] = 1;
  bytes[4] = 8; // hln
  assert.equal(arp.check(), "unsupported_hardware");
  bytes[4] = 6;
  bytes[2] = 0x86; // IPv6 EtherType as ar$pro
  bytes[3] = 0xdd;
  assert.equal(arp.check(), "unsupported_protocol");
  bytes[2] = 0x08;
  bytes[3] = 0x00;
  bytes[5] = 16; // pln
  assert.equal(arp.check(), "unsupported_protocol");
  bytes[5] = 4;
  assert.equal(arp.check(), "ok");
});

Deno.test("ArpPacket accepts trailing padding after 28 bytes", () => {
  const padded = new Uint8Array(60);
  padded.set(ARP_REQUEST_FOR_GATEWAY);
  assert.equal(new ArpPacket().wrap(padded, 14).check(), "ok");
});
