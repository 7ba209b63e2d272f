/**
 * A throwaway Worker that imports the modules named in its one message, so that the runtime
 * fetches their whole graphs into its module cache, then reports how that went (a
 * {@link WorkerEvent}: "started" when all loaded, else "error"). Used by `--enable-sandbox` in a
 * registry run (src/sandbox/module_cache.ts): the continuation runs inside the sandbox with
 * `--cached-only`, so everything it will ever import must be cached first. A Worker, because the
 * Worker entry modules among them must not be evaluated on the main thread. Owns no fd or ring.
 */
import type { WorkerEvent } from "../host/worker_thread.ts";

interface LoaderScope {
  postMessage(message: WorkerEvent): void;
  onmessage: ((event: MessageEvent<string[]>) => void) | null;
}

const scope = globalThis as unknown as LoaderScope;

scope.onmessage = async (event) => {
  for (const url of event.data) {
    try {
      await import(url);
    } catch (error) {
      scope.postMessage({ kind: "error", message: `${url}: ${error}` });
      return;
    }
  }
  scope.postMessage({ kind: "started" });
};
