/** WorkerThread: a worker is created on a later turn, and one stopped before that never is. */
import assert from "node:assert/strict";
import { WorkerThread } from "./worker_thread.ts";

const WORKER = new URL("./testdata/echo_worker.ts", import.meta.url);

Deno.test("WorkerThread.start() runs the worker, which starts and stops", async () => {
  const ran = new Int32Array(new SharedArrayBuffer(4));
  const thread = WorkerThread.start("test worker", WORKER, ran.buffer);
  await thread.started;
  assert.equal(Atomics.load(ran, 0), 1);
  await thread.stop();
});

Deno.test("WorkerThread.stop() before the worker was created: it never is, and started resolves", async () => {
  const ran = new Int32Array(new SharedArrayBuffer(4));
  const thread = WorkerThread.start("test worker", WORKER, ran.buffer);
  await thread.stop();
  await thread.started;
  // Give a worker that was wrongly created every chance to run.
  for (let turn = 0; turn < 20; turn++) await new Promise((resolve) => setTimeout(resolve, 5));
  assert.equal(Atomics.load(ran, 0), 0);
});
