/**
 * The Worker side of the lifecycle that src/host/worker_thread.ts drives from the main thread:
 * one start message in; {@link WorkerEvent}s out ("started" once the worker is ready, "error" any
 * number of times, "stopped" last, after which the worker closes).
 */
/// <reference lib="deno.worker" />
import type { WorkerEvent } from "../host/worker_thread.ts";

/** Reports an event to the main thread. */
export function report(event: WorkerEvent): void {
  self.postMessage(event);
}

/**
 * Makes this Worker run `run` on its start message. `run` reports "started" itself when ready;
 * when it returns or throws (reported as an error), "stopped" is reported and the Worker closes.
 */
export function serveWorker<Start>(run: (start: Start) => Promise<void>): void {
  self.onmessage = (event: MessageEvent<Start>) => {
    run(event.data)
      .catch((error) => report({ kind: "error", message: String(error) }))
      .finally(() => {
        report({ kind: "stopped" });
        self.close();
      });
  };
}
