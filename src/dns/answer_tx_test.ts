import assert from "node:assert/strict";
import { deriveAddresses } from "../config.ts";
import { Counters } from "../stack/counters.ts";
import { GuestTx } from "../stack/guest_tx.ts";
import { MemoryLink } from "../stack/memory_link.ts";
import { joinFragments } from "../stack/testdata/fragments.ts";
import { slirpMac } from "../stack/slirp_mac.ts";
import { internetChecksum } from "../wire/checksum.ts";
import { DnsAnswerTx } from "./answer_tx.ts";
import { GUEST6 as GUEST_IP6, readIpv6Sent } from "../stack/testdata/ipv6_frames.ts";
import { Ipv6NextHeader } from "../wire/ipv6.ts";
import { readU16 } from "../wire/view.ts";

const ADDRESSES = deriveAddresses(0x0a000200, 24, true);
const GUEST = { mac: new Uint8Array([2, 0, 0, 0, 0, 9]), ip: ADDRESSES.guest, port: 40001 };

function setup(mtu = 1500) {
  const link = new MemoryLink();
  const counters = new Counters();
  const answers = new DnsAnswerTx(
    new GuestTx(link, mtu, ADDRESSES, counters),
    ADDRESSES,
    counters,
  );
  return { link, counters, answers };
}

function checkUdp(frame: Uint8Array, message: Uint8Array) {
  const v = new DataView(frame.buffer, frame.byteOffset);
  assert.deepEqual(frame.subarray(0, 6), GUEST.mac);
  assert.deepEqual(frame.subarray(6, 12), slirpMac(ADDRESSES.dns));
  assert.equal(v.getUint32(26), ADDRESSES.dns);
  assert.equal(v.getUint32(30), GUEST.ip);
  assert.equal(v.getUint16(34), 53);
  assert.equal(v.getUint16(36), GUEST.port);
  assert.equal(v.getUint16(38), 8 + message.length);
  assert.deepEqual(frame.subarray(42, 42 + message.length), message);
  const pseudo = new Uint8Array(12 + 8 + message.length + 1);
  pseudo.set(frame.subarray(26, 34));
  pseudo[9] = 17;
  pseudo[10] = (8 + message.length) >> 8;
  pseudo[11] = (8 + message.length) & 0xff;
  pseudo.set(frame.subarray(34, 42 + message.length), 12);
  assert.equal(internetChecksum(pseudo, 0, 12 + 8 + message.length), 0, "UDP checksum");
}

Deno.test("DnsAnswerTx sends the answer from 10.0.2.3:53 to the query's port", () => {
  const { link, answers } = setup();
  const message = new Uint8Array(100).map((_, i) => i);
  answers.answer(GUEST, message);
  const [frame] = link.take();
  checkUdp(frame, message);
});

Deno.test("DnsAnswerTx fragments an answer larger than the MTU instead of truncating it", () => {
  const { link, answers, counters } = setup(1500);
  const message = new Uint8Array(3900).map((_, i) => (i * 7) & 0xff);
  answers.answer(GUEST, message);
  const frames = link.take();
  assert.equal(frames.length, 3);
  for (const f of frames) assert.ok(f.length <= 1514);
  checkUdp(joinFragments(frames), message);
  assert.equal(counters.get("tx.fragmented"), 1);
});

Deno.test("DnsAnswerTx drops what does not fit a UDP datagram", () => {
  const { link, answers, counters } = setup();
  answers.answer(GUEST, new Uint8Array(65508));
  assert.equal(link.take().length, 0);
  assert.equal(counters.get("dns.answer_malformed"), 1);
});

const GUEST6 = { mac: GUEST.mac, ip: GUEST_IP6, port: 40002 };

Deno.test("DnsAnswerTx answers an IPv6 query from fd00::3:53, with the DNS address's MAC", () => {
  const { link, answers } = setup();
  const message = new Uint8Array(100).map((_, i) => i);
  answers.answer(GUEST6, message);
  const sent = readIpv6Sent(link.take());
  assert.deepEqual(sent.dstMac, GUEST.mac);
  assert.deepEqual(sent.srcMac, slirpMac(ADDRESSES.dns));
  assert.equal(sent.src, ADDRESSES.ipv6!.dns);
  assert.equal(sent.dst, GUEST_IP6);
  assert.equal(sent.nextHeader, Ipv6NextHeader.UDP);
  assert.equal(readU16(sent.payload, 0), 53);
  assert.equal(readU16(sent.payload, 2), GUEST6.port);
  assert.deepEqual(sent.payload.subarray(8), message);
  assert.ok(sent.checksumOk);
});

Deno.test("DnsAnswerTx fragments an IPv6 answer larger than the MTU (RFC 8200 §4.5)", () => {
  const { link, answers } = setup(1280);
  const message = new Uint8Array(4000).map((_, i) => (i * 7) & 0xff);
  answers.answer(GUEST6, message);
  const frames = link.take();
  assert.ok(frames.length >= 4);
  for (const f of frames) assert.ok(f.length <= 1280 + 14);
  const sent = readIpv6Sent(frames);
  assert.deepEqual(sent.payload.subarray(8), message);
  assert.ok(sent.checksumOk);
});

Deno.test("DnsAnswerTx drops an IPv6 answer when IPv6 is off", () => {
  const link = new MemoryLink();
  const counters = new Counters();
  const v4only = deriveAddresses(0x0a000200, 24);
  const answers = new DnsAnswerTx(new GuestTx(link, 1500, v4only, counters), v4only, counters);
  answers.answer(GUEST6, new Uint8Array(12));
  assert.equal(link.take().length, 0);
  assert.equal(counters.get("dns.answer_malformed"), 1);
});
