import { deepStrictEqual } from "node:assert/strict";
import type { Config } from "../config.ts";
import { bannerLines } from "./banner.ts";
import { parseCommandLine } from "./options.ts";

const host = { pathExists: () => true, interfaceIpv4: () => null };

function configOf(...argv: string[]): Config {
  const outcome = parseCommandLine(argv, host);
  if (outcome.kind !== "run") throw new Error(JSON.stringify(outcome));
  return outcome.config;
}

const LOOPBACK_WARNING = (gateway: string) =>
  `WARNING: 127.0.0.1:* on the host is accessible as ${gateway} ` +
  "(set --disable-host-loopback to prohibit connecting to 127.0.0.1:*)";

Deno.test("bannerLines() prints the default network as slirp4netns does", () => {
  deepStrictEqual(bannerLines(configOf("1234", "tap0")), [
    "Starting slirp",
    "* MTU:             1500",
    "* Network:         10.0.2.0",
    "* Netmask:         255.255.255.0",
    "* Gateway:         10.0.2.2",
    "* DNS:             10.0.2.3",
    "* DHCP begin:      10.0.2.15",
    "* DHCP end:        10.0.2.30",
    "* Recommended IP:  10.0.2.100",
    LOOPBACK_WARNING("10.0.2.2"),
  ]);
});

Deno.test("bannerLines() follows --cidr, --mtu and --macaddress", () => {
  deepStrictEqual(
    bannerLines(
      configOf(
        "-c",
        "--mtu=65520",
        "--cidr",
        "10.0.135.128/25",
        "--macaddress",
        "0e:d4:18:d9:38:fb",
        "1",
        "tap11",
      ),
    ),
    [
      "Starting slirp",
      "* MTU:             65520",
      "* Network:         10.0.135.128",
      "* Netmask:         255.255.255.128",
      "* Gateway:         10.0.135.130",
      "* DNS:             10.0.135.131",
      "* DHCP begin:      10.0.135.143",
      "* DHCP end:        10.0.135.158",
      "* Recommended IP:  10.0.135.228",
      "* MAC address:     0e:d4:18:d9:38:fb",
      LOOPBACK_WARNING("10.0.135.130"),
    ],
  );
});

Deno.test("bannerLines() adds the API socket and outbound lines in upstream order", () => {
  const lines = bannerLines(
    configOf(
      "-c",
      "--macaddress=0e:d4",
      "--outbound-addr6=fd00::1",
      "--outbound-addr=10.1.2.3",
      "-a",
      "/run/user/1000/slirp.sock",
      "1",
      "t",
    ),
  );
  deepStrictEqual(lines.slice(9), [
    "* API Socket:      /run/user/1000/slirp.sock",
    "* Outbound IPv4:    10.1.2.3",
    "* Outbound IPv6:    fd00::1",
    // A partial MAC is printed with zeros, as upstream prints its zeroed sockaddr.
    "* MAC address:     0e:d4:00:00:00:00",
    LOOPBACK_WARNING("10.0.2.2"),
  ]);
});

Deno.test("bannerLines() omits the loopback warning with --disable-host-loopback", () => {
  const lines = bannerLines(configOf("--disable-host-loopback", "1", "t"));
  deepStrictEqual(lines.length, 9);
  deepStrictEqual(lines[8], "* Recommended IP:  10.0.2.100");
});
