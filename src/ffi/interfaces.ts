/** Host interface addresses through the shim (native/ifaddr.c), for `--outbound-addr=IFNAME`. */
import { formatIpv4, readIpv4 } from "../wire/address.ts";
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
