/**
 * IPv6 through the UDP and ICMP echo NAT and the DNS forwarder (issue 10; IPv6 contract): with
 * `-6` the guest autoconfigures an address in fd00::/64 from our router advertisements, then
 * `dig @fd00::3` is answered from the host's IPv4-only resolv.conf, UDP to [fd00::2] reaches the
 * host's [::1] (refused with --disable-host-loopback), UDP and ping reach a test host at
 * 2001:db8:1::2 behind a veth, ICMPv6 errors make a closed port fail at once, and
 * --outbound-addr6 binds the sockets. The command runs in a private host-side namespace under a
 * private resolv.conf, as the IPv4 tests do.
 */
import assert from "node:assert/strict";
import { parseIpv6 } from "../../src/wire/address.ts";
import { startDnsServer } from "../helpers/dns.ts";
import { ALL_GROUPS, HostSide } from "../helpers/hostside.ts";
import { matrix } from "../helpers/matrix.ts";
import { createNetns, type Netns } from "../helpers/netns.ts";
import { waitFor } from "../helpers/process.ts";
import { privateResolvConf, startIpv6, TEST_HOST6, TEST_NET6 } from "../helpers/ipv6.ts";

/** A UDP echo server (socat) on `[address]:port`. */
const echo6 = (address: string, port: number) => [
  "socat",
  `UDP6-RECVFROM:${port},bind=[${address}],fork`,
  "EXEC:cat",
];

const UDP_7777 = { protocol: "udp", port: 7777 } as const;

/** Sends "$2" to UDP6 "$1" ([address]:port) and prints the reply (see udp_test.ts for -t/-T). */
const SEND6 = 'echo "$2" | socat -t 3 -T 1 - "UDP6:$1"';
/** Sends N random bytes to UDP6 "$1" and checks that the same bytes come back. */
const ROUND_TRIP6 = `f=$(mktemp) && head -c "$2" /dev/urandom > "$f" &&
  socat -t 3 -T 1 -b 65535 - "UDP6:$1" < "$f" | cmp - "$f"; status=$?; rm -f "$f"; exit $status`;

/** The guest's count of received ICMPv6 destination unreachable messages. */
async function icmp6Unreachables(guest: Netns): Promise<number> {
  const snmp6 = (await guest.shOk("cat /proc/net/snmp6")).stdout;
  const match = snmp6.match(/^Icmp6InDestUnreachs\s+(\d+)$/m);
  assert.ok(match, snmp6);
  return Number(match[1]);
}

matrix(
  "IPv6: dig @fd00::3 answers A and AAAA (UDP and TCP) from a resolv.conf that lists only an IPv4 nameserver",
  async (v) => {
    const side = await HostSide.create(v);
    await startDnsServer(
      v,
      { "web.test": "198.51.100.10", "v6.test": "2001:db8::10" },
      { enter: (argv) => side.enter(argv), address: "127.0.0.53", extraArgs: ["--local=/test/"] },
    );
    const guest = await createNetns(v);
    const proc = await startIpv6(v, side, guest, await privateResolvConf(v));
    const dig = async (args: string[]) =>
      (await guest.run(["dig", "@fd00::3", "+time=5", "+tries=1", ...args], {
        timeoutMs: 20_000,
      })).stdout;
    assert.equal((await dig(["+short", "AAAA", "v6.test"])).trim(), "2001:db8::10");
    assert.equal((await dig(["+short", "web.test"])).trim(), "198.51.100.10");
    // DNS over TCP to fd00::3:53 goes through the TCP relay to the same nameserver.
    assert.equal((await dig(["+tcp", "+short", "AAAA", "v6.test"])).trim(), "2001:db8::10");
    assert.equal((await dig(["+tcp", "+short", "web.test"])).trim(), "198.51.100.10");
    assert.match(await dig(["nx.test"]), /status: NXDOMAIN/);
    assert.ok(proc.running, proc.describe());
  },
);

matrix(
  "IPv6 UDP: [fd00::2] reaches the host's [::1], a test host answers, 5000-byte datagrams too",
  async (v) => {
    const side = await HostSide.create(v);
    const host = await side.addTestHost(v, "198.51.100.1/24", "198.51.100.2/24", [], TEST_NET6);
    await side.spawnServer(v, echo6("::1", 7777), "echo on the host's ::1", UDP_7777);
    await host.spawnServer(v, echo6(TEST_HOST6, 7777), "echo on the test host", UDP_7777);
    const guest = await createNetns(v);
    const proc = await startIpv6(v, side, guest, await privateResolvConf(v));

    const viaGateway = await guest.shOk(SEND6, ["[fd00::2]:7777", "hello ::1"]);
    assert.equal(viaGateway.stdout.trim(), "hello ::1");
    const toHost = await guest.shOk(SEND6, [`[${TEST_HOST6}]:7777`, "hello test host"]);
    assert.equal(toHost.stdout.trim(), "hello test host");
    // Above the MTU of 1500: the guest fragments, the dispatcher reassembles; the reply is
    // fragmented by us (RFC 8200 §4.5).
    await guest.shOk(ROUND_TRIP6, ["[fd00::2]:7777", "5000"]);
    await guest.shOk(ROUND_TRIP6, [`[${TEST_HOST6}]:7777`, "5000"]);
    assert.ok(proc.running, proc.describe());
  },
);

matrix(
  "IPv6 UDP to a closed port fails at once: ICMPv6 port unreachable reaches the guest",
  async (v) => {
    const side = await HostSide.create(v);
    await side.addTestHost(v, "198.51.100.1/24", "198.51.100.2/24", [], TEST_NET6);
    const guest = await createNetns(v);
    await startIpv6(v, side, guest, await privateResolvConf(v));
    for (const target of ["fd00::2", TEST_HOST6]) {
      const started = performance.now();
      const result = await guest.run(["dig", `@${target}`, "-p", "9", "+time=5", "+tries=1", "x"]);
      const ms = performance.now() - started;
      assert.match(result.stdout + result.stderr, /connection refused/, result.stdout);
      assert.ok(ms < 2000, `${target}: took ${ms} ms`);
    }
  },
);

matrix(
  "IPv6 --disable-host-loopback: UDP to [fd00::2] is refused with ICMPv6, other hosts still work",
  async (v) => {
    const side = await HostSide.create(v);
    const host = await side.addTestHost(v, "198.51.100.1/24", "198.51.100.2/24", [], TEST_NET6);
    await side.spawnServer(v, echo6("::1", 7777), "echo on the host's ::1", UDP_7777);
    await host.spawnServer(v, echo6(TEST_HOST6, 7777), "echo on the test host", UDP_7777);
    const guest = await createNetns(v);
    await startIpv6(v, side, guest, await privateResolvConf(v), ["--disable-host-loopback"]);
    const before = await icmp6Unreachables(guest);
    const refused = await guest.sh(SEND6, ["[fd00::2]:7777", "hello"]);
    assert.equal(refused.stdout.trim(), "", "the host's ::1 answered");
    assert.equal(await icmp6Unreachables(guest), before + 1);
    const toHost = await guest.shOk(SEND6, [`[${TEST_HOST6}]:7777`, "still works"]);
    assert.equal(toHost.stdout.trim(), "still works");
  },
);

matrix(
  "IPv6 ping to a test host through ICMPv6 ping sockets, ping -s 4000 (fragmented) too",
  async (v) => {
    const side = await HostSide.create(v, { pingGroupRange: ALL_GROUPS });
    await side.addTestHost(v, "198.51.100.1/24", "198.51.100.2/24", [], TEST_NET6);
    const guest = await createNetns(v);
    const proc = await startIpv6(v, side, guest, await privateResolvConf(v));
    const ping = (args: string[]) =>
      guest.run(["ping", "-6", "-n", "-c", "3", "-i", "0.2", "-W", "2", ...args, TEST_HOST6]);
    const plain = await ping([]);
    assert.match(plain.stdout, /3 received/, plain.stdout + plain.stderr);
    // ping counts only replies with its own identifier and a sequence it sent.
    for (const seq of [1, 2, 3]) assert.match(plain.stdout, new RegExp(`icmp_seq=${seq} `));
    assert.doesNotMatch(plain.stdout, /DUP!/);
    const big = await ping(["-s", "4000"]);
    assert.match(big.stdout, /3 received/, big.stdout + big.stderr);
    assert.match(big.stdout, /4008 bytes from/);
    assert.doesNotMatch(proc.stderr, /ping_group_range/);
  },
);

matrix(
  "--outbound-addr6=IFNAME: IPv6 UDP leaves from that interface's address",
  async (v) => {
    const side = await HostSide.create(v);
    const host = await side.addTestHost(v, "198.51.100.1/24", "198.51.100.2/24", [], TEST_NET6);
    // A global address on lo, routed back by the test host's default route. The kernel lists
    // an interface's addresses widest scope first, so it comes before ::1.
    await side.shOk("ip -6 addr add 2001:db8:2::3/128 dev lo nodad");
    await host.spawnServer(
      v,
      ["socat", `UDP6-RECVFROM:7777,bind=[${TEST_HOST6}],fork`, "SYSTEM:echo $SOCAT_PEERADDR"],
      "peer address echo",
      UDP_7777,
    );
    const guest = await createNetns(v);
    const proc = await startIpv6(v, side, guest, await privateResolvConf(v), [
      "--outbound-addr6=lo",
    ]);
    assert.match(proc.stdout, /^\* Outbound IPv6: {4}2001:db8:2::3$/m);
    // One datagram each way without retransmission: ask up to a few times (see udp_test.ts).
    const peer = await waitFor("a reply from the test host", async () => {
      const reply = await guest.sh(SEND6, [`[${TEST_HOST6}]:7777`, "who am i"]);
      return reply.stdout.trim() || null;
    }, { timeoutMs: 30_000 });
    // socat prints the address in full, in brackets.
    assert.equal(parseIpv6(peer.replace(/^\[|\]$/g, "")), parseIpv6("2001:db8:2::3"), peer);
  },
);
