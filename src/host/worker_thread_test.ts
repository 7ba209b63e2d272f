/** WorkerThread: a worker is created on a later turn, and one stopped before that never is. */
import assert from "node:assert/strict";
import { prespawnWorker, WorkerThread } from "./worker_thread.ts";

const WORKER = new URL("./testdata/echo_worker.ts", import.meta.url);

Deno.test("WorkerThread.start() runs the worker, which starts and stops", async () => {
  const ran = new Int32Array(new SharedArrayBuffer(4));
  const thread = WorkerThread.start("test worker", WORKER, ran.buffer);
  assert.equal(await thread.started, true);
  assert.equal(Atomics.load(ran, 0), 1);
  await thread.stop();
});

Deno.test("WorkerThread.stop() before the worker was created: it never is, and started resolves", async () => {
  const ran = new Int32Array(new SharedArrayBuffer(4));
  const thread = WorkerThread.start("test worker", WORKER, ran.buffer);
  await thread.stop();
  assert.equal(await thread.started, false);
  // Give a worker that was wrongly created every chance to run.
  for (let turn = 0; turn < 20; turn++) await new Promise((resolve) => setTimeout(resolve, 5));
  assert.equal(Atomics.load(ran, 0), 0);
});

Deno.test("WorkerThread.start() adopts a prespawned worker for its URL, at once", async () => {
  prespawnWorker(WORKER);
  const ran = new Int32Array(new SharedArrayBuffer(4));
  const thread = WorkerThread.start("test worker", WORKER, ran.buffer);
  // Adopted: already sent its start message, so stopping now does not prevent it from running.
  await thread.stop();
  await thread.started;
  assert.equal(Atomics.load(ran, 0), 1);
});

Deno.test("a prespawned worker that failed to load reports it when adopted; started resolves", async () => {
  const broken = new URL("./testdata/broken_worker.ts", import.meta.url);
  prespawnWorker(broken);
  // Let it fail before it is adopted.
  for (let turn = 0; turn < 50; turn++) await new Promise((resolve) => setTimeout(resolve, 5));
  const errors: string[] = [];
  // The logger writes to stderr: catch its lines.
  const stderr = Deno.stderr as { writeSync(bytes: Uint8Array): number };
  const original = stderr.writeSync;
  stderr.writeSync = (bytes) => errors.push(new TextDecoder().decode(bytes)) && bytes.length;
  try {
    const thread = WorkerThread.start("broken worker", broken, null);
    assert.equal(await thread.started, false, "a worker that fails to load never started");
    await thread.stop();
  } finally {
    stderr.writeSync = original;
  }
  assert.ok(errors.some((line) => line.includes("broken on purpose")), errors.join("\n"));
});
