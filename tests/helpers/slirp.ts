/**
 * Starting the command under test for a namespace, the way the upstream test scripts do
 * (`slirp4netns [OPTIONS] PID TAPNAME`), and waiting for what they wait for.
 */
import type { Variant } from "./matrix.ts";
import type { Netns } from "./netns.ts";
import type { FdSpec, Proc } from "./process.ts";

/** A PID that cannot exist (above any pid_max): safe where an option error is expected. */
export const NO_SUCH_PID = "999999999";

/** How `startFor()` starts the command. */
export interface StartOptions {
  /** Options before the positional arguments, e.g. `["-c", "--mtu=65520"]`. */
  args?: string[];
  /** The tap name; default tap0. */
  tap?: string;
  /** Words after PID and TAPNAME (extra positional arguments). */
  extra?: string[];
  fds?: Record<number, FdSpec>;
}

/** Starts the command under test for `ns` (`OPTIONS PID TAPNAME`), as the variant's user. */
export function startFor(v: Variant, ns: Netns, options: StartOptions = {}): Proc {
  const args = [
    ...(options.args ?? []),
    String(ns.pid),
    options.tap ?? "tap0",
    ...(options.extra ?? []),
  ];
  return v.start(args, { fds: options.fds });
}

/**
 * Starts the command with `-c` (plus `args`) and waits until the tap is up and the gateway
 * answers a ping: the network is usable.
 */
export async function startConfigured(
  v: Variant,
  ns: Netns,
  options: StartOptions & { gateway?: string } = {},
): Promise<Proc> {
  const proc = startFor(v, ns, { ...options, args: ["-c", ...(options.args ?? [])] });
  await ns.waitForLink(options.tap ?? "tap0", { proc });
  await ns.waitForPing(options.gateway ?? "10.0.2.2", { proc });
  return proc;
}
