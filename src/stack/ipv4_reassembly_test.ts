import assert from "node:assert/strict";
import { EthernetFrame } from "../wire/ethernet.ts";
import { Ipv4Packet } from "../wire/ipv4.ts";
import { internetChecksum } from "../wire/checksum.ts";
import { IpProtocol } from "../wire/ipv4.ts";
import { Counters } from "./counters.ts";
import {
  FRAGMENT_OVERHEAD,
  Ipv4Reassembler,
  MAX_BYTES,
  MAX_FRAGMENTS,
  MAX_QUEUES,
  REASSEMBLY_TIMEOUT_MS,
} from "./ipv4_reassembly.ts";
import { ADDRESSES, GUEST_IP, ipv4Frame } from "./testdata/guest_frames.ts";
import { fragment, fragmentOf, seeded } from "./testdata/fragments.ts";

/** A UDP-ish datagram from the guest with `length` bytes of patterned payload. */
function datagram(length: number, dst = 0xc6336402): Uint8Array {
  const payload = new Uint8Array(length);
  for (let i = 0; i < length; i++) payload[i] = (i * 13 + 5) & 0xff;
  const frame = ipv4Frame(payload, IpProtocol.UDP, GUEST_IP, dst);
  frame[20] = 0; // no DF: the guest fragments
  frame[24] = frame[25] = 0;
  const sum = internetChecksum(frame, 14, 20);
  frame[24] = sum >> 8;
  frame[25] = sum & 0xff;
  return frame;
}

function setup() {
  const counters = new Counters();
  const reassembler = new Ipv4Reassembler(counters);
  const eth = new EthernetFrame();
  const ip = new Ipv4Packet();
  const add = (frame: Uint8Array, now = 0) => {
    eth.wrap(frame);
    ip.wrap(frame, 14, frame.length - 14);
    assert.equal(ip.check(), "ok");
    return reassembler.add(eth, ip, now);
  };
  const counted = () => {
    const c = counters.nonZero() as Record<string, number>;
    return c;
  };
  return { reassembler, add, counters, counted };
}

function assertWhole(result: Uint8Array | null, original: Uint8Array) {
  assert.ok(result, "not reassembled");
  assert.equal(result.length, original.length);
  // Same bytes but for flags/offset and checksum, which are recomputed.
  assert.deepEqual(result.subarray(34), original.subarray(34));
  assert.deepEqual(result.subarray(0, 20), original.subarray(0, 20));
  assert.equal(result[20] & 0x3f, 0);
  assert.equal(result[21], 0);
  assert.equal(internetChecksum(result, 14, 20), 0);
}

Deno.test("Ipv4Reassembler puts in-order fragments together", () => {
  const { add, counted, reassembler } = setup();
  const original = datagram(4008);
  const parts = fragment(original, 1480);
  assert.equal(parts.length, 3);
  assert.equal(add(parts[0]), null);
  assert.equal(add(parts[1]), null);
  assertWhole(add(parts[2]), original);
  assert.deepEqual(counted(), { "ipv4.fragment": 3, "ipv4.reassembled": 1 });
  assert.equal(reassembler.queues, 0);
  assert.equal(reassembler.bytes, 0);
});

Deno.test("Ipv4Reassembler handles the first fragment arriving last (CVE-2019-14378)", () => {
  const { add, reassembler } = setup();
  const original = datagram(65515 - 8); // header + payload near 65535
  const parts = fragment(original, 1480).reverse();
  let result: Uint8Array | null = null;
  for (const p of parts) result = add(p);
  assertWhole(result, original);
  assert.equal(reassembler.queues, 0);
});

Deno.test("Ipv4Reassembler takes fragments in any order (seeded shuffles)", () => {
  const random = seeded(4242);
  for (let round = 0; round < 50; round++) {
    const { add } = setup();
    const original = datagram(100 + Math.floor(random() * 20000));
    // Within MAX_FRAGMENTS: at least 24 bytes per fragment.
    const parts = fragment(original, 8 * (3 + Math.floor(random() * 200)));
    for (let i = parts.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [parts[i], parts[j]] = [parts[j], parts[i]];
    }
    let result: Uint8Array | null = null;
    parts.forEach((p, i) => {
      result = add(p);
      if (i < parts.length - 1) assert.equal(result, null, `round ${round}: early`);
    });
    assertWhole(result, original);
  }
});

Deno.test("Ipv4Reassembler takes exactly 65535 bytes and refuses offset + length past it", () => {
  const { add, counted } = setup();
  const max = datagram(65535 - 20);
  let result: Uint8Array | null = null;
  for (const p of fragment(max, 8192)) result = add(p);
  assertWhole(result, max);
  // The last fragment at offset 65528 with 16 bytes: 20 + 65544 > 65535.
  const base = datagram(65535 - 20);
  const first = fragmentOf(base, 0, 1480, true, { id: 7 });
  assert.equal(add(first), null);
  const past = new Uint8Array(34 + 16);
  past.set(fragmentOf(base, 65528 - 8, 8, false, { id: 7 }).subarray(0, 34));
  past[16] = 0;
  past[17] = 36;
  past[20] = 0x1f;
  past[21] = 0xff; // offset 8191 × 8 = 65528
  past[24] = past[25] = 0;
  const sum = internetChecksum(past, 14, 20);
  past[24] = sum >> 8;
  past[25] = sum & 0xff;
  assert.equal(add(past), null);
  const c = counted();
  assert.equal(c["ipv4.fragment_too_long"], 1);
  assert.equal(c["ipv4.reassembled"], 1);
});

Deno.test("Ipv4Reassembler drops the queue on overlapping fragments", () => {
  const { add, counted, reassembler } = setup();
  const original = datagram(3000);
  assert.equal(add(fragmentOf(original, 0, 1480, true)), null);
  // Starts inside the first fragment.
  assert.equal(add(fragmentOf(original, 1472, 1480, true)), null);
  assert.equal(counted()["ipv4.fragment_overlap"], 1);
  assert.equal(reassembler.queues, 0);
  // The rest no longer completes anything.
  assert.equal(add(fragmentOf(original, 1480, 1520, false)), null);
  assert.equal(reassembler.queues, 1);
  // Overlap with the following fragment (a fragment that covers the one after it).
  const { add: add2, counted: counted2 } = setup();
  assert.equal(add2(fragmentOf(original, 1480, 1520, false)), null);
  assert.equal(add2(fragmentOf(original, 0, 1488, true)), null);
  assert.equal(counted2()["ipv4.fragment_overlap"], 1);
});

Deno.test("Ipv4Reassembler ignores an exact duplicate and still completes", () => {
  const { add, counted } = setup();
  const original = datagram(3000);
  const parts = fragment(original, 1480);
  add(parts[0]);
  add(parts[0]);
  add(parts[1]);
  assertWhole(add(parts[2]), original);
  assert.equal(counted()["ipv4.fragment_duplicate"], 1);
});

Deno.test("Ipv4Reassembler drops zero-length and misaligned fragments", () => {
  const { add, counted, reassembler } = setup();
  const original = datagram(3000);
  add(fragmentOf(original, 0, 1480, true));
  add(fragmentOf(original, 1480, 0, true));
  assert.equal(reassembler.queues, 0);
  add(fragmentOf(original, 0, 1477, true)); // MF with a length not a multiple of 8
  add(fragmentOf(original, 1480, 0, false)); // zero-length last fragment
  assert.equal(counted()["ipv4.fragment_bad_length"], 3);
  assert.equal(reassembler.queues, 0);
});

Deno.test("Ipv4Reassembler drops inconsistent ends", () => {
  const { add, counted, reassembler } = setup();
  const original = datagram(4000);
  add(fragmentOf(original, 1480, 1480, true));
  add(fragmentOf(original, 0, 1480, false)); // claims to end at 1480, but data goes to 2960
  assert.equal(counted()["ipv4.fragment_inconsistent"], 1);
  assert.equal(reassembler.queues, 0);
  add(fragmentOf(original, 2960, 1040, false));
  add(fragmentOf(original, 1480, 1488, false)); // a second, different last fragment
  assert.equal(counted()["ipv4.fragment_inconsistent"], 2);
  add(fragmentOf(original, 2960, 1040, false));
  add(fragmentOf(original, 4000, 8, true)); // data past the known end
  assert.equal(counted()["ipv4.fragment_inconsistent"], 3);
  assert.equal(reassembler.queues, 0);
});

Deno.test("Ipv4Reassembler drops a queue after the timeout", () => {
  const { add, counted, reassembler } = setup();
  const original = datagram(3000);
  const parts = fragment(original, 1480);
  add(parts[0], 0);
  add(parts[1], REASSEMBLY_TIMEOUT_MS - 1);
  assert.equal(add(parts[2], REASSEMBLY_TIMEOUT_MS), null);
  assert.equal(counted()["ipv4.fragment_timeout"], 1);
  assert.equal(reassembler.queues, 1, "the late fragment opened a new queue");
  reassembler.expire(2 * REASSEMBLY_TIMEOUT_MS);
  assert.equal(reassembler.queues, 0);
  assert.equal(reassembler.bytes, 0);
});

Deno.test("Ipv4Reassembler keeps at most MAX_QUEUES among thousands, and still works after", () => {
  const { add, counted, reassembler } = setup();
  const original = datagram(3000);
  for (let id = 0; id < 5000; id++) {
    add(fragmentOf(original, 0, 1480, true, { id }), id);
    assert.ok(reassembler.queues <= MAX_QUEUES);
    assert.ok(reassembler.bytes <= MAX_BYTES);
  }
  assert.equal(counted()["ipv4.fragment_evicted"], 5000 - MAX_QUEUES);
  let result: Uint8Array | null = null;
  for (const p of fragment(original, 1480, { id: 60000 })) result = add(p, 5000);
  assert.ok(result);
});

Deno.test("Ipv4Reassembler bounds the bytes held and the fragments per queue", () => {
  const { add, counted, reassembler } = setup();
  // 64 queues of 57 KiB each would be 3.6 MiB: the byte limit evicts before the queue limit.
  for (let id = 0; id < MAX_QUEUES; id++) {
    const big = datagram(65000);
    for (const p of fragment(big, 8192, { id }).slice(0, -1)) add(p);
    assert.ok(reassembler.bytes <= MAX_BYTES, `bytes ${reassembler.bytes}`);
  }
  assert.ok((counted()["ipv4.fragment_evicted"] ?? 0) > 0);
  // Tiny fragments: more than MAX_FRAGMENTS of 8 bytes in one queue.
  const { add: add2, counted: counted2, reassembler: r2 } = setup();
  const original = datagram(8 * (MAX_FRAGMENTS + 10));
  const parts = fragment(original, 8, { id: 9 });
  for (const p of parts.slice(0, MAX_FRAGMENTS)) add2(p);
  assert.equal(r2.bytes, MAX_FRAGMENTS * (8 + FRAGMENT_OVERHEAD));
  add2(parts[MAX_FRAGMENTS]);
  assert.equal(counted2()["ipv4.fragment_evicted"], 1);
  assert.equal(r2.queues, 0);
  // 100 fragments of 8 bytes are fine.
  const small = datagram(800);
  small[18] = 0;
  small[19] = 10; // the ID the fragments get below
  let result: Uint8Array | null = null;
  for (const p of fragment(small, 8, { id: 10 })) result = add2(p);
  assertWhole(result, small);
});

Deno.test("Ipv4Reassembler keeps queues of different sources, protocols and IDs apart", () => {
  const { add } = setup();
  const a = datagram(2000, 0xc6336402);
  const b = datagram(2000, 0xc6336403);
  const pa = fragment(a, 1480);
  const pb = fragment(b, 1480);
  assert.equal(add(pa[0]), null);
  assert.equal(add(pb[1]), null);
  assertWhole(add(pa[1]), a);
  assertWhole(add(pb[0]), b);
  assert.equal(ADDRESSES.gateway, 0x0a000202);
});
