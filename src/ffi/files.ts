/**
 * Reading small host files through the shim (native/file.c) instead of Deno's file API: the
 * command is granted only `--allow-read=<install dir>`, and /etc/resolv.conf lies outside it.
 */
import { cString, type Shim } from "./shim.ts";

/** Largest file read: resolv.conf files are a few hundred bytes; glibc reads them line by line. */
export const MAX_SMALL_FILE = 64 * 1024;

/** Host file access for configuration files, through the shim. */
export interface HostFiles {
  /** dev:ino:size:mtime of `path` (following symlinks), or null when it cannot be stat'ed. */
  stamp(path: string): string | null;
  /** The file's text (at most {@link MAX_SMALL_FILE} bytes), or null when it cannot be read. */
  read(path: string): string | null;
}

/**
 * File access through the shim; fits `ResolvConfWatcher` (src/dns/resolv_conf.ts).
 *
 * @example
 * ```ts
 * import { loadShim } from "./shim.ts";
 * import { shimFiles } from "./files.ts";
 * const files = shimFiles(await loadShim());
 * files.stamp("/nonexistent"); // null
 * ```
 */
export function shimFiles(shim: Shim): HostFiles {
  const stat = new BigUint64Array(4);
  const buffer = new Uint8Array(MAX_SMALL_FILE);
  const decoder = new TextDecoder();
  return {
    stamp(path: string): string | null {
      if (shim.shim_stat(cString(path), stat) < 0) return null;
      return `${stat[0]}:${stat[1]}:${stat[2]}:${stat[3]}`;
    },
    read(path: string): string | null {
      const n = shim.shim_read_file(cString(path), buffer, buffer.length);
      return n < 0 ? null : decoder.decode(buffer.subarray(0, n));
    },
  };
}
