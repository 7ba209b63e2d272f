/**
 * slirp4netns on Deno: user-mode networking for unprivileged network namespaces.
 *
 * @example
 * ```ts
 * import { DEFAULTS, loadShim, Network, openTap } from "jsr:@x/slirp4netns";
 * const config = { ...DEFAULTS, configure: true, target: { kind: "pid", pid: 1234, tapName: "tap0" } } as const;
 * const tap = openTap(await loadShim(), config);
 * if (tap.ok) {
 *   const network = await Network.start(config, tap.fd);
 *   // ... later
 *   await network.stop();
 * }
 * ```
 * @module
 */
export {
  type Addresses,
  type Config,
  DEFAULTS,
  deriveAddresses,
  type TapTarget,
} from "./src/config.ts";
export { loadShim } from "./src/ffi/shim.ts";
export { openTap, type TapFailed, type TapOpened } from "./src/link/open_tap.ts";
export { Network } from "./src/network.ts";
export { parseCommandLine } from "./src/cli/options.ts";
