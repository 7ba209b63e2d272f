/**
 * For `--enable-sandbox` in a registry run: the modules the continuation will import, fetched into
 * the runtime's module cache by the first image, because the continuation runs inside the sandbox
 * with `--cached-only` and no view of the module server (src/sandbox/mod.ts). A `deno run` of a
 * URL fetches the main module's static graph before it starts, and everything reached by a
 * dynamic import or a `new Worker` only when reached: those are listed here (module_cache_test.ts
 * fails when a dynamic import or a Worker module is missing from the list).
 */
import { DNS_RESOLVER_URL, TAP_READER_URL, TCP_TABLE_URL } from "../workers/urls.ts";

/** The modules the continuation imports beyond the main module's static graph. */
export function continuationModules(arch: string = Deno.build.arch): URL[] {
  const modules = [
    new URL("../network.ts", import.meta.url),
    new URL("../api/mod.ts", import.meta.url),
    new URL("./mod.ts", import.meta.url),
    TAP_READER_URL,
    TCP_TABLE_URL,
    DNS_RESOLVER_URL,
  ];
  // The shipped shim, loaded through a memfd inside (src/ffi/locate.ts).
  if (arch === "x86_64" || arch === "aarch64") {
    modules.push(new URL(`../../native/prebuilt/${arch}.ts`, import.meta.url));
  }
  return modules;
}

/** The throwaway Worker that imports them. */
export const MODULE_LOADER_URL: URL = new URL("../workers/module_loader.ts", import.meta.url);

/**
 * Fetches `modules` and their graphs into the module cache (by importing them in a throwaway
 * Worker); null when done, else why not.
 */
export function cacheModules(
  modules: readonly URL[] = continuationModules(),
): Promise<string | null> {
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
    worker.postMessage(modules.map((url) => url.href));
  });
}
