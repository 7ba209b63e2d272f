import assert from "node:assert/strict";
import { deriveAddresses } from "../../config.ts";
import { type IpAddress, IPV6_LOOPBACK, parseIpv6 } from "../../wire/address.ts";
import { HOST_LOOPBACK, type TcpRoute, tcpRoutes } from "./routes.ts";

const ADDRESSES = deriveAddresses(0x0a000200, 24, true);
const NAMESERVERS: IpAddress[] = [0x7f000035, parseIpv6("2001:db8::53")!];
const UNREACHABLE: TcpRoute = { kind: "unreachable" };
const ip6 = (text: string) => parseIpv6(text)!;

function routes(options: { disableHostLoopback?: boolean; disableDns?: boolean; ipv6?: boolean }) {
  return tcpRoutes({
    addresses: deriveAddresses(0x0a000200, 24, options.ipv6 ?? true),
    disableHostLoopback: options.disableHostLoopback ?? false,
    disableDns: options.disableDns ?? false,
    nameservers: () => NAMESERVERS,
  });
}

Deno.test("tcpRoutes(): IPv4 gateway, DNS and other addresses as libslirp", () => {
  const route = routes({});
  assert.deepEqual(route(ADDRESSES.gateway, 80, 0), { kind: "connect", targets: [HOST_LOOPBACK] });
  assert.deepEqual(route(ADDRESSES.dns, 53, 0), { kind: "connect", targets: NAMESERVERS });
  assert.deepEqual(route(ADDRESSES.dns, 80, 0), UNREACHABLE);
  assert.deepEqual(route(0xc6336402, 80, 0), { kind: "connect", targets: [0xc6336402] });
  assert.deepEqual(routes({ disableHostLoopback: true })(ADDRESSES.gateway, 80, 0), UNREACHABLE);
});

Deno.test("tcpRoutes(): the whole fd00::/64 but the DNS is the host's ::1, never itself", () => {
  const route = routes({});
  for (const text of ["fd00::2", "fd00::1", "fd00::100", "fd00::ffff:ffff:ffff:ffff"]) {
    assert.deepEqual(route(ip6(text), 80, 0), { kind: "connect", targets: [IPV6_LOOPBACK] }, text);
  }
  // Just outside the prefix: a real destination.
  assert.deepEqual(route(ip6("fd00:0:0:1::2"), 80, 0), {
    kind: "connect",
    targets: [ip6("fd00:0:0:1::2")],
  });
  assert.deepEqual(route(ip6("2001:db8::2"), 443, 0), {
    kind: "connect",
    targets: [ip6("2001:db8::2")],
  });
});

Deno.test("tcpRoutes(): --disable-host-loopback refuses the whole fd00::/64 but the DNS", () => {
  const route = routes({ disableHostLoopback: true });
  assert.deepEqual(route(ip6("fd00::2"), 80, 0), UNREACHABLE);
  assert.deepEqual(route(ip6("fd00::77"), 80, 0), UNREACHABLE);
  assert.deepEqual(route(ip6("fd00::3"), 53, 0), { kind: "connect", targets: NAMESERVERS });
});

Deno.test("tcpRoutes(): fd00::3 is DNS on port 53 only; with --disable-dns it is ::1 like the rest", () => {
  assert.deepEqual(routes({})(ip6("fd00::3"), 53, 0), { kind: "connect", targets: NAMESERVERS });
  assert.deepEqual(routes({})(ip6("fd00::3"), 54, 0), UNREACHABLE);
  assert.deepEqual(routes({ disableDns: true })(ip6("fd00::3"), 53, 0), {
    kind: "connect",
    targets: [IPV6_LOOPBACK],
  });
});

Deno.test("tcpRoutes(): special IPv6 destinations, and any IPv6 with IPv6 off, are unreachable", () => {
  const route = routes({});
  for (const text of ["::", "::1", "fe80::2", "ff02::1", "::ffff:10.0.2.2"]) {
    assert.deepEqual(route(ip6(text), 80, 0), UNREACHABLE, text);
  }
  assert.deepEqual(routes({ ipv6: false })(ip6("2001:db8::2"), 80, 0), UNREACHABLE);
});
