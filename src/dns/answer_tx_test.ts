import assert from "node:assert/strict";
import { deriveAddresses } from "../config.ts";
import { Counters } from "../stack/counters.ts";
import { GuestTx } from "../stack/guest_tx.ts";
import { MemoryLink } from "../stack/memory_link.ts";
import { joinFragments } from "../stack/testdata/fragments.ts";
import { slirpMac } from "../stack/slirp_mac.ts";
import { internetChecksum } from "../wire/checksum.ts";
import { DnsAnswerTx } from "./answer_tx.ts";

const ADDRESSES = deriveAddresses(0x0a000200, 24);
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
