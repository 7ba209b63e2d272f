import assert from "node:assert/strict";
import { deriveAddresses } from "../config.ts";
import { ArpOp, ArpPacket } from "../wire/arp.ts";
import { EthernetFrame, EtherType } from "../wire/ethernet.ts";
import { ARP_REPLY_FROM_GUEST, ARP_REQUEST_FOR_GATEWAY } from "../wire/testdata/captured.ts";
import { Counters } from "./counters.ts";
import { Dispatcher } from "./dispatcher.ts";
import { MemoryLink } from "./memory_link.ts";
import {
  ADDRESSES,
  arpFrame,
  clientMac,
  DNS_MAC,
  GATEWAY_MAC,
  GUEST_IP,
  GUEST_MAC,
} from "./testdata/guest_frames.ts";

function setup(addresses = ADDRESSES) {
  const link = new MemoryLink();
  const counters = new Counters();
  const dispatcher = new Dispatcher(addresses, 1500, link, counters);
  return { link, counters, dispatcher };
}

function readArp(frame: Uint8Array) {
  const eth = new EthernetFrame().wrap(frame);
  const arp = new ArpPacket().wrap(frame, 14);
  assert.equal(eth.check(), "ok");
  assert.equal(eth.ethertype, EtherType.ARP);
  assert.equal(arp.check(), "ok");
  return {
    ethDst: frame.slice(0, 6),
    ethSrc: frame.slice(6, 12),
    op: arp.operation,
    sha: frame.slice(22, 28),
    spa: arp.senderIp,
    tha: frame.slice(32, 38),
    tpa: arp.targetIp,
  };
}

Deno.test("ARP: the captured Linux request for the gateway gets 52:55:0a:00:02:02", () => {
  const { link, counters, dispatcher } = setup();
  dispatcher.handleFrame(ARP_REQUEST_FOR_GATEWAY, 0);
  const [reply, ...rest] = link.take();
  assert.equal(rest.length, 0);
  assert.equal(reply.length, 60, "padded to 60 bytes");
  assert.ok(reply.subarray(42).every((b) => b === 0), "zero padding");
  const r = readArp(reply);
  assert.deepEqual(r.ethDst, GUEST_MAC);
  assert.deepEqual(r.ethSrc, GATEWAY_MAC);
  assert.equal(r.op, ArpOp.REPLY);
  assert.deepEqual(r.sha, GATEWAY_MAC);
  assert.equal(r.spa, ADDRESSES.gateway);
  assert.deepEqual(r.tha, GUEST_MAC);
  assert.equal(r.tpa, GUEST_IP);
  assert.deepEqual(counters.nonZero(), {
    "frame.received": 1,
    "arp.learned": 1,
    "arp.request": 1,
    "arp.reply": 1,
    "tx.frame": 1,
  });
  assert.ok(dispatcher.neighbors.has(GUEST_IP));
});

Deno.test("ARP: a request for the DNS address gets 52:55:0a:00:02:03", () => {
  const { link, dispatcher } = setup();
  dispatcher.handleFrame(arpFrame(ArpOp.REQUEST, GUEST_MAC, GUEST_IP, ADDRESSES.dns), 0);
  const r = readArp(link.take()[0]);
  assert.deepEqual(r.sha, DNS_MAC);
  assert.deepEqual(r.ethSrc, DNS_MAC);
  assert.equal(r.spa, ADDRESSES.dns);
});

Deno.test("ARP: other addresses in the network get no answer, like libslirp", () => {
  const { link, counters, dispatcher } = setup();
  for (const target of [0x0a000201, 0x0a000232, ADDRESSES.broadcast, 0x08080808]) {
    dispatcher.handleFrame(arpFrame(ArpOp.REQUEST, GUEST_MAC, GUEST_IP, target), 0);
  }
  assert.equal(link.take().length, 0);
  assert.equal(counters.get("arp.request_ignored"), 4);
  assert.ok(dispatcher.neighbors.has(GUEST_IP), "the sender is still learned");
});

Deno.test("ARP: a duplicate address probe from 0.0.0.0 is answered but not learned", () => {
  const { link, dispatcher } = setup();
  dispatcher.handleFrame(arpFrame(ArpOp.REQUEST, GUEST_MAC, 0, ADDRESSES.gateway), 0);
  const r = readArp(link.take()[0]);
  assert.equal(r.tpa, 0);
  assert.equal(dispatcher.neighbors.size, 0);
});

Deno.test("ARP: a probe for the guest's own address gets no answer (RFC 5227)", () => {
  const { link, dispatcher } = setup();
  dispatcher.handleFrame(arpFrame(ArpOp.REQUEST, GUEST_MAC, 0, GUEST_IP), 0);
  assert.equal(link.take().length, 0);
});

Deno.test("ARP: the captured Linux reply teaches the guest's MAC without an answer", () => {
  const { link, counters, dispatcher } = setup();
  dispatcher.handleFrame(ARP_REPLY_FROM_GUEST, 0);
  assert.equal(link.take().length, 0);
  assert.equal(counters.get("arp.learned"), 1);
  const mac = new Uint8Array(6);
  assert.ok(dispatcher.neighbors.copyMac(GUEST_IP, mac, 0));
  assert.deepEqual(mac, GUEST_MAC);
});

Deno.test("ARP: a new MAC for a known address replaces the old one", () => {
  const { dispatcher } = setup();
  dispatcher.handleFrame(ARP_REPLY_FROM_GUEST, 0);
  dispatcher.handleFrame(arpFrame(ArpOp.REPLY, clientMac(9), GUEST_IP, ADDRESSES.gateway), 0);
  const mac = new Uint8Array(6);
  dispatcher.neighbors.copyMac(GUEST_IP, mac, 0);
  assert.deepEqual(mac, clientMac(9));
  assert.equal(dispatcher.neighbors.size, 1);
});

Deno.test("ARP: senders claiming the gateway, outside the network or with group MACs are not learned", () => {
  const { dispatcher } = setup();
  dispatcher.handleFrame(arpFrame(ArpOp.REPLY, clientMac(1), ADDRESSES.gateway, GUEST_IP), 0);
  dispatcher.handleFrame(arpFrame(ArpOp.REPLY, clientMac(1), 0xc0a80001, GUEST_IP), 0);
  dispatcher.handleFrame(arpFrame(ArpOp.REPLY, clientMac(1), ADDRESSES.broadcast, GUEST_IP), 0);
  const group = new Uint8Array([0x03, 0, 0, 0, 0, 1]);
  const frame = arpFrame(ArpOp.REPLY, clientMac(1), GUEST_IP, ADDRESSES.gateway);
  frame.set(group, 22);
  dispatcher.handleFrame(frame, 0);
  assert.equal(dispatcher.neighbors.size, 0);
});

Deno.test("ARP: the table keeps 16 entries and replaces round-robin", () => {
  const { dispatcher } = setup();
  for (let n = 0; n < 20; n++) {
    dispatcher.handleFrame(
      arpFrame(ArpOp.REPLY, clientMac(n + 1), 0x0a000240 + n, ADDRESSES.gateway),
      0,
    );
  }
  assert.equal(dispatcher.neighbors.size, 16);
  assert.ok(!dispatcher.neighbors.has(0x0a000240));
  assert.ok(dispatcher.neighbors.has(0x0a000253));
});

Deno.test("ARP: truncated packets, other hardware, protocols and opcodes are dropped and counted", () => {
  const { link, counters, dispatcher } = setup();
  for (let length = 14; length < 42; length++) {
    dispatcher.handleFrame(ARP_REQUEST_FOR_GATEWAY.subarray(0, length), 0);
  }
  const rarp = ARP_REQUEST_FOR_GATEWAY.slice();
  rarp[21] = 3;
  dispatcher.handleFrame(rarp, 0);
  const ieee = ARP_REQUEST_FOR_GATEWAY.slice();
  ieee[15] = 6;
  dispatcher.handleFrame(ieee, 0);
  const ipv6 = ARP_REQUEST_FOR_GATEWAY.slice();
  ipv6[19] = 16;
  dispatcher.handleFrame(ipv6, 0);
  assert.equal(link.take().length, 0);
  // Lengths 14..19 cannot show the types; 20..41 show Ethernet/IPv4 but are short.
  assert.equal(counters.get("arp.truncated"), 28);
  assert.equal(counters.get("arp.unsupported_op"), 1);
  assert.equal(counters.get("arp.unsupported_hardware"), 1);
  assert.equal(counters.get("arp.unsupported_protocol"), 1);
});

Deno.test("ARP: the gateway MAC follows --cidr (10.0.135.128/25 → 52:55:0a:00:87:82)", () => {
  const addresses = deriveAddresses(0x0a008780, 25);
  const { link, dispatcher } = setup(addresses);
  dispatcher.handleFrame(arpFrame(ArpOp.REQUEST, GUEST_MAC, addresses.guest, addresses.gateway), 0);
  const r = readArp(link.take()[0]);
  assert.deepEqual(Array.from(r.sha), [0x52, 0x55, 0x0a, 0x00, 0x87, 0x82]);
});
