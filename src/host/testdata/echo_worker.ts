/**
 * A Worker for worker_thread_test.ts: given a SharedArrayBuffer, adds 1 to its first Int32 word
 * (so the test sees that it ran), then reports "started" and "stopped".
 */
/// <reference lib="deno.worker" />
self.onmessage = (event: MessageEvent<SharedArrayBuffer>) => {
  Atomics.add(new Int32Array(event.data), 0, 1);
  self.postMessage({ kind: "started" });
  self.postMessage({ kind: "stopped" });
  self.close();
};
