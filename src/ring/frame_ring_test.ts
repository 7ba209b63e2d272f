import assert from "node:assert/strict";
import { DRAIN_PUBLISH_EVERY, FrameRing } from "./frame_ring.ts";
import { DATA_OFFSET, HEADER, minCapacity, recordBytes, STATS, WRAP_MARKER } from "./layout.ts";
import {
  checkFrame,
  fillFrame,
  FrameChecker,
  runJobs,
  seededRandom,
  seqOf,
} from "./_test_utils.ts";
import type { WorkerJob } from "./frame_ring_test_worker.ts";

function header(ring: FrameRing): Int32Array {
  return new Int32Array(ring.buffer, 0, DATA_OFFSET / 4);
}

function frameOf(length: number, seq: number): Uint8Array {
  const frame = new Uint8Array(length);
  fillFrame(frame, seq);
  return frame;
}

/** Free bytes a frame of `length` needs at the producer's current position (wrap skip included). */
function bytesNeeded(ring: FrameRing, length: number): number {
  const room = ring.capacity - (header(ring)[HEADER.HEAD] & (ring.capacity - 1));
  return room < recordBytes(length) ? room + recordBytes(length) : recordBytes(length);
}

// ---------------------------------------------------------------- layout and set-up

Deno.test("layout: records are 8-aligned with a 4-byte length word", () => {
  assert.equal(recordBytes(0), 8);
  assert.equal(recordBytes(4), 8);
  assert.equal(recordBytes(5), 16);
  assert.equal(recordBytes(65535), 65544);
  assert.equal(minCapacity(65536), 262144);
  assert.equal(DATA_OFFSET % 64, 0);
});

Deno.test("layout: words written by different sides are on different cache lines", () => {
  const line = (index: number) => Math.floor(index / 16);
  const producer = [HEADER.HEAD, HEADER.PRODUCER_SLEEPING, HEADER.PRODUCER_NEEDS].map(line);
  const consumer = [HEADER.TAIL, HEADER.CONSUMER_SLEEPING].map(line);
  assert.ok(producer.every((l) => !consumer.includes(l)));
  const statsLine = (index: number) => Math.floor(index / 8);
  const producerStats = [STATS.FRAMES_PUSHED, STATS.BYTES_PUSHED, STATS.FRAMES_DROPPED];
  const consumerStats = [STATS.FRAMES_RELEASED, STATS.BYTES_RELEASED];
  assert.ok(producerStats.every((i) => statsLine(i) === 5));
  assert.ok(consumerStats.every((i) => statsLine(i) === 6));
  assert.ok([...producer, ...consumer, line(HEADER.CONSUMER_WAKE)].every((l) => l < 5));
  assert.equal(DATA_OFFSET, 8 * 64);
});

Deno.test("create() rejects a capacity that is not a power of two or too small", () => {
  assert.throws(() => FrameRing.create(1 << 17), RangeError); // 2 × 64 KiB records do not fit
  assert.throws(() => FrameRing.create(300_000), RangeError);
  assert.throws(() => FrameRing.create(64, { maxFrame: 29 }), RangeError);
  assert.throws(() => FrameRing.create(1 << 18, { maxFrame: 0 }), RangeError);
  assert.equal(FrameRing.create(64, { maxFrame: 16 }).capacity, 64);
  assert.equal(FrameRing.create(1 << 18).maxFrame, 65536);
});

Deno.test("attach() shares the buffer and rejects one that is not a ring", () => {
  const ring = FrameRing.create(1 << 12, { maxFrame: 1514 });
  const other = FrameRing.attach(ring.buffer);
  assert.equal(other.capacity, 1 << 12);
  assert.equal(other.maxFrame, 1514);
  assert.ok(ring.push(frameOf(100, 9)));
  assert.equal(checkFrame(other.peek()!, 9), -1);
  assert.throws(() => FrameRing.attach(new SharedArrayBuffer(4096)), TypeError);
  assert.throws(() => FrameRing.attach(new SharedArrayBuffer(8)), TypeError);
  const truncated = new SharedArrayBuffer(ring.buffer.byteLength - 8);
  new Uint8Array(truncated).set(new Uint8Array(ring.buffer, 0, truncated.byteLength));
  assert.throws(() => FrameRing.attach(truncated), TypeError);
});

// ---------------------------------------------------------------- producer and consumer API

Deno.test("reserve()/commit() publish only the committed length, in place", () => {
  const ring = FrameRing.create(1 << 12, { maxFrame: 1514 });
  const slot = ring.reserve(1514)!;
  assert.equal(slot.length, 1514);
  assert.equal(slot.buffer, ring.buffer);
  assert.equal(ring.peek(), null, "nothing is visible before commit()");
  fillFrame(slot.subarray(0, 60), 1);
  ring.commit(60);
  assert.equal(ring.usedBytes, recordBytes(60));
  const frame = ring.peek()!;
  assert.equal(frame.length, 60);
  assert.equal(frame.byteOffset, slot.byteOffset, "the consumer sees the producer's bytes");
  assert.equal(checkFrame(frame, 1), -1);
  assert.equal(ring.peek()!.byteOffset, frame.byteOffset, "peek() again gives the same frame");
  ring.release();
  assert.equal(ring.peek(), null);
  assert.equal(ring.usedBytes, 0);
});

Deno.test("commit() and release() without a reservation or a peek throw and change nothing", () => {
  const ring = FrameRing.create(64, { maxFrame: 16 });
  assert.throws(() => ring.commit(1), /nothing is reserved/);
  assert.throws(() => ring.release(), /none was peeked/);
  ring.reserve(8);
  assert.throws(() => ring.commit(9), RangeError);
  ring.commit(8);
  assert.throws(() => ring.commit(8), /nothing is reserved/, "one reserve() allows one commit()");
  assert.throws(() => ring.reserve(17), RangeError);
  assert.throws(() => ring.push(new Uint8Array(17)), RangeError);
  assert.equal(ring.stats().framesPushed, 1);
});

Deno.test("a frame of length 0 is carried as a frame", () => {
  const ring = FrameRing.create(64, { maxFrame: 16 });
  assert.ok(ring.push(new Uint8Array(0)));
  assert.equal(ring.peek()?.length, 0);
  ring.release();
  assert.equal(ring.peek(), null);
});

Deno.test("drain() hands over frames in order, honours its limit and releases on throw", () => {
  const ring = FrameRing.create(1 << 12, { maxFrame: 100 });
  for (let seq = 0; seq < 10; seq++) assert.ok(ring.push(frameOf(10 + seq, seq)));
  const seen: number[] = [];
  assert.equal(ring.drain((frame) => seen.push(seqOf(frame)), 4), 4);
  assert.deepEqual(seen, [0, 1, 2, 3]);
  assert.throws(() =>
    ring.drain(() => {
      throw new Error("boom");
    }), /boom/);
  assert.equal(ring.drain((frame) => seen.push(seqOf(frame))), 5);
  assert.deepEqual(seen, [0, 1, 2, 3, 5, 6, 7, 8, 9], "the frame whose callback threw is gone");
  assert.equal(ring.stats().framesReleased, 10);
  assert.equal(ring.usedBytes, 0, "released space is published when drain() returns");
});

Deno.test("drain() publishes released space every DRAIN_PUBLISH_EVERY frames", () => {
  const ring = FrameRing.create(1 << 12, { maxFrame: 100 });
  const frames = DRAIN_PUBLISH_EVERY * 2 + 5;
  for (let seq = 0; seq < frames; seq++) assert.ok(ring.push(frameOf(4, seq)));
  const used: number[] = [];
  ring.drain(() => used.push(ring.usedBytes / 8));
  assert.equal(used[0], frames);
  assert.equal(used[DRAIN_PUBLISH_EVERY - 1], frames, "not after every frame");
  assert.equal(used[DRAIN_PUBLISH_EVERY], frames - DRAIN_PUBLISH_EVERY);
  assert.equal(used[2 * DRAIN_PUBLISH_EVERY], frames - 2 * DRAIN_PUBLISH_EVERY);
  assert.equal(ring.usedBytes, 0);
});

Deno.test("commit() notifies the consumer only when it announced that it sleeps", () => {
  const ring = FrameRing.create(1 << 12, { maxFrame: 100 });
  const ctl = header(ring);
  ring.push(frameOf(10, 0));
  assert.equal(ctl[HEADER.CONSUMER_WAKE], 0);
  ctl[HEADER.CONSUMER_SLEEPING] = 1; // as waitForData() does before it checks and waits
  ring.push(frameOf(10, 1));
  assert.equal(ctl[HEADER.CONSUMER_WAKE], 1);
  assert.equal(ctl[HEADER.PRODUCER_WAKE], 0);
});

Deno.test("release() wakes a sleeping producer only once it has the room it waits for", () => {
  const ring = FrameRing.create(1 << 12, { maxFrame: 1514 });
  const ctl = header(ring);
  while (ring.push(frameOf(1000, 0))); // 4 × 1008 bytes, 64 free
  ctl[HEADER.PRODUCER_NEEDS] = 1008 * 2; // as waitForSpace() does before it checks and waits
  ctl[HEADER.PRODUCER_SLEEPING] = 1;
  ring.peek();
  ring.release();
  assert.equal(ctl[HEADER.PRODUCER_WAKE], 0, "1072 free bytes are not enough");
  ring.peek();
  ring.release();
  assert.equal(ctl[HEADER.PRODUCER_WAKE], 1);
  ctl[HEADER.PRODUCER_SLEEPING] = 0;
  ring.peek();
  ring.release();
  assert.equal(ctl[HEADER.PRODUCER_WAKE], 1, "no notify for a producer that is awake");
  assert.equal(ctl[HEADER.CONSUMER_WAKE], 0);
});

Deno.test("close() bumps both wake words so that no sleeper misses it", () => {
  const ring = FrameRing.create(1 << 12, { maxFrame: 100 });
  const ctl = header(ring);
  ring.close();
  assert.equal(ctl[HEADER.CLOSED], 1);
  assert.equal(ctl[HEADER.CONSUMER_WAKE], 1);
  assert.equal(ctl[HEADER.PRODUCER_WAKE], 1);
});

// ---------------------------------------------------------------- wrap-around

Deno.test("a frame that does not fit before the end starts at 0 behind a wrap marker", () => {
  const ring = FrameRing.create(64, { maxFrame: 16 });
  const words = new Uint32Array(ring.buffer, DATA_OFFSET, 16);
  for (let seq = 0; seq < 2; seq++) assert.ok(ring.push(frameOf(16, seq))); // 2 × 24 bytes
  ring.drain(() => {});
  assert.ok(ring.push(frameOf(16, 2)), "48..63 is 16 bytes, too few for 24: wraps");
  assert.equal(words[48 / 4], WRAP_MARKER);
  assert.equal(ring.usedBytes, 16 + 24, "the skipped tail counts as used");
  assert.equal(checkFrame(ring.peek()!, 2), -1);
  assert.equal(ring.peek()!.byteOffset, DATA_OFFSET + 4);
  ring.release();
  assert.equal(ring.usedBytes, 0);
});

Deno.test("a frame exactly the size of the room before the end does not wrap", () => {
  const ring = FrameRing.create(64, { maxFrame: 20 });
  const words = new Uint32Array(ring.buffer, DATA_OFFSET, 16);
  assert.ok(ring.push(frameOf(16, 0))); // 0..23
  assert.ok(ring.push(frameOf(12, 1))); // 24..39
  ring.drain(() => {});
  assert.ok(ring.push(frameOf(20, 2)), "40..63: 24 bytes of room, a 24-byte record");
  assert.equal(words[40 / 4], 20, "a length, not a wrap marker");
  assert.equal(ring.usedBytes, 24);
  assert.ok(ring.push(frameOf(1, 3)), "the next record starts at 0 without a marker");
  assert.equal(ring.usedBytes, 32);
  const frame = ring.peek()!;
  assert.equal(frame.byteOffset, DATA_OFFSET + 40 + 4);
  assert.equal(checkFrame(frame, 2), -1);
  ring.release();
  assert.equal(ring.peek()!.byteOffset, DATA_OFFSET + 4);
  assert.equal(checkFrame(ring.peek()!, 3), -1);
});

Deno.test("frames that fill the ring exactly are accepted, one byte more is refused", () => {
  const ring = FrameRing.create(64, { maxFrame: 24 });
  assert.ok(ring.push(frameOf(16, 0))); // 0..23
  assert.ok(ring.push(frameOf(12, 1))); // 24..39
  assert.ok(ring.push(frameOf(20, 2))); // 40..63
  assert.equal(ring.usedBytes, 64);
  assert.equal(ring.reserve(0), null, "full: not even an empty frame fits");
  const seen: number[] = [];
  const check = (frame: Uint8Array) => {
    seen.push(checkFrame(frame, seqOf(frame)) === -1 ? seqOf(frame) : -1);
  };
  ring.drain(check, 1);
  // 24 bytes are free at 0..23 and the head is at 0: a 20-byte payload fits exactly, 21 do not.
  assert.equal(ring.reserve(21), null);
  assert.equal(ring.push(frameOf(21, 9)), false);
  assert.ok(ring.push(frameOf(20, 3)));
  assert.equal(ring.usedBytes, 64);
  ring.drain(check);
  assert.deepEqual(seen, [0, 1, 2, 3]);
});

type Pick = "uniform" | "small" | "max" | "room" | "room+1" | "fill";
const PICKS: Pick[] = ["uniform", "uniform", "small", "max", "room", "room+1", "fill"];

/**
 * Pushes and pops a seeded mix of frames through a ring in bursts, checking order and every byte,
 * and that every refusal was a real lack of space.
 */
function wrapAround(capacity: number, maxFrame: number, frames: number, seed: number) {
  const ring = FrameRing.create(capacity, { maxFrame });
  const reader = FrameRing.attach(ring.buffer);
  const ctl = header(ring);
  const random = seededRandom(seed);
  const scratch = new Uint8Array(maxFrame);
  const lengths: number[] = []; // frames in flight; the oldest is number `popped`
  let pushed = 0, popped = 0, refused = 0, bytes = 0, travelled = 0;
  const picked = new Map<Pick, number>();
  const pickLength = (): number => {
    const pick = PICKS[random() % PICKS.length];
    const head = ctl[HEADER.HEAD];
    const room = capacity - (head & (capacity - 1));
    const free = capacity - ((head - ctl[HEADER.TAIL]) | 0);
    let length: number;
    switch (pick) {
      case "uniform":
        length = 1 + (random() % maxFrame);
        break;
      case "small":
        length = 1 + (random() % 16);
        break;
      case "max":
        length = maxFrame;
        break;
      case "room": // ends exactly at the end of the data region
        length = room - 4;
        break;
      case "room+1": // one byte too long to end there: wraps or is refused
        length = room - 3;
        break;
      case "fill": // leaves the ring exactly full (after a wrap when the free space is split)
        length = room >= free ? free - 4 : free - room - 4;
        break;
    }
    if (length < 1 || length > maxFrame) return 1 + (random() % maxFrame);
    picked.set(pick, (picked.get(pick) ?? 0) + 1);
    return length;
  };

  while (popped < frames) {
    for (let burst = 1 + (random() % 8); burst > 0 && pushed < frames; burst--) {
      const length = pickLength();
      const copy = (random() & 1) === 1;
      // A zero-copy producer may reserve more than it then commits.
      const reserved = copy ? length : Math.min(maxFrame, length + (random() % 8));
      const used = ring.usedBytes;
      const need = bytesNeeded(ring, reserved);
      const taken = need - recordBytes(reserved) + recordBytes(length);
      let sent: boolean;
      if (!copy) {
        const slot = ring.reserve(reserved);
        sent = slot !== null;
        if (slot !== null) {
          fillFrame(slot.subarray(0, length), pushed);
          ring.commit(length);
        }
      } else {
        const frame = scratch.subarray(0, length);
        fillFrame(frame, pushed);
        sent = ring.push(frame);
      }
      if (!sent) {
        assert.ok(used > 0, "an empty ring accepts any frame");
        assert.ok(capacity - used < need, `refused ${reserved} bytes with ${capacity - used} free`);
        refused++;
        break;
      }
      assert.equal(ring.usedBytes, used + taken, "a frame takes its record plus any skip");
      travelled += taken;
      lengths.push(length);
      bytes += length;
      pushed++;
    }
    for (let burst = 1 + (random() % 8); burst > 0; burst--) {
      const frame = reader.peek();
      if (frame === null) break;
      assert.equal(frame.length, lengths[popped], `length of frame ${popped}`);
      assert.equal(checkFrame(frame, popped), -1, `contents of frame ${popped}`);
      reader.release();
      popped++;
    }
  }
  assert.equal(reader.peek(), null);
  assert.equal(ring.usedBytes, 0);
  assert.deepEqual(ring.stats(), {
    framesPushed: frames,
    bytesPushed: bytes,
    framesDropped: 0,
    framesReleased: frames,
    bytesReleased: bytes,
  });
  for (const pick of PICKS) assert.ok((picked.get(pick) ?? 0) > 0, `never picked ${pick}`);
  return { laps: travelled / capacity, refused, picked };
}

Deno.test("wrap-around: 200k frames of 1..16 bytes through a 64-byte ring", () => {
  const { laps, refused } = wrapAround(64, 16, 200_000, 1);
  assert.ok(laps > 50_000, `only ${laps} laps`);
  assert.ok(refused > 10_000);
});

Deno.test("wrap-around: 100k frames of 1..100 bytes through a 256-byte ring", () => {
  const { laps } = wrapAround(256, 100, 100_000, 2);
  assert.ok(laps > 10_000, `only ${laps} laps`);
});

Deno.test("wrap-around: 50k frames of 1..1514 bytes through a 4 KiB ring", () => {
  const { laps } = wrapAround(4096, 1514, 50_000, 3);
  assert.ok(laps > 5_000, `only ${laps} laps`);
});

Deno.test("wrap-around: 5k frames of 1..65535 bytes through a 256 KiB ring", () => {
  const { laps } = wrapAround(1 << 18, 65535, 5_000, 4);
  assert.ok(laps > 500, `only ${laps} laps`);
});

Deno.test("wrap-around: 3k frames up to the default 65536 bytes through a 256 KiB ring", () => {
  const { laps } = wrapAround(1 << 18, 65536, 3_000, 5);
  assert.ok(laps > 300, `only ${laps} laps`);
});

// ---------------------------------------------------------------- back-pressure

Deno.test("a full ring refuses reserve() and push() and keeps its frames intact", () => {
  const ring = FrameRing.create(1 << 12, { maxFrame: 1514 });
  let seq = 0;
  while (ring.push(frameOf(100, seq))) seq++;
  assert.equal(seq, Math.floor(4096 / recordBytes(100)));
  const snapshot = new Uint8Array(ring.buffer).slice();
  for (let i = 0; i < 100; i++) {
    assert.equal(ring.reserve(100), null);
    assert.equal(ring.reserve(1514), null);
    assert.equal(ring.push(frameOf(100, 999)), false);
  }
  assert.deepEqual(new Uint8Array(ring.buffer), snapshot, "refusals wrote nothing");
  assert.throws(
    () => ring.commit(0),
    /nothing is reserved/,
    "a refused reserve() reserves nothing",
  );
  assert.equal(ring.dropped, 0, "a refusal is not a drop");
  assert.equal(ring.stats().framesPushed, seq);

  ring.countDrop(); // the producer decides to drop the frame it could not place
  ring.countDrop(2);
  assert.equal(ring.dropped, 3);
  assert.equal(FrameRing.attach(ring.buffer).stats().framesDropped, 3, "visible from the peer");

  const consumer = FrameRing.attach(ring.buffer);
  let n = 0;
  consumer.drain((frame) => {
    assert.equal(frame.length, 100);
    assert.equal(checkFrame(frame, n++), -1);
  });
  assert.equal(n, seq);
  assert.ok(ring.push(frameOf(1514, 0)), "space is back after draining");
});

Deno.test("waitForSpace() times out on a full ring and returns at once when there is room", () => {
  const ring = FrameRing.create(1 << 12, { maxFrame: 1514 });
  assert.equal(ring.waitForSpace(0), "ready");
  while (ring.push(new Uint8Array(1000)));
  const start = performance.now();
  assert.equal(ring.waitForSpace(20, 1000), "timed-out");
  assert.ok(performance.now() - start >= 19);
  assert.equal(header(ring)[HEADER.PRODUCER_SLEEPING], 0, "the flag is cleared after waiting");
  assert.equal(ring.waitForSpace(0, 8), "ready", "64 bytes are still free");
  ring.drain(() => {}, 1);
  assert.equal(ring.waitForSpace(1000, 1000), "ready");
});

Deno.test("waitForData() times out on an empty ring and returns at once when a frame is there", async () => {
  const ring = FrameRing.create(1 << 12, { maxFrame: 1514 });
  assert.equal(ring.waitForData(0), "timed-out");
  assert.equal(ring.waitForData(10), "timed-out");
  assert.equal(await ring.waitForDataAsync(10), "timed-out");
  assert.equal(header(ring)[HEADER.CONSUMER_SLEEPING], 0);
  ring.push(new Uint8Array(1));
  assert.equal(ring.waitForData(1000), "ready");
  assert.equal(await ring.waitForDataAsync(1000), "ready");
});

Deno.test("close() stops the producer but lets the consumer drain what was sent", async () => {
  const ring = FrameRing.create(1 << 12, { maxFrame: 1514 });
  const consumer = FrameRing.attach(ring.buffer);
  ring.push(frameOf(10, 0));
  ring.push(frameOf(10, 1));
  ring.close();
  ring.close(); // idempotent
  assert.ok(consumer.closed);
  assert.equal(ring.waitForSpace(1000), "closed");
  assert.equal(consumer.waitForData(1000), "ready");
  assert.equal(await consumer.waitForDataAsync(1000), "ready");
  assert.equal(consumer.drain(() => {}), 2);
  const start = performance.now();
  assert.equal(consumer.waitForData(1000), "closed");
  assert.equal(await consumer.waitForDataAsync(1000), "closed");
  assert.ok(performance.now() - start < 500);
});

Deno.test("close() wakes a consumer sleeping in waitForDataAsync()", async () => {
  const ring = FrameRing.create(1 << 12, { maxFrame: 1514 });
  const start = performance.now();
  const waiting = ring.waitForDataAsync(5000);
  setTimeout(() => FrameRing.attach(ring.buffer).close(), 20);
  assert.equal(await waiting, "closed");
  assert.ok(performance.now() - start < 2000);
});

Deno.test("a closed ring refuses frames once it is full", () => {
  const ring = FrameRing.create(64, { maxFrame: 16 });
  ring.close();
  while (ring.push(frameOf(16, 0)));
  assert.equal(ring.reserve(16), null);
  FrameRing.attach(ring.buffer).drain(() => {});
  assert.equal(ring.reserve(16), null, "closed: free space is not handed out any more");
  assert.equal(ring.waitForSpace(0, 16), "closed");
});

Deno.test("statistics count exactly past 2^32 bytes", () => {
  const ring = FrameRing.create(1 << 18);
  const frames = 2 ** 16 + 2; // × 65536 bytes = 2^32 + 131072
  for (let i = 0; i < frames; i++) {
    ring.reserve(65536);
    ring.commit(65536);
    ring.peek();
    ring.release();
  }
  const stats = ring.stats();
  assert.equal(stats.bytesPushed, frames * 65536);
  assert.equal(stats.bytesReleased, frames * 65536);
  assert.equal(stats.framesPushed, frames);
});

// ---------------------------------------------------------------- across threads

function job(ring: FrameRing, role: WorkerJob["role"], options: Partial<WorkerJob>): WorkerJob {
  return {
    role,
    buffer: ring.buffer,
    frames: 200_000,
    seed: 42,
    minLength: 1,
    onFull: "wait",
    write: "mixed",
    verify: true,
    waitMs: 1_000, // longer than any honest wait: a timeout means a lost wake-up
    deadlineMs: 8_000,
    ...options,
  };
}

Deno.test("two Workers exchange 200k checked frames with none lost, repeated or corrupted", async () => {
  const ring = FrameRing.create(1 << 18, { maxFrame: 65535 });
  const [producer, consumer] = await runJobs(ring, [
    job(ring, "producer", {}),
    job(ring, "consumer", {}),
  ], 15_000);
  assert.equal(producer.error, null);
  assert.equal(consumer.error, null);
  assert.equal(producer.frames, 200_000);
  assert.equal(consumer.frames, 200_000);
  assert.equal(consumer.bad, 0);
  assert.equal(producer.dropped, 0);
  const stats = ring.stats();
  assert.equal(stats.framesPushed, 200_000);
  assert.equal(stats.framesReleased, 200_000);
  assert.equal(stats.bytesReleased, stats.bytesPushed);
  assert.equal(stats.framesDropped, 0);
  assert.ok(producer.waits > 0, "the producer had to wait for space at least once");
  assert.equal(producer.timeouts, 0, "the producer slept through a release");
  assert.equal(consumer.timeouts, 0, "the consumer slept through a commit");
});

Deno.test("two Workers sleeping on a 64-byte ring at every frame never miss a wake-up", async () => {
  const ring = FrameRing.create(64, { maxFrame: 16 });
  // A lost wake-up would stall one side for a whole waitMs; none may time out.
  const options: Partial<WorkerJob> = { frames: 20_000, fixedLength: 16 };
  const [producer, consumer] = await runJobs(ring, [
    job(ring, "producer", options),
    job(ring, "consumer", options),
  ], 15_000);
  assert.equal(producer.error, null);
  assert.equal(consumer.error, null);
  assert.equal(consumer.frames, 20_000);
  assert.ok(producer.waits > 1_000, `the producer only waited ${producer.waits} times`);
  assert.equal(producer.timeouts, 0, "the producer slept through a release");
  assert.equal(consumer.timeouts, 0, "the consumer slept through a commit");
});

Deno.test("ping-pong between two Workers: every frame is a sleep and a wake-up on both sides", async () => {
  const pings = FrameRing.create(1 << 12, { maxFrame: 1514 });
  const replies = FrameRing.create(1 << 12, { maxFrame: 1514 });
  const options: Partial<WorkerJob> = { frames: 5_000, replyBuffer: replies.buffer };
  try {
    const [pinger, echo] = await runJobs(pings, [
      job(pings, "pinger", options),
      job(pings, "echo", options),
    ], 15_000);
    assert.equal(pinger.error, null);
    assert.equal(echo.error, null);
    assert.equal(pinger.frames, 5_000);
    assert.equal(pinger.bad, 0);
    assert.equal(pinger.timeouts, 0, "the pinger slept through a reply");
    assert.equal(echo.timeouts, 0, "the echo slept through a ping");
    assert.ok(echo.waits >= 4_000, `the echo only slept ${echo.waits} times`);
    assert.ok(pinger.p50Us! < 5_000, `round trip p50 ${pinger.p50Us} µs`);
  } finally {
    replies.close();
  }
});

Deno.test("two Workers: frames the producer drops are counted and never seen", async () => {
  const ring = FrameRing.create(1 << 16, { maxFrame: 1514 });
  const options: Partial<WorkerJob> = { frames: 100_000, onFull: "drop", minLength: 4 };
  const [producer, consumer] = await runJobs(ring, [
    job(ring, "producer", options),
    job(ring, "consumer", options),
  ], 15_000);
  assert.equal(consumer.error, null);
  assert.equal(consumer.bad, 0);
  assert.equal(producer.frames + producer.dropped, 100_000);
  assert.equal(consumer.frames, producer.frames);
  assert.equal(ring.dropped, producer.dropped);
  assert.equal(ring.stats().framesPushed, producer.frames);
  assert.equal(consumer.timeouts, 0, "the consumer slept through a commit");
});

Deno.test("a Worker producer feeds a main-thread consumer woken by waitForDataAsync()", async () => {
  const ring = FrameRing.create(1 << 18, { maxFrame: 65535 });
  const frames = 50_000;
  const checker = new FrameChecker({ seed: 7, maxFrame: 65535, frames, allowGaps: false });
  const producerDone = runJobs(ring, [job(ring, "producer", { frames, seed: 7 })], 15_000);
  const deadline = performance.now() + 10_000;
  let timeouts = 0;
  for (;;) {
    ring.drain(checker.check);
    const result = await ring.waitForDataAsync(1_000);
    if (result === "closed") break;
    if (result === "timed-out") timeouts++;
    assert.ok(performance.now() < deadline, `stuck after ${checker.received} frames`);
  }
  const [producer] = await producerDone;
  assert.equal(producer.error, null);
  assert.equal(checker.firstError, null);
  assert.equal(checker.received, frames);
  assert.equal(ring.stats().framesReleased, frames);
  assert.equal(timeouts, 0, "the main thread slept through a commit");
});
