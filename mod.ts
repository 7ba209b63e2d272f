/**
 * slirp4netns on Deno: user-mode networking for unprivileged network namespaces, a drop-in
 * replacement for the `slirp4netns` command.
 *
 * Run as the main module, this is the command itself (the same as `cli.ts`):
 *
 * ```sh
 * deno run -A jsr:@x/slirp4netns --configure --mtu=65520 PID tap0
 * ```
 *
 * Imported, it is a library for Deno programs that embed the stack: parse a slirp4netns command
 * line or build a {@link Config}, open the tap in the target namespace with {@link openTap}, and
 * run the network on it with {@link startNetwork}.
 *
 * @example Start a network for the namespace of process 1234
 * ```ts ignore
 * import { DEFAULTS, loadShim, openTap, startNetwork } from "jsr:@x/slirp4netns";
 *
 * const config = {
 *   ...DEFAULTS,
 *   configure: true,
 *   target: { kind: "pid", pid: 1234, tapName: "tap0" },
 * } as const;
 * const tap = openTap(await loadShim(), config);
 * if (!tap.ok) throw new Error(tap.lines.join("\n"));
 * const network = await startNetwork(config, tap.fd);
 * await network.started; // frames from the guest are answered from now on
 * // ... later
 * await network.stop();
 * ```
 *
 * @module
 */
import type { Config } from "./src/config.ts";
import type { Network } from "./src/network.ts";
import { main } from "./cli.ts";

export {
  type Addresses,
  type Config,
  DEFAULTS,
  deriveAddresses,
  type Ipv6Addresses,
  type TapTarget,
} from "./src/config.ts";
export { loadShim, type Shim, SHIM_SYMBOLS } from "./src/ffi/shim.ts";
export { openTap, type TapFailed, type TapOpened } from "./src/link/open_tap.ts";
export type { Network } from "./src/network.ts";
export {
  type HostChecks,
  parseCommandLine,
  type ParseOutcome,
  type ParseSettings,
} from "./src/cli/options.ts";
export type { LogLevel } from "./src/log.ts";
export type { ApiSocketFile } from "./src/api/server.ts";

/**
 * Starts the network on an open tap fd (from {@link openTap}); the network owns the fd from then
 * on. The stack's modules are loaded on the first call, so importing this module stays cheap.
 *
 * @param config The configuration, e.g. `DEFAULTS` with a target, or `parseCommandLine`'s.
 * @param tapFd The tap's file descriptor.
 * @returns The running network; `started` resolves once frames are answered.
 *
 * @example
 * ```ts ignore
 * const network = await startNetwork(config, tap.fd);
 * await network.started;
 * ```
 */
export async function startNetwork(config: Config, tapFd: number): Promise<Network> {
  const { Network } = await import("./src/network.ts");
  return await Network.start(config, tapFd);
}

if (import.meta.main) Deno.exit(await main(Deno.args));
