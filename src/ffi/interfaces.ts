/**
 * Host interface addresses through the shim (native/ifaddr.c), for `--outbound-addr=IFNAME` and
 * `--outbound-addr6=IFNAME`.
 */
import { formatIpv4, formatIpv6, readIpv4, readIpv6 } from "../wire/address.ts";
import { cString, type Shim } from "./shim.ts";

/**
 * The first IPv4 address of interface `name`, in getifaddrs(3) order (as slirp4netns takes it),
 * as dotted-quad text; null when the interface does not exist or has no IPv4 address.
 *
 * @example
 * ```ts
 * import { loadShim } from "./shim.ts";
 * import { interfaceIpv4 } from "./interfaces.ts";
 * interfaceIpv4(await loadShim(), "lo"); // "127.0.0.1"
 * ```
 */
export function interfaceIpv4(shim: Shim, name: string): string | null {
  const out = new Uint8Array(4);
  if (shim.shim_interface_ipv4(cString(name), out) < 0) return null;
  return formatIpv4(readIpv4(out, 0));
}

/**
 * The first IPv6 address of interface `name` that is not link-local, in getifaddrs(3) order (the
 * kernel lists widest scope first), as text; null when the interface does not exist or has none.
 * A link-local address is skipped: binding one needs a scope id, and it cannot reach the hosts
 * `--outbound-addr6` is for.
 *
 * @example
 * ```ts
 * import { loadShim } from "./shim.ts";
 * import { interfaceIpv6 } from "./interfaces.ts";
 * interfaceIpv6(await loadShim(), "lo"); // "::1" (where IPv6 is enabled)
 * ```
 */
export function interfaceIpv6(shim: Shim, name: string): string | null {
  const out = new Uint8Array(16);
  if (shim.shim_interface_ipv6(cString(name), out) < 0) return null;
  return formatIpv6(readIpv6(out, 0));
}
