/**
 * The version of this implementation, reported by `--version`. The one place to bump it.
 */

/**
 * This implementation's version, printed as `slirp4netns version <VERSION>`.
 *
 * @example
 * ```ts
 * import { VERSION } from "./version.ts";
 * console.log(`slirp4netns version ${VERSION}`);
 * ```
 */
export const VERSION = "0.1.0";

/**
 * The libslirp `SLIRP_CONFIG_VERSION_MAX` whose features we claim (6 = libslirp 4.9). The upstream
 * test scripts skip the `--disable-dns` test below 3 and the `--outbound-addr` test below 2.
 *
 * @example
 * ```ts
 * import { SLIRP_CONFIG_VERSION_MAX } from "./version.ts";
 * if (SLIRP_CONFIG_VERSION_MAX < 3) throw new Error("unreachable");
 * ```
 */
export const SLIRP_CONFIG_VERSION_MAX = 6;
