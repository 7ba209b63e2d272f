import assert from "node:assert/strict";
import { EthernetFrame } from "../wire/ethernet.ts";
import { Ipv6NextHeader, Ipv6Packet } from "../wire/ipv6.ts";
import { FragmentHeader, Ipv6ExtensionHeaders } from "../wire/ipv6_ext.ts";
import { Counters } from "./counters.ts";
import { Ipv6Reassembler } from "./ipv6_reassembly.ts";
import { MAX_QUEUES, REASSEMBLY_TIMEOUT_MS } from "./reassembly.ts";
import { fragment6, fragment6Of, GUEST6, ipv6Frame, V6 } from "./testdata/ipv6_frames.ts";

/** A UDP-ish packet from the guest with `length` bytes of patterned payload. */
function packet(length: number, dst = 0x2001_0db8n << 112n | 1n): Uint8Array {
  const payload = new Uint8Array(length);
  for (let i = 0; i < length; i++) payload[i] = (i * 13 + 5) & 0xff;
  return ipv6Frame(payload, Ipv6NextHeader.UDP, GUEST6, dst);
}

function setup() {
  const counters = new Counters();
  const reassembler = new Ipv6Reassembler(counters);
  const eth = new EthernetFrame();
  const ip = new Ipv6Packet();
  const walk = new Ipv6ExtensionHeaders();
  const fragment = new FragmentHeader();
  const add = (frame: Uint8Array, now = 0) => {
    eth.wrap(frame);
    ip.wrap(frame, 14, frame.length - 14);
    assert.equal(ip.check(), "ok");
    const end = ip.payloadOffset + ip.payloadLength;
    assert.equal(walk.walk(frame, ip.payloadOffset, end, ip.nextHeader), "fragment");
    assert.equal(fragment.wrap(frame, walk.upperOffset, 8).check(), "ok");
    return reassembler.add(eth, ip, fragment, now);
  };
  const counted = () => counters.nonZero() as Record<string, number>;
  return { reassembler, add, counted };
}

Deno.test("Ipv6Reassembler puts fragments together without the fragment header", () => {
  const { add, counted, reassembler } = setup();
  const original = packet(4000);
  const parts = fragment6(original, 1448);
  assert.equal(parts.length, 3);
  assert.equal(add(parts[1]), null);
  assert.equal(add(parts[2]), null);
  const whole = add(parts[0]);
  assert.deepEqual(whole, original);
  assert.deepEqual(counted(), { "ipv6.fragment": 3, "ipv6.reassembled": 1 });
  assert.equal(reassembler.queues, 0);
  assert.equal(reassembler.bytes, 0);
});

Deno.test("Ipv6Reassembler strips unfragmentable extension headers, takes the next header", () => {
  const { add } = setup();
  const original = packet(3000);
  // A destination options header (8 bytes of PadN) before the fragment header.
  const ext = new Uint8Array([0, 0, 1, 4, 0, 0, 0, 0]);
  let whole: Uint8Array | null = null;
  for (const p of fragment6(original, 1448, { unfragmentable: ext }).reverse()) whole = add(p);
  assert.deepEqual(whole, original);
  assert.equal(whole![20], Ipv6NextHeader.UDP);
});

Deno.test("Ipv6Reassembler counts the unfragmentable part against 65535 (RFC 8200 §4.5)", () => {
  const { add, counted } = setup();
  const max = packet(65535);
  let whole: Uint8Array | null = null;
  for (const p of fragment6(max, 8192)) whole = add(p);
  assert.deepEqual(whole, max);
  // The same last fragment behind 8 bytes of destination options: 8 + 65535 is too long.
  const ext = new Uint8Array([0, 0, 1, 4, 0, 0, 0, 0]);
  const last = fragment6Of(max, 65528, 7, false, { unfragmentable: ext, id: 9 });
  assert.equal(add(last), null);
  assert.equal(counted()["ipv6.fragment_too_long"], 1);
});

Deno.test("Ipv6Reassembler drops the packet on overlaps and keeps exact duplicates out", () => {
  const { add, counted, reassembler } = setup();
  const original = packet(3000);
  assert.equal(add(fragment6Of(original, 0, 1448, true)), null);
  assert.equal(add(fragment6Of(original, 1440, 1448, true)), null);
  assert.equal(counted()["ipv6.fragment_overlap"], 1);
  assert.equal(reassembler.queues, 0);

  const parts = fragment6(original, 1448, { id: 2 });
  add(parts[0]);
  add(parts[0]);
  add(parts[1]);
  assert.deepEqual(add(parts[2]), original);
  assert.equal(counted()["ipv6.fragment_duplicate"], 1);
});

Deno.test("Ipv6Reassembler drops misaligned and empty fragments, and inconsistent ends", () => {
  const { add, counted, reassembler } = setup();
  const original = packet(3000);
  add(fragment6Of(original, 0, 1447, true));
  add(fragment6Of(original, 8, 0, false));
  assert.equal(counted()["ipv6.fragment_bad_length"], 2);
  add(fragment6Of(original, 1448, 1448, true));
  add(fragment6Of(original, 1000, 8, false)); // ends before data already held
  assert.equal(counted()["ipv6.fragment_inconsistent"], 1);
  assert.equal(reassembler.queues, 0);
});

Deno.test("Ipv6Reassembler keys on source, destination and identification; times out", () => {
  const { add, counted, reassembler } = setup();
  const a = packet(2000);
  const b = packet(2000, V6.gateway);
  const pa = fragment6(a, 1448, { id: 5 });
  const pb = fragment6(b, 1448, { id: 5 });
  const pc = fragment6(a, 1448, { id: 6 });
  assert.equal(add(pa[0]), null);
  assert.equal(add(pb[1]), null);
  assert.equal(add(pc[1]), null);
  assert.deepEqual(add(pa[1]), a);
  assert.deepEqual(add(pb[0]), b);
  assert.equal(reassembler.queues, 1);
  assert.equal(add(pc[0], REASSEMBLY_TIMEOUT_MS), null);
  assert.equal(counted()["ipv6.fragment_timeout"], 1);
  for (let id = 0; id < MAX_QUEUES + 5; id++) add(fragment6Of(a, 0, 1448, true, { id }), id);
  assert.equal(reassembler.queues, MAX_QUEUES);
  assert.ok(counted()["ipv6.fragment_evicted"] >= 5);
});
