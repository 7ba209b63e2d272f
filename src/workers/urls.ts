/**
 * The Worker modules' URLs, in a module that imports nothing: the command creates the Workers
 * (src/host/worker_thread.ts prespawnWorker) before it loads the rest of the stack.
 *
 * A command that runs from its bundle (cli.ts) runs the Workers from theirs, one JavaScript file
 * each in src/bundled/ (`deno task bundle`), which loads in about half the time of its graph of
 * TypeScript modules; a command run from the sources runs the Workers' sources. Inside a bundle
 * this module's code is part of a `.js` file, so its own URL tells which. The URLs resolve the
 * same from this file and from a bundle: both directories are in src/.
 */

const sources = !import.meta.url.endsWith(".js");

/** The tap reader (dispatcher). */
export const TAP_READER_URL: URL = sources
  ? new URL("../workers/tap_reader.ts", import.meta.url)
  : new URL("../bundled/tap_reader.js", import.meta.url);
/** The TCP connection table. */
export const TCP_TABLE_URL: URL = sources
  ? new URL("../workers/tcp_table.ts", import.meta.url)
  : new URL("../bundled/tcp_table.js", import.meta.url);
/** The DNS resolver. */
export const DNS_RESOLVER_URL: URL = sources
  ? new URL("../workers/dns_resolver.ts", import.meta.url)
  : new URL("../bundled/dns_resolver.js", import.meta.url);
