/**
 * Frame ring micro-benchmarks for 1514-byte (MTU 1500) and 65534-byte (MTU 65520) frames:
 * the ring's own cost on one thread, the cost of copying in with `push()`, and two Workers
 * streaming frames through an 8 MiB ring (time per iteration / frames = time per frame).
 *
 * Run: `deno bench --allow-read=. src/ring`
 *
 * @module
 */

import { FrameRing } from "./frame_ring.ts";
import { runJobs } from "./_test_utils.ts";
import type { WorkerJob } from "./frame_ring_test_worker.ts";

const RING_BYTES = 8 << 20;

for (const size of [1514, 65534]) {
  const group = `${size} B`;
  const ring = FrameRing.create(RING_BYTES);
  const frame = new Uint8Array(size).fill(0xa5);
  let sink = 0;

  Deno.bench({
    name: `reserve + commit + peek + release (views), ${size} B`,
    group,
    baseline: true,
    fn() {
      ring.reserve(size);
      ring.commit(size);
      sink += ring.peek()!.length;
      ring.release();
    },
  });

  Deno.bench({
    name: `reserveAt + commit + peekAt + release (offsets, no allocation), ${size} B`,
    group,
    fn() {
      ring.reserveAt(size);
      ring.commit(size);
      sink += ring.peekAt();
      ring.release();
    },
  });

  Deno.bench({
    name: `64 × (reserveAt + commit), then drain(), ${size} B (per iteration: 64 frames)`,
    group,
    fn() {
      for (let i = 0; i < 64; i++) {
        ring.reserveAt(size);
        ring.commit(size);
      }
      ring.drain((f) => sink += f.length);
    },
  });

  Deno.bench({
    name: `push (TypedArray.set copy) + drain(), ${size} B`,
    group,
    fn() {
      ring.push(frame);
      ring.drain((f) => sink += f.length);
    },
  });

  const frames = size < 4096 ? 200_000 : 20_000;
  for (const write of ["reserve", "push"] as const) {
    Deno.bench({
      name: `two Workers, ${write === "reserve" ? "zero copy" : "push copy"}, ${frames} frames ` +
        `of ${size} B (per iteration: ${frames} frames)`,
      group,
      n: 5,
      warmup: 1,
      async fn() {
        const pipe = FrameRing.create(RING_BYTES);
        const job: WorkerJob = {
          role: "producer",
          buffer: pipe.buffer,
          frames,
          seed: 1,
          minLength: 1,
          fixedLength: size,
          onFull: "wait",
          write,
          verify: false,
          waitMs: 1_000,
          deadlineMs: 20_000,
        };
        const [producer, consumer] = await runJobs(
          pipe,
          [job, { ...job, role: "consumer" }],
          30_000,
        );
        if (consumer.frames !== frames || producer.error !== null) {
          throw new Error(`Benchmark run failed: ${consumer.frames} frames, ${producer.error}`);
        }
      },
    });
  }
}
