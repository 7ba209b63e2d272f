/**
 * The feed protocol between a producer thread and a worker asleep in epoll_wait, run on one thread
 * with a real eventfd and epoll set: what `push` writes (tag byte first), what it drops, when
 * `flush` writes the eventfd, and when `waitForFeeds` must not block.
 */
import assert from "node:assert/strict";
import { EAGAIN } from "../ffi/errno.ts";
import { loadShim, type Shim } from "../ffi/shim.ts";
import { EPOLL_CTL_ADD, EPOLLIN } from "../ffi/sockaddr.ts";
import { FrameRing } from "../ring/frame_ring.ts";
import { createFeedChannel, EarlyWakes, RingFeed, waitForFeeds } from "./ring_feed.ts";

const MAX_FRAME = 64;
const RING_BYTES = 1024;
const WAKE_TOKEN = 7;

/** Bytes 1..n. */
const bytes = (n: number) => Uint8Array.from({ length: n }, (_, i) => i + 1);

/**
 * A feed into a fresh ring, with the worker's side of it (`consumer`), a real eventfd as the
 * wake-up and its flag word; `signalled()` tells (and resets) whether the eventfd was written.
 */
async function setup(options: { wake?: boolean } = {}) {
  const shim = await loadShim();
  const signalFd = shim.shim_eventfd();
  assert.ok(signalFd >= 0, "eventfd");
  const channel = createFeedChannel(RING_BYTES, MAX_FRAME, signalFd);
  let drops = 0;
  const feed = new RingFeed(
    shim,
    channel.ring,
    () => drops++,
    options.wake === false ? undefined : channel,
  );
  const consumer = FrameRing.attach(channel.ring);
  const sleeping = new Int32Array(channel.sleeping);
  return {
    shim,
    channel,
    feed,
    consumer,
    sleeping,
    signalFd,
    drops: () => drops,
    /** Whether the eventfd holds a signal; reading it resets it. */
    signalled: () => {
      const result = shim.shim_eventfd_drain(signalFd);
      assert.ok(result === 0 || result === -EAGAIN, `eventfd read: ${result}`);
      return result === 0;
    },
    /** The frames in the ring, consumed. */
    take: () => {
      const frames: number[][] = [];
      consumer.drain((frame) => frames.push([...frame]));
      return frames;
    },
    [Symbol.dispose]: () => shim.shim_close(signalFd),
  };
}

Deno.test("RingFeed.push() copies a frame into the ring as it is", async () => {
  using t = await setup();
  assert.equal(t.feed.push(bytes(10)), true);
  assert.equal(t.feed.push(bytes(MAX_FRAME)), true);
  assert.deepEqual(t.take(), [[...bytes(10)], [...bytes(MAX_FRAME)]]);
  assert.equal(t.drops(), 0);
});

Deno.test("RingFeed.push() with a tag puts one tag byte before the frame, 0 included", async () => {
  using t = await setup();
  // Stale bytes where the records go: a tag of 0 must still be written.
  t.consumer.bytes.fill(0xee);
  assert.equal(t.feed.push(bytes(5), 0), true);
  assert.equal(t.feed.push(bytes(5), 0x42), true);
  assert.equal(t.feed.push(new Uint8Array(0), 9), true);
  assert.deepEqual(t.take(), [[0, ...bytes(5)], [0x42, ...bytes(5)], [9]]);
});

Deno.test("RingFeed.push() with frameAt leaves room between the tag and the frame", async () => {
  using t = await setup();
  t.consumer.bytes.fill(0xee);
  assert.equal(t.feed.push(bytes(3), 1, 4), true);
  const [record] = t.take();
  assert.equal(record.length, 4 + 3);
  assert.equal(record[0], 1);
  assert.deepEqual(record.slice(4), [...bytes(3)]);
});

Deno.test("RingFeed.reserveAt() and commit() publish a record written in place, and wake once per flush", async () => {
  using t = await setup();
  Atomics.store(t.sleeping, 0, 1);
  const at = t.feed.reserveAt(MAX_FRAME);
  assert.ok(at >= 0);
  // A read straight into the slot (here: a fill), then only its first bytes published.
  t.feed.bytes.set(bytes(MAX_FRAME), at);
  t.feed.commit(6);
  assert.equal(t.signalled(), false, "no signal before the flush");
  t.feed.flush();
  assert.equal(t.signalled(), true);
  // A slot abandoned for a push: only the push is published.
  assert.ok(t.feed.reserveAt(MAX_FRAME) >= 0);
  assert.equal(t.feed.push(bytes(2)), true);
  assert.deepEqual(t.take(), [[...bytes(6)], [...bytes(2)]]);
  // No room for a slot of that size: -1, nothing counted.
  while (t.feed.push(bytes(MAX_FRAME)));
  const drops = t.drops();
  assert.equal(t.feed.reserveAt(MAX_FRAME), -1);
  assert.equal(t.drops(), drops);
});

Deno.test("RingFeed.push() drops and counts a frame whose record exceeds the largest frame", async () => {
  using t = await setup();
  // MAX_FRAME bytes fit alone, not behind a tag byte.
  assert.equal(t.feed.push(bytes(MAX_FRAME), 1), false);
  assert.equal(t.feed.push(bytes(MAX_FRAME + 1)), false);
  assert.equal(t.drops(), 2);
  assert.equal(t.consumer.dropped, 2);
  assert.equal(t.feed.push(bytes(MAX_FRAME - 1), 1), true);
  assert.deepEqual(t.take(), [[1, ...bytes(MAX_FRAME - 1)]]);
});

Deno.test("RingFeed.push() drops and counts frames while the ring is full, then takes them again", async () => {
  using t = await setup();
  let pushed = 0;
  while (t.feed.push(bytes(MAX_FRAME - 1), pushed & 0xff)) pushed++;
  assert.ok(pushed >= 2, `${pushed} frames before the ring was full`);
  assert.equal(t.feed.push(bytes(MAX_FRAME)), false);
  assert.equal(t.drops(), 2);
  assert.equal(t.consumer.dropped, 2);
  const frames = t.take();
  assert.equal(frames.length, pushed, "every frame not dropped arrives");
  frames.forEach((frame, i) => assert.deepEqual(frame, [i & 0xff, ...bytes(MAX_FRAME - 1)]));
  assert.equal(t.feed.push(bytes(3), 5), true);
  assert.deepEqual(t.take(), [[5, ...bytes(3)]]);
});

Deno.test("RingFeed.flush() writes the eventfd once per batch, only while the worker sleeps", async () => {
  using t = await setup();
  // Nothing pushed: nothing to say, asleep or not.
  Atomics.store(t.sleeping, 0, 1);
  t.feed.flush();
  assert.equal(t.signalled(), false);
  // Awake: the worker finds the frames on its next turn, without a signal.
  Atomics.store(t.sleeping, 0, 0);
  t.feed.push(bytes(4));
  t.feed.flush();
  assert.equal(t.signalled(), false);
  // That batch is over: falling asleep later does not bring its signal back.
  Atomics.store(t.sleeping, 0, 1);
  t.feed.flush();
  assert.equal(t.signalled(), false);
  // Asleep: two frames, one signal, and none for a flush without new frames.
  t.feed.push(bytes(4));
  t.feed.push(bytes(4), 2);
  t.feed.flush();
  assert.equal(t.signalled(), true);
  t.feed.flush();
  assert.equal(t.signalled(), false);
  assert.equal(t.take().length, 3);
});

Deno.test("RingFeed.flush() does not signal for frames that were dropped", async () => {
  using t = await setup();
  Atomics.store(t.sleeping, 0, 1);
  assert.equal(t.feed.push(bytes(MAX_FRAME + 1)), false);
  t.feed.flush();
  assert.equal(t.signalled(), false);
});

Deno.test("RingFeed without an eventfd wake-up never signals", async () => {
  using t = await setup({ wake: false });
  Atomics.store(t.sleeping, 0, 1);
  assert.equal(t.feed.push(bytes(4), 1), true);
  t.feed.flush();
  assert.equal(t.signalled(), false);
  assert.deepEqual(t.take(), [[1, ...bytes(4)]]);
});

Deno.test("RingFeed.wakeEarly() signals a sleeping worker only while it asks for early wakes", async () => {
  using t = await setup();
  const early = new EarlyWakes(t.channel.sleeping);
  // Not asked for: nothing, asleep or not.
  Atomics.store(t.sleeping, 0, 1);
  t.feed.wakeEarly();
  assert.equal(t.signalled(), false);
  early.request(true);
  assert.equal(early.requested, true);
  t.feed.wakeEarly();
  assert.equal(t.signalled(), true, "asked for and asleep");
  // Awake: it polls its ring anyway.
  Atomics.store(t.sleeping, 0, 0);
  t.feed.wakeEarly();
  assert.equal(t.signalled(), false);
  early.request(false);
  Atomics.store(t.sleeping, 0, 1);
  t.feed.wakeEarly();
  assert.equal(t.signalled(), false, "no longer asked for");
  // The word is the feed's own: a feed without an eventfd wake-up has none to write.
  using plain = await setup({ wake: false });
  new EarlyWakes(plain.channel.sleeping).request(true);
  Atomics.store(plain.sleeping, 0, 1);
  plain.feed.wakeEarly();
  assert.equal(plain.signalled(), false);
});

Deno.test("EarlyWakes stops asking after eight wake-ups in a row that brought no frame", async () => {
  using t = await setup();
  const early = new EarlyWakes(t.channel.sleeping);
  early.request(true);
  // Woken early, the frame followed within the poll window: the wake-up paid.
  for (let i = 0; i < 20; i++) {
    early.afterTurn(true, 0);
    early.afterTurn(false, 1);
  }
  // Woken by a flush with frames already there: paid too.
  for (let i = 0; i < 20; i++) early.afterTurn(true, 3);
  assert.equal(early.requested, true);
  // Wake-ups for input that went elsewhere; turns without a signal (host events) do not count.
  for (let i = 0; i < 8; i++) {
    assert.equal(early.requested, true, `still asked for after ${i} idle wake-ups`);
    early.afterTurn(true, 0);
    early.afterTurn(false, 0);
  }
  early.afterTurn(true, 0);
  assert.equal(early.requested, false);
  // Asked for again, it counts from zero.
  early.request(true);
  for (let i = 0; i < 8; i++) early.afterTurn(true, 0);
  assert.equal(early.requested, true);
  early.afterTurn(true, 0);
  assert.equal(early.requested, false);
});

/**
 * `shim` with a `shim_epoll_wait` that records the timeout it was given and the flag word at the
 * time, and never blocks (the test must not hang when the no-wait path breaks).
 */
function recordingWaits(shim: Shim, sleeping: Int32Array) {
  const waits: { timeoutMs: number; sleeping: number; yielded?: true }[] = [];
  const spy: Shim = {
    ...shim,
    shim_epoll_wait: (epoll, events, maxEvents, timeoutMs) => {
      waits.push({ timeoutMs, sleeping: Atomics.load(sleeping, 0) });
      return shim.shim_epoll_wait(epoll, events, maxEvents, 0);
    },
    shim_epoll_poll_yield: (epoll, events, maxEvents) => {
      waits.push({ timeoutMs: 0, sleeping: Atomics.load(sleeping, 0), yielded: true });
      return shim.shim_epoll_poll_yield(epoll, events, maxEvents);
    },
  };
  return { spy, waits };
}

/** An epoll set holding `fd` (readable → WAKE_TOKEN). */
function epollWith(shim: Shim, fd: number): number {
  const epoll = shim.shim_epoll_create();
  assert.ok(epoll >= 0, "epoll_create");
  assert.equal(shim.shim_epoll_ctl(epoll, EPOLL_CTL_ADD, fd, EPOLLIN, WAKE_TOKEN), 0);
  return epoll;
}

Deno.test("waitForFeeds() does not block when a ring holds a frame", async () => {
  using t = await setup();
  const epoll = epollWith(t.shim, t.signalFd);
  try {
    const empty = FrameRing.create(RING_BYTES, { maxFrame: MAX_FRAME });
    const events = new Uint32Array(16);
    const { spy, waits } = recordingWaits(t.shim, t.sleeping);
    // Nothing anywhere: the caller's timeout, announced as asleep.
    assert.equal(waitForFeeds(spy, t.sleeping, [empty, t.consumer], epoll, events, 8, 250), 0);
    assert.deepEqual(waits.splice(0), [{ timeoutMs: 250, sleeping: 1 }]);
    assert.equal(Atomics.load(t.sleeping, 0), 0, "awake again after the wait");
    // A frame in the second ring (pushed while the worker was awake: no signal): no waiting.
    t.feed.push(bytes(8));
    t.feed.flush();
    assert.equal(waitForFeeds(spy, t.sleeping, [empty, t.consumer], epoll, events, 8, -1), 0);
    assert.deepEqual(waits.splice(0), [{ timeoutMs: 0, sleeping: 1 }]);
    assert.equal(Atomics.load(t.sleeping, 0), 0);
  } finally {
    t.shim.shim_close(epoll);
  }
});

Deno.test("waitForFeeds() reports the eventfd a flush wrote while the worker slept", async () => {
  using t = await setup();
  const epoll = epollWith(t.shim, t.signalFd);
  try {
    Atomics.store(t.sleeping, 0, 1); // the worker went to sleep
    t.feed.push(bytes(8), 3);
    t.feed.flush();
    const events = new Uint32Array(16);
    // The ring holds the frame, so the real epoll_wait is called with timeout 0 and cannot hang.
    assert.equal(waitForFeeds(t.shim, t.sleeping, [t.consumer], epoll, events, 8, -1), 1);
    assert.ok(events[0] & EPOLLIN);
    assert.equal(events[1], WAKE_TOKEN);
    assert.equal(t.signalled(), true);
    assert.deepEqual(t.take(), [[3, ...bytes(8)]]);
  } finally {
    t.shim.shim_close(epoll);
  }
});

Deno.test("waitForFeeds() busy-polls, yielding, without announcing sleep until busyUntil, then sleeps", async () => {
  using t = await setup();
  const epoll = epollWith(t.shim, t.signalFd);
  try {
    const events = new Uint32Array(16);
    const { spy, waits } = recordingWaits(t.shim, t.sleeping);
    const busyUntil = performance.now() + 5;
    assert.equal(
      waitForFeeds(spy, t.sleeping, [t.consumer], epoll, events, 8, 250, busyUntil),
      0,
    );
    assert.ok(performance.now() >= busyUntil, "returned before the busy window ended");
    const last = waits.pop();
    assert.deepEqual(last, { timeoutMs: 250, sleeping: 1 }, "the final wait sleeps");
    assert.ok(waits.length > 0, "no polling in the busy window");
    assert.ok(
      waits.every((w) => w.timeoutMs === 0 && w.sleeping === 0 && w.yielded),
      JSON.stringify(waits),
    );
  } finally {
    t.shim.shim_close(epoll);
  }
});

Deno.test("waitForFeeds() returns from the busy window as soon as a frame or an event is there", async () => {
  using t = await setup();
  const epoll = epollWith(t.shim, t.signalFd);
  try {
    const events = new Uint32Array(16);
    const { spy, waits } = recordingWaits(t.shim, t.sleeping);
    const busyUntil = performance.now() + 60_000;
    // A frame: no wait at all.
    t.feed.push(bytes(8));
    assert.equal(waitForFeeds(spy, t.sleeping, [t.consumer], epoll, events, 8, -1, busyUntil), 0);
    assert.deepEqual(waits.splice(0), []);
    t.take();
    // An event (the eventfd written): reported by the first poll, never announced as asleep.
    t.shim.shim_eventfd_signal(t.signalFd);
    assert.equal(waitForFeeds(spy, t.sleeping, [t.consumer], epoll, events, 8, -1, busyUntil), 1);
    assert.deepEqual(waits.splice(0), [{ timeoutMs: 0, sleeping: 0, yielded: true }]);
    assert.equal(events[1], WAKE_TOKEN);
    // A zero timeout never busy-polls.
    t.signalled();
    assert.equal(waitForFeeds(spy, t.sleeping, [t.consumer], epoll, events, 8, 0, busyUntil), 0);
    assert.deepEqual(waits.splice(0), [{ timeoutMs: 0, sleeping: 1 }]);
  } finally {
    t.shim.shim_close(epoll);
  }
});

Deno.test("waitForFeeds() with sleep false busy-polls to busyUntil, then polls once, never asleep", async () => {
  using t = await setup();
  const epoll = epollWith(t.shim, t.signalFd);
  try {
    const events = new Uint32Array(16);
    const { spy, waits } = recordingWaits(t.shim, t.sleeping);
    const busyUntil = performance.now() + 5;
    assert.equal(
      waitForFeeds(spy, t.sleeping, [t.consumer], epoll, events, 8, 250, busyUntil, false),
      0,
    );
    assert.ok(performance.now() >= busyUntil, "returned before the busy window ended");
    assert.deepEqual(waits.pop(), { timeoutMs: 0, sleeping: 0 }, "the last poll does not sleep");
    assert.ok(waits.length > 0 && waits.every((w) => w.sleeping === 0 && w.yielded));
    // After the busy window: one poll, at once.
    assert.equal(
      waitForFeeds(spy, t.sleeping, [t.consumer], epoll, events, 8, -1, 0, false),
      0,
    );
    assert.deepEqual(waits.slice(-1), [{ timeoutMs: 0, sleeping: 0 }]);
  } finally {
    t.shim.shim_close(epoll);
  }
});
