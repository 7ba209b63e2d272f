/**
 * A throwaway Worker that imports every module the sandbox's continuation will import beyond the
 * main module's static graph, so that the runtime fetches their whole graphs into its module
 * cache, then reports how that went (a {@link WorkerEvent}: "started" when all loaded, else
 * "error"). Used by `--enable-sandbox` in a registry run (src/sandbox/module_cache.ts): the
 * continuation runs inside the sandbox with `--cached-only`, so everything it will ever import
 * must be cached first. A Worker, because the Worker entry modules among them must not be
 * evaluated on the main thread. Owns no fd or ring.
 *
 * The imports are literal so that `deno publish` and `deno compile` can see them;
 * src/sandbox/module_cache_test.ts fails when a dynamic import or a Worker module of the program
 * is missing here.
 */
import type { WorkerEvent } from "../host/worker_thread.ts";

interface LoaderScope {
  postMessage(message: WorkerEvent): void;
  onmessage: ((event: MessageEvent) => void) | null;
}

const scope = globalThis as unknown as LoaderScope;

/** Imports them one by one (a Worker entry replaces `onmessage`, which is no longer needed). */
async function loadAll(): Promise<void> {
  // What the command imports once the tap exists, as sources and as the bundle's chunks
  // (src/bundled/, which a registry run runs).
  await import("../cli/command.ts");
  await import("../network.ts");
  await import("../api/mod.ts");
  await import("../sandbox/mod.ts");
  await import("../link/capture.ts");
  await import("../link/bess.ts");
  await (await import("../bundled/command.js")).preloadCommandModules();
  await import("./tap_reader.ts");
  await import("./tcp_table.ts");
  await import("./dns_resolver.ts");
  await import("../bundled/tap_reader.js");
  await import("../bundled/tcp_table.js");
  await import("../bundled/dns_resolver.js");
  // The shipped shim, loaded through a memfd inside (src/ffi/locate.ts).
  switch (Deno.build.arch) {
    case "x86_64":
      await import("../../native/prebuilt/x86_64.ts");
      break;
    case "aarch64":
      await import("../../native/prebuilt/aarch64.ts");
      break;
  }
}

scope.onmessage = () => {
  loadAll().then(
    () => scope.postMessage({ kind: "started" }),
    (error) => scope.postMessage({ kind: "error", message: String(error) }),
  );
};
