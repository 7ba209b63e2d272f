/**
 * Worker for the cross-thread ring tests and benchmark: attaches a ring from the buffer it is
 * sent and either produces a seeded sequence of frames or consumes and checks one, then posts a
 * {@link WorkerReport}. It stops on its own (ring closed, or the job's deadline), so the parent
 * can `terminate()` an idle worker afterwards.
 *
 * @module
 */

import { FrameRing, type WaitResult } from "./frame_ring.ts";
import { fillFrame, FrameChecker, frameLengths } from "./_test_utils.ts";

/**
 * What the worker does: `producer` sends frames into `buffer`, `consumer` checks them; `pinger`
 * sends one frame at a time into `buffer` and waits for it to come back through `replyBuffer`,
 * where `echo` returns every frame it receives.
 */
export interface WorkerJob {
  role: "producer" | "consumer" | "pinger" | "echo";
  buffer: SharedArrayBuffer;
  /** The ring that `echo` writes to and `pinger` reads from. */
  replyBuffer?: SharedArrayBuffer;
  /** Frames the producer sends (and the consumer's upper bound). */
  frames: number;
  seed: number;
  /** Smallest frame; 4 or more when frames may be dropped. */
  minLength: number;
  /** Producer: on a full ring, wait for space or drop (and count) the frame. */
  onFull: "wait" | "drop";
  /** Producer: write frames with `reserve`/`commit` (zero copy), `push`, or alternate. */
  write: "reserve" | "push" | "mixed";
  /** Producer: send frames of this one length instead of seeded lengths (for the benchmark). */
  fixedLength?: number;
  /** Both sides: fill and check every byte, or only count frames (for the benchmark). */
  verify: boolean;
  /** Longest single wait for space or data; a lost wake-up shows as a timeout. */
  waitMs: number;
  /** Give up after this long. */
  deadlineMs: number;
}

/** What the worker found. */
export interface WorkerReport {
  role: WorkerJob["role"];
  /** Producer: frames committed; consumer: frames received. */
  frames: number;
  /** Producer: frames dropped and counted. */
  dropped: number;
  /** Consumer: frames that failed a check. */
  bad: number;
  error: string | null;
  /** Times the side waited for space or data. */
  waits: number;
  /** Waits that lasted a whole `waitMs`; with both sides busy, only a lost wake-up does that. */
  timeouts: number;
  /** Pinger: round-trip times in microseconds, 50th and 99th percentile. */
  p50Us?: number;
  p99Us?: number;
  ms: number;
}

const scope = self as unknown as {
  onmessage: ((event: MessageEvent<WorkerJob>) => void) | null;
  postMessage(report: WorkerReport): void;
};

scope.onmessage = (event) => {
  const job = event.data;
  const run = { producer: produce, consumer: consume, pinger: ping, echo }[job.role];
  scope.postMessage(run(job));
};

/** Waits on a ring and counts the waits that lasted a whole `waitMs`. */
class Waits {
  count = 0;
  timeouts = 0;
  constructor(readonly waitMs: number) {}

  forSpace(ring: FrameRing, length: number): WaitResult {
    return this.#timed(() => ring.waitForSpace(this.waitMs, length));
  }

  forData(ring: FrameRing): WaitResult {
    return this.#timed(() => ring.waitForData(this.waitMs));
  }

  #timed(wait: () => WaitResult): WaitResult {
    const start = performance.now();
    const result = wait();
    this.count++;
    if (performance.now() - start >= this.waitMs) this.timeouts++;
    return result;
  }
}

function produce(job: WorkerJob): WorkerReport {
  const start = performance.now();
  const deadline = start + job.deadlineMs;
  const ring = FrameRing.attach(job.buffer);
  const fixed = job.fixedLength;
  const lengths = fixed === undefined
    ? frameLengths(job.seed, ring.maxFrame, job.minLength)
    : () => fixed;
  const scratch = new Uint8Array(ring.maxFrame);
  const waits = new Waits(job.waitMs);
  let frames = 0, dropped = 0;
  let error: string | null = null;
  sending: for (let seq = 0; seq < job.frames; seq++) {
    const length = lengths();
    const copy = job.write === "push" || (job.write === "mixed" && (seq & 1) === 1);
    // A zero-copy producer reserves more than it writes, like a read() into an MTU-sized slot.
    const reserved = copy ? length : Math.min(ring.maxFrame, length + (seq & 255));
    for (;;) {
      let sent: boolean;
      if (copy) {
        const frame = scratch.subarray(0, length);
        if (job.verify) fillFrame(frame, seq);
        sent = ring.push(frame);
      } else {
        const slot = ring.reserve(reserved);
        sent = slot !== null;
        if (slot !== null) {
          if (job.verify) fillFrame(slot.subarray(0, length), seq);
          ring.commit(length);
        }
      }
      if (sent) {
        frames++;
        break;
      }
      if (job.onFull === "drop") {
        ring.countDrop();
        dropped++;
        break;
      }
      if (waits.forSpace(ring, reserved) === "closed") {
        error = `the ring was closed after ${seq} frames`;
        break sending;
      }
      if (performance.now() > deadline) {
        error = `producer gave up after ${seq} frames`;
        break sending;
      }
    }
  }
  ring.close(); // end of stream: the consumer drains what is left, then sees "closed"
  return report("producer", start, { frames, dropped, error, waits });
}

function consume(job: WorkerJob): WorkerReport {
  const start = performance.now();
  const deadline = start + job.deadlineMs;
  const ring = FrameRing.attach(job.buffer);
  const checker = new FrameChecker({
    seed: job.seed,
    maxFrame: ring.maxFrame,
    frames: job.frames,
    allowGaps: job.onFull === "drop",
    minLength: job.minLength,
    fixedLength: job.fixedLength,
  });
  let received = 0;
  const count = () => received++;
  const handle = job.verify ? checker.check : count;
  const waits = new Waits(job.waitMs);
  let error: string | null = null;
  for (let turn = 0;; turn++) {
    if ((turn & 1) === 0) {
      ring.drain(handle);
    } else {
      // The other consumer API: look at a frame in place, then give it back.
      for (let frame = ring.peek(); frame !== null; frame = ring.peek()) {
        handle(frame);
        ring.release();
      }
    }
    if (waits.forData(ring) === "closed") break;
    if (performance.now() > deadline) {
      error = `consumer gave up after ${job.verify ? checker.received : received} frames`;
      ring.close();
      break;
    }
  }
  return report("consumer", start, {
    frames: job.verify ? checker.received : received,
    bad: checker.bad,
    error: error ?? checker.firstError,
    waits,
  });
}

function ping(job: WorkerJob): WorkerReport {
  const start = performance.now();
  const deadline = start + job.deadlineMs;
  const out = FrameRing.attach(job.buffer);
  const back = FrameRing.attach(job.replyBuffer!);
  const lengths = frameLengths(job.seed, out.maxFrame, job.minLength);
  const checker = new FrameChecker({
    seed: job.seed,
    maxFrame: out.maxFrame,
    frames: job.frames,
    allowGaps: false,
    minLength: job.minLength,
  });
  const rtts: number[] = [];
  const waits = new Waits(job.waitMs);
  let error: string | null = null;
  pinging: for (let seq = 0; seq < job.frames; seq++) {
    const length = lengths();
    const sent = performance.now();
    // The echo replies before it releases the ping, so the previous ping may still take room.
    let slot = out.reserve(length);
    while (slot === null && waits.forSpace(out, length) !== "closed") {
      if (performance.now() > deadline) break;
      slot = out.reserve(length);
    }
    if (slot === null) {
      error = `no room for ping ${seq}`;
      break;
    }
    fillFrame(slot.subarray(0, length), seq);
    out.commit(length);
    while (waits.forData(back) !== "ready") {
      if (back.closed || performance.now() > deadline) {
        error = `no reply to ping ${seq}`;
        break pinging;
      }
    }
    checker.check(back.peek()!);
    back.release();
    rtts.push((performance.now() - sent) * 1000);
  }
  out.close();
  rtts.sort((a, b) => a - b);
  return {
    ...report("pinger", start, { frames: checker.received, bad: checker.bad, error, waits }),
    error: error ?? checker.firstError,
    p50Us: rtts[Math.floor(rtts.length * 0.5)],
    p99Us: rtts[Math.floor(rtts.length * 0.99)],
  };
}

function echo(job: WorkerJob): WorkerReport {
  const start = performance.now();
  const deadline = start + job.deadlineMs;
  const incoming = FrameRing.attach(job.buffer);
  const reply = FrameRing.attach(job.replyBuffer!);
  const waits = new Waits(job.waitMs);
  let frames = 0;
  let error: string | null = null;
  const answer = (frame: Uint8Array) => {
    let slot = reply.reserve(frame.length);
    while (slot === null && waits.forSpace(reply, frame.length) !== "closed") {
      slot = reply.reserve(frame.length);
    }
    if (slot === null) throw new Error("the reply ring was closed");
    slot.set(frame);
    reply.commit(frame.length);
    frames++;
  };
  for (;;) {
    incoming.drain(answer);
    if (waits.forData(incoming) === "closed") break;
    if (performance.now() > deadline) {
      error = `echo gave up after ${frames} frames`;
      break;
    }
  }
  reply.close();
  return report("echo", start, { frames, error, waits });
}

function report(
  role: WorkerJob["role"],
  start: number,
  found: { frames: number; dropped?: number; bad?: number; error: string | null; waits: Waits },
): WorkerReport {
  return {
    role,
    frames: found.frames,
    dropped: found.dropped ?? 0,
    bad: found.bad ?? 0,
    error: found.error,
    waits: found.waits.count,
    timeouts: found.waits.timeouts,
    ms: performance.now() - start,
  };
}
