/**
 * The Worker side of the lifecycle that src/host/worker_thread.ts drives from the main thread:
 * one start message in; {@link WorkerEvent}s out ("started" once the worker is ready, "error" any
 * number of times, "stopped" last, after which the worker closes).
 */
import type { WorkerEvent } from "../host/worker_thread.ts";

/**
 * The Worker global scope, as far as we use it. Typed here rather than with
 * `/// <reference lib="deno.worker" />`, which a published package may not use (it changes the
 * globals of every module type-checked with it).
 */
interface WorkerScope {
  postMessage(message: unknown): void;
  onmessage: ((event: MessageEvent) => void) | null;
  close(): void;
}

const scope = globalThis as unknown as WorkerScope;

/** Reports an event to the main thread. */
export function report(event: WorkerEvent): void {
  scope.postMessage(event);
}

/**
 * Makes this Worker run `run` on its start message. `run` reports "started" itself when ready;
 * when it returns or throws (reported as an error), "stopped" is reported and the Worker closes.
 */
export function serveWorker<Start>(run: (start: Start) => Promise<void>): void {
  scope.onmessage = (event: MessageEvent) => {
    run(event.data as Start)
      .catch((error) => report({ kind: "error", message: String(error) }))
      .finally(() => {
        report({ kind: "stopped" });
        scope.close();
      });
  };
}
