/**
 * The DNS forwarder behind 10.0.2.3 (reference §4.5; issue 4): answers come from the host's
 * nameservers in resolv.conf order, with failover, and follow edits of the file; `--disable-dns`
 * makes 10.0.2.3 an ordinary NAT destination. Every test runs the command in a private host-side
 * namespace under a private resolv.conf naming dnsmasq instances the test started there, so no
 * query can reach the machine's own resolver.
 */
import assert from "node:assert/strict";
import { startDnsServer } from "../helpers/dns.ts";
import { HostSide } from "../helpers/hostside.ts";
import { matrix, type Variant } from "../helpers/matrix.ts";
import { createNetns, type Netns } from "../helpers/netns.ts";
import { describeResult } from "../helpers/process.ts";
import { buildTool } from "../helpers/tools.ts";

/** A world-readable resolv.conf with `text`, rewritten in place by `set` (same inode). */
async function resolvConf(v: Variant, text: string) {
  const path = `${await v.tempDir()}/resolv.conf`;
  await Deno.writeTextFile(path, text);
  await Deno.chmod(path, 0o644);
  return { path, set: (next: string) => Deno.writeTextFile(path, next) };
}

/** `dig @10.0.2.3 ARGS` in the guest: its stdout, and how long it took. */
async function dig(guest: Netns, args: string[]): Promise<{ out: string; ms: number }> {
  const started = performance.now();
  const result = await guest.run(["dig", "@10.0.2.3", "+time=5", "+tries=1", ...args], {
    timeoutMs: 20_000,
  });
  return { out: result.stdout + result.stderr, ms: performance.now() - started };
}

/** The resolver's look at the file is at most a second old (libslirp's rule). */
const RESOLV_RECHECK_WAIT_MS = 1500;

matrix(
  "DNS via 10.0.2.3: A, AAAA and NXDOMAIN from the host's resolver, 500 queries in a burst",
  async (v) => {
    const side = await HostSide.create(v);
    await startDnsServer(
      v,
      { "web.test": "198.51.100.10", "v6.test": "2001:db8::10" },
      { enter: (argv) => side.enter(argv), address: "127.0.0.53", extraArgs: ["--local=/test/"] },
    );
    const conf = await resolvConf(v, "# private\nnameserver 127.0.0.53\n");
    const guest = await createNetns(v);
    const proc = await side.startConfigured(v, guest, conf.path);

    assert.equal((await dig(guest, ["+short", "web.test"])).out.trim(), "198.51.100.10");
    assert.equal((await dig(guest, ["+short", "AAAA", "v6.test"])).out.trim(), "2001:db8::10");
    const nx = await dig(guest, ["nx.test"]);
    assert.match(nx.out, /status: NXDOMAIN/, nx.out);

    const burst = await guest.run([
      await buildTool("dns_burst"),
      "10.0.2.3",
      "500",
      "web.test",
      "10000",
    ], {
      timeoutMs: 20_000,
    });
    assert.ok(burst.success, `${describeResult(burst)}\n${proc.describe()}`);
    assert.match(burst.stdout, /^sent 500 answered 500 rcode0 500 /m, burst.stdout);
    console.log(`burst of 500 through 10.0.2.3: ${burst.stdout.trim()}`);
    assert.ok(proc.running, proc.describe());
  },
);

matrix(
  "DNS failover: a refusing and a silent first nameserver, resolv.conf edits, an IPv6 nameserver",
  async (v) => {
    const side = await HostSide.create(v);
    const enter = (argv: string[]) => side.enter(argv);
    await startDnsServer(v, { "web.test": "198.51.100.10" }, { enter, address: "127.0.0.53" });
    await startDnsServer(v, { "web.test": "198.51.100.20" }, { enter, address: "127.0.0.55" });
    // 127.0.0.54 takes queries and never answers.
    await side.spawnServer(
      v,
      ["socat", "-u", "UDP4-RECV:53,bind=127.0.0.54", "/dev/null"],
      "silent DNS",
      { protocol: "udp", port: 53 },
    );
    // Nothing listens on 127.0.0.52: ICMP port unreachable, ECONNREFUSED on the upstream socket.
    const conf = await resolvConf(v, "nameserver 127.0.0.52\nnameserver 127.0.0.53\n");
    const guest = await createNetns(v);
    await side.startConfigured(v, guest, conf.path);

    const refused = await dig(guest, ["+short", "web.test"]);
    assert.equal(refused.out.trim(), "198.51.100.10");
    assert.ok(refused.ms < 1000, `failover after a refusal took ${refused.ms} ms`);

    await conf.set("nameserver 127.0.0.54\nnameserver 127.0.0.53\n");
    await new Promise((resolve) => setTimeout(resolve, RESOLV_RECHECK_WAIT_MS));
    const silent = await dig(guest, ["+short", "web.test"]);
    assert.equal(silent.out.trim(), "198.51.100.10");
    assert.ok(silent.ms >= 1500 && silent.ms < 4500, `failover after a timeout: ${silent.ms} ms`);
    // The silent server is now tried last: no wait.
    const again = await dig(guest, ["+short", "web.test"]);
    assert.equal(again.out.trim(), "198.51.100.10");
    assert.ok(again.ms < 1000, `second query after the timeout took ${again.ms} ms`);

    await conf.set("nameserver 127.0.0.55\n");
    await new Promise((resolve) => setTimeout(resolve, RESOLV_RECHECK_WAIT_MS));
    assert.equal((await dig(guest, ["+short", "web.test"])).out.trim(), "198.51.100.20");

    // An IPv6 nameserver (slirp4netns takes only IPv4 ones for 10.0.2.3).
    await startDnsServer(v, { "web.test": "198.51.100.30" }, { enter, address: "::1" });
    await conf.set("nameserver ::1\n");
    await new Promise((resolve) => setTimeout(resolve, RESOLV_RECHECK_WAIT_MS));
    assert.equal((await dig(guest, ["+short", "web.test"])).out.trim(), "198.51.100.30");
  },
);

matrix(
  "--disable-dns: 10.0.2.3 is NAT-ed like any address (a test host there answers, not the resolver)",
  async (v) => {
    const side = await HostSide.create(v);
    // The "real" 10.0.2.3 is a test host in its own namespace, routed from the host side.
    const host = await side.addTestHost(v, "198.51.100.1/24", "198.51.100.2/24", ["10.0.2.3/32"]);
    await startDnsServer(v, { "web.test": "198.51.100.33" }, {
      enter: (argv) => host.enter(argv),
      address: "10.0.2.3",
    });
    await startDnsServer(v, { "web.test": "198.51.100.10" }, {
      enter: (argv) => side.enter(argv),
      address: "127.0.0.53",
    });
    const conf = await resolvConf(v, "nameserver 127.0.0.53\n");
    const guest = await createNetns(v);
    const proc = await side.startConfigured(v, guest, conf.path, ["--disable-dns"]);
    assert.doesNotMatch(proc.stderr, /not supported/);
    assert.equal((await dig(guest, ["+short", "web.test"])).out.trim(), "198.51.100.33");
    // Ping to 10.0.2.3 is still answered by the stack itself (slirp4netns does the same).
    await guest.waitForPing("10.0.2.3", { proc });
  },
);

matrix(
  "a resolver on 127.0.0.x still answers through 10.0.2.3 with --disable-host-loopback",
  async (v) => {
    const side = await HostSide.create(v);
    await startDnsServer(v, { "web.test": "198.51.100.10" }, {
      enter: (argv) => side.enter(argv),
      address: "127.0.0.53",
    });
    const conf = await resolvConf(v, "nameserver 127.0.0.53\n");
    const guest = await createNetns(v);
    await side.startConfigured(v, guest, conf.path, ["--disable-host-loopback"]);
    assert.equal((await dig(guest, ["+short", "web.test"])).out.trim(), "198.51.100.10");
  },
);

matrix(
  "DNS over TCP via 10.0.2.3 (dig +tcp), relayed by the TCP engine to the host's resolver",
  async (v) => {
    const side = await HostSide.create(v);
    await startDnsServer(v, { "web.test": "198.51.100.10" }, {
      enter: (argv) => side.enter(argv),
      address: "127.0.0.53",
    });
    const conf = await resolvConf(v, "nameserver 127.0.0.53\n");
    const guest = await createNetns(v);
    await side.startConfigured(v, guest, conf.path);
    assert.equal((await dig(guest, ["+tcp", "+short", "web.test"])).out.trim(), "198.51.100.10");
  },
);
