/**
 * The start-up banner slirp4netns prints on stdout once it holds the tap fd (reference §1.4):
 * column-aligned `* Key:` lines, optional lines only for options that were given, and the
 * host-loopback warning. The IPv6 settings are not printed, as upstream.
 */
import type { Config } from "../config.ts";
import { deriveAddresses } from "../config.ts";
import { formatIpv4, formatIpv6, formatMac } from "../wire/address.ts";

/**
 * The banner lines, without newlines, for one configuration.
 *
 * @example
 * ```ts
 * import { bannerLines } from "./banner.ts";
 * import { DEFAULTS } from "../config.ts";
 * const lines = bannerLines({ ...DEFAULTS, target: { kind: "pid", pid: 1, tapName: "tap0" } });
 * // lines[0] === "Starting slirp", lines[1] === "* MTU:             1500"
 * ```
 */
export function bannerLines(config: Config): string[] {
  const a = deriveAddresses(config.network, config.prefix);
  const lines = [
    "Starting slirp",
    `* MTU:             ${config.mtu}`,
    `* Network:         ${formatIpv4(a.network)}`,
    `* Netmask:         ${formatIpv4(a.netmask)}`,
    `* Gateway:         ${formatIpv4(a.gateway)}`,
    `* DNS:             ${formatIpv4(a.dns)}`,
    `* DHCP begin:      ${formatIpv4(a.dhcpStart)}`,
    `* DHCP end:        ${formatIpv4(a.dhcpEnd)}`,
    `* Recommended IP:  ${formatIpv4(a.guest)}`,
  ];
  if (config.apiSocket !== undefined) lines.push(`* API Socket:      ${config.apiSocket}`);
  // Upstream aligns these two with one more space than the others; kept as is.
  if (config.outboundAddr !== undefined) lines.push(`* Outbound IPv4:    ${config.outboundAddr}`);
  if (config.outboundAddr6 !== undefined) {
    lines.push(`* Outbound IPv6:    ${formatIpv6(config.outboundAddr6)}`);
  }
  if (config.macAddress !== undefined && config.macAddress.length > 0) {
    // A partial MAC ("0e:d4") is printed as six bytes, the missing ones zero, as upstream does.
    const mac = new Uint8Array(6);
    mac.set(config.macAddress.subarray(0, 6));
    lines.push(`* MAC address:     ${formatMac(mac)}`);
  }
  if (!config.disableHostLoopback) {
    lines.push(
      `WARNING: 127.0.0.1:* on the host is accessible as ${formatIpv4(a.gateway)} ` +
        "(set --disable-host-loopback to prohibit connecting to 127.0.0.1:*)",
    );
  }
  return lines;
}
