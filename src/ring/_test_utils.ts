/**
 * Helpers shared by the ring tests, the test worker and the benchmark: a seeded generator, and
 * frames whose contents follow from their sequence number so a reader can check every byte.
 *
 * @module
 */

import type { FrameRing } from "./frame_ring.ts";
import type { WorkerJob, WorkerReport } from "./frame_ring_test_worker.ts";

/**
 * A seeded 32-bit generator (mulberry32): the same seed gives the same sequence on every thread.
 *
 * @example
 * ```ts
 * import { seededRandom } from "./_test_utils.ts";
 * const a = seededRandom(1), b = seededRandom(1);
 * console.assert(a() === b());
 * ```
 */
export function seededRandom(seed: number): () => number {
  let state = seed | 0;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return (t ^ (t >>> 14)) >>> 0;
  };
}

/**
 * Frame lengths for the cross-thread tests: mostly `minLength`..1514 bytes, one in 64 up to
 * `maxFrame`.
 *
 * @example
 * ```ts
 * import { frameLengths } from "./_test_utils.ts";
 * const next = frameLengths(7, 65535);
 * console.assert(next() >= 1);
 * ```
 */
export function frameLengths(seed: number, maxFrame: number, minLength = 1): () => number {
  const random = seededRandom(seed);
  const small = Math.min(1514, maxFrame) - minLength + 1;
  const any = maxFrame - minLength + 1;
  return () => {
    const r = random();
    return minLength + ((r & 63) === 0 ? (r >>> 6) % any : (r >>> 6) % small);
  };
}

/**
 * Fills `frame` with the contents of frame number `seq`: the sequence number (little endian, cut
 * to the frame's length), then bytes from a generator seeded with `seq`.
 *
 * @example
 * ```ts
 * import { checkFrame, fillFrame } from "./_test_utils.ts";
 * const frame = new Uint8Array(100);
 * fillFrame(frame, 42);
 * console.assert(checkFrame(frame, 42) === -1);
 * ```
 */
export function fillFrame(frame: Uint8Array, seq: number): void {
  const n = frame.length;
  for (let i = 0; i < n && i < 4; i++) frame[i] = seq >>> (8 * i);
  let state = Math.imul(seq, 0x9e3779b1) | 1;
  for (let i = 4; i < n; i++) {
    state = (Math.imul(state, 1103515245) + 12345) | 0;
    frame[i] = state >>> 24;
  }
}

/**
 * Checks `frame` against the contents of frame number `seq`; returns the first wrong byte's index,
 * or -1 when every byte is right.
 *
 * @example
 * ```ts
 * import { checkFrame } from "./_test_utils.ts";
 * console.assert(checkFrame(new Uint8Array([1, 0, 0, 0]), 1) === -1);
 * ```
 */
export function checkFrame(frame: Uint8Array, seq: number): number {
  const n = frame.length;
  for (let i = 0; i < n && i < 4; i++) if (frame[i] !== ((seq >>> (8 * i)) & 0xff)) return i;
  let state = Math.imul(seq, 0x9e3779b1) | 1;
  for (let i = 4; i < n; i++) {
    state = (Math.imul(state, 1103515245) + 12345) | 0;
    if (frame[i] !== state >>> 24) return i;
  }
  return -1;
}

/**
 * The sequence number written into the first bytes of a frame (for failure messages).
 *
 * @example
 * ```ts
 * import { fillFrame, seqOf } from "./_test_utils.ts";
 * const frame = new Uint8Array(8);
 * fillFrame(frame, 300);
 * console.assert(seqOf(frame) === 300);
 * ```
 */
export function seqOf(frame: Uint8Array): number {
  let seq = 0;
  for (let i = 0; i < frame.length && i < 4; i++) seq |= frame[i] << (8 * i);
  return seq >>> 0;
}

/**
 * Checks a stream of frames made with {@link fillFrame} and lengths from {@link frameLengths}:
 * order, lengths and every byte. With `allowGaps`, frames may be missing (dropped by the producer)
 * but never repeated or reordered; frames must then be at least 4 bytes long to carry their number.
 *
 * @example
 * ```ts
 * import { FrameChecker, fillFrame, frameLengths } from "./_test_utils.ts";
 * const checker = new FrameChecker({ seed: 1, maxFrame: 100, frames: 1, allowGaps: false });
 * const frame = new Uint8Array(frameLengths(1, 100)());
 * fillFrame(frame, 0);
 * checker.check(frame);
 * console.assert(checker.received === 1 && checker.bad === 0);
 * ```
 */
export class FrameChecker {
  /** Frames seen. */
  received = 0;
  /** Frames that were out of order, of the wrong length or with a wrong byte. */
  bad = 0;
  /** The first problem, for the failure message. */
  firstError: string | null = null;
  readonly #lengths: () => number;
  readonly #frames: number;
  readonly #allowGaps: boolean;
  #next = 0;

  constructor(
    options: {
      seed: number;
      maxFrame: number;
      frames: number;
      allowGaps: boolean;
      minLength?: number;
      /** Every frame has this length instead of a seeded one. */
      fixedLength?: number;
    },
  ) {
    const fixed = options.fixedLength;
    this.#lengths = fixed === undefined
      ? frameLengths(options.seed, options.maxFrame, options.minLength)
      : () => fixed;
    this.#frames = options.frames;
    this.#allowGaps = options.allowGaps;
  }

  /** Checks the next frame (bound, so it can be passed to `drain()` directly). */
  check = (frame: Uint8Array): void => {
    this.received++;
    let seq = this.#next;
    if (this.#allowGaps) {
      const got = seqOf(frame);
      if (got < seq || got >= this.#frames) {
        return this.#fail(`frame ${got} arrived when ${seq} or later was expected`);
      }
      for (; seq < got; seq++) this.#lengths();
    }
    if (seq >= this.#frames) return this.#fail(`frame ${seq} is one more than was sent`);
    const length = this.#lengths();
    this.#next = seq + 1;
    if (frame.length !== length) {
      return this.#fail(
        `frame ${seq} has ${frame.length} bytes, not ${length} (got #${seqOf(frame)})`,
      );
    }
    const at = checkFrame(frame, seq);
    if (at >= 0) {
      this.#fail(`frame ${seq} differs at byte ${at} of ${length} (got #${seqOf(frame)})`);
    }
  };

  #fail(message: string): void {
    this.bad++;
    this.firstError ??= message;
  }
}

/**
 * Runs each job in its own Worker (`frame_ring_test_worker.ts`) and returns their reports. On a
 * timeout or a worker error it closes the ring so the workers stop on their own, gives them a
 * moment, and terminates them in every case.
 *
 * @example
 * ```ts ignore
 * const [producer, consumer] = await runJobs(ring, [producerJob, consumerJob], 10_000);
 * ```
 */
export async function runJobs(
  ring: FrameRing,
  jobs: WorkerJob[],
  timeoutMs: number,
): Promise<WorkerReport[]> {
  const url = new URL("./frame_ring_test_worker.ts", import.meta.url).href;
  const workers = jobs.map(() => new Worker(url, { type: "module" }));
  const reports = Promise.all(
    workers.map((worker) =>
      new Promise<WorkerReport>((resolve, reject) => {
        worker.onmessage = (event: MessageEvent<WorkerReport>) => resolve(event.data);
        worker.onerror = (event) => {
          event.preventDefault();
          reject(new Error(`A ring test worker failed: ${event.message}`));
        };
      })
    ),
  );
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`Ring test workers ran over ${timeoutMs} ms`)),
      timeoutMs,
    );
  });
  workers.forEach((worker, i) => worker.postMessage(jobs[i]));
  try {
    return await Promise.race([reports, timeout]);
  } catch (error) {
    ring.close(); // cooperative stop first: terminate() does not stop a worker in a wait loop
    let grace: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      reports.catch(() => {}),
      new Promise((resolve) => grace = setTimeout(resolve, 1000)),
    ]);
    clearTimeout(grace);
    throw error;
  } finally {
    clearTimeout(timer);
    for (const worker of workers) worker.terminate();
  }
}
