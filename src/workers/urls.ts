/**
 * The Worker modules' URLs, in a module that imports nothing: the command creates the Workers
 * (src/host/worker_thread.ts prespawnWorker) before it loads the rest of the stack.
 */

/** The tap reader (dispatcher). */
export const TAP_READER_URL: URL = new URL("./tap_reader.ts", import.meta.url);
/** The TCP connection table. */
export const TCP_TABLE_URL: URL = new URL("./tcp_table.ts", import.meta.url);
/** The DNS resolver. */
export const DNS_RESOLVER_URL: URL = new URL("./dns_resolver.ts", import.meta.url);
