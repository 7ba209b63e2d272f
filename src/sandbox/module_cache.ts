/**
 * For `--enable-sandbox` in a registry run: the modules the continuation will import, fetched into
 * the runtime's module cache by the first image, because the continuation runs inside the sandbox
 * with `--cached-only` and no view of the module server (src/sandbox/mod.ts). A `deno run` of a
 * URL fetches the main module's static graph (and its literal dynamic imports) before it starts,
 * but a Worker's modules only when the Worker starts: a throwaway Worker,
 * src/workers/module_loader.ts, imports them all (module_cache_test.ts fails when a dynamic import
 * or a Worker module of the program is missing there).
 */

/** The throwaway Worker that imports them. */
export const MODULE_LOADER_URL: URL = new URL("../workers/module_loader.ts", import.meta.url);

/**
 * Fetches the continuation's modules and their graphs into the module cache (by importing them in
 * a throwaway Worker); null when done, else why not.
 */
export function cacheContinuationModules(): Promise<string | null> {
  return new Promise((resolve) => {
    const worker = new Worker(MODULE_LOADER_URL.href, { type: "module" });
    const done = (result: string | null) => {
      worker.terminate();
      resolve(result);
    };
    worker.onmessage = (event: MessageEvent<{ kind: string; message?: string }>) => {
      done(event.data.kind === "started" ? null : `cannot load ${event.data.message}`);
    };
    worker.onerror = (event) => {
      event.preventDefault();
      done(`cannot load the module loader: ${event.message}`);
    };
    worker.postMessage(null);
  });
}
