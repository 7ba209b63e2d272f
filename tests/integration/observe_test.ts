/**
 * Seeing inside the network (issue 14): `--pcap=FILE` opens in `tcpdump -r` with the frames of a
 * known traffic pattern, a full disk stops the capture with one warning while the network goes on,
 * and `get_stats` figures match the pattern (N pings, M DNS queries, K bytes each way through a
 * port forward, an open UDP flow and a held forward connection in the flow list). DNS goes to a
 * dnsmasq the test starts, under a private resolv.conf, in a private host side.
 */
import assert from "node:assert/strict";
import { startDnsServer } from "../helpers/dns.ts";
import { HostSide } from "../helpers/hostside.ts";
import { tcpdumpLines } from "../helpers/capture.ts";
import { matrix, type Variant } from "../helpers/matrix.ts";
import { createNetns } from "../helpers/netns.ts";
import { describeResult, type Proc, run, runOk, spawn, waitFor } from "../helpers/process.ts";
import { buildTool } from "../helpers/tools.ts";

/** A directory the variant's user may create files in. */
async function sharedDir(v: Variant): Promise<string> {
  const dir = await v.tempDir();
  await Deno.chmod(dir, 0o1777);
  return dir;
}

/** One API request (`ncat -U`, as the upstream tests send them); the parsed reply. */
async function api(sock: string, request: unknown): Promise<Record<string, unknown>> {
  const result = await run(["ncat", "-U", sock], { stdin: JSON.stringify(request) });
  assert.ok(result.success, describeResult(result));
  return JSON.parse(result.stdout);
}

// deno-lint-ignore no-explicit-any
type Stats = any;

async function getStats(sock: string, connections = false): Promise<Stats> {
  const reply = await api(sock, {
    execute: "get_stats",
    ...(connections ? { arguments: { connections: true } } : {}),
  });
  assert.ok(reply.return, JSON.stringify(reply));
  return reply.return;
}

/**
 * SIGTERM and the exit: every thread finishes its turn, so a frame written to the tap is in the
 * file too (SIGKILL could land between a tap write and its append).
 */
async function stopGracefully(proc: Proc): Promise<void> {
  proc.kill("SIGTERM");
  assert.ok((await proc.waitExit(10_000)) !== null, proc.describe());
}

const PINGS = 5;
const QUERIES = 3;
const FORWARD_BYTES = 100_000;

matrix(
  "--pcap and get_stats: N pings, M DNS queries, K bytes through a forward, seen in tcpdump -r and in the figures",
  async (v) => {
    const side = await HostSide.create(v);
    const dns = await startDnsServer(v, { "web.test": "198.51.100.10" }, {
      enter: (argv) => side.enter(argv),
      address: "127.0.0.53",
    });
    const dir = await sharedDir(v);
    const pcap = `${dir}/capture.pcap`;
    const sock = `${dir}/api.sock`;
    const guest = await createNetns(v);
    const proc = await side.startConfigured(v, guest, dns.resolvConf, [
      `--pcap=${pcap}`,
      `--api-socket=${sock}`,
    ]);
    const before = await getStats(sock);
    // Unknown arguments get an error object, like any bad request.
    assert.deepEqual(await api(sock, { execute: "get_stats", arguments: { connection: true } }), {
      error: { desc: 'bad request: get_stats: unknown argument: "connection"' },
    });

    const ping = await guest.run(["ping", "-n", "-c", String(PINGS), "-i", "0.2", "10.0.2.2"]);
    assert.match(ping.stdout, new RegExp(`${PINGS} received`), describeResult(ping));
    for (let i = 0; i < QUERIES; i++) {
      const dig = await guest.run([
        "dig",
        "@10.0.2.3",
        "+time=5",
        "+tries=1",
        "+short",
        "web.test",
      ]);
      assert.equal(dig.stdout.trim(), "198.51.100.10", describeResult(dig));
    }
    const tool = await buildTool("tcp_tool");
    const server = spawn([
      "nsenter",
      `--net=${guest.netPath}`,
      "--",
      tool,
      "echo-server",
      "10.0.2.100",
      "8080",
    ], {
      name: "guest echo server",
      cwd: "/",
    });
    v.defer(() => server.stop());
    await server.waitOutput("stderr", /listening (\d+)/, 10_000);
    const added = await api(sock, {
      execute: "add_hostfwd",
      arguments: { proto: "tcp", host_addr: "127.0.0.1", host_port: 18080, guest_port: 8080 },
    });
    assert.deepEqual(added, { return: { id: 1 } });
    const echoed = await side.run(
      [tool, "echo-client", "127.0.0.1", "18080", "1", String(FORWARD_BYTES)],
      { timeoutMs: 30_000 },
    );
    assert.equal(echoed.stdout.trim(), "ok 1", describeResult(echoed));
    // A UDP flow of the NAT (to the host's discard port: nobody answers, the flow stays).
    await guest.shOk("printf 'hello' | socat -u - UDP4-SENDTO:10.0.2.2:9,sourceport=40009");

    const after = await getStats(sock, true);
    const delta = (get: (s: Stats) => number) => get(after) - get(before);
    assert.equal(delta((s) => s.icmp.echo_request), PINGS);
    assert.equal(delta((s) => s.icmp.echo_reply), PINGS);
    assert.equal(delta((s) => s.dns.query), QUERIES);
    assert.equal(delta((s) => s.dns.answer), QUERIES);
    assert.equal(after.nameservers.length, 1, JSON.stringify(after.nameservers));
    const nameserver = after.nameservers[0];
    assert.equal(nameserver.address, "127.0.0.53");
    assert.equal(nameserver.answered, QUERIES);
    assert.equal(nameserver.failures, 0);
    assert.ok(delta((s) => s.link.frames_from_guest) >= 2 * PINGS + QUERIES);
    assert.ok(delta((s) => s.link.bytes_to_guest) >= 2 * FORWARD_BYTES / 2);
    const forward = after.forwards.find((f: Stats) => f.id === 1);
    assert.deepEqual(
      {
        proto: forward.proto,
        host: `${forward.host_addr}:${forward.host_port}`,
        connections: forward.connections,
        bytesFromGuest: forward.bytes_from_guest,
        bytesToGuest: forward.bytes_to_guest,
      },
      {
        proto: "tcp",
        host: "127.0.0.1:18080",
        connections: 1,
        bytesFromGuest: FORWARD_BYTES,
        bytesToGuest: FORWARD_BYTES,
      },
    );
    assert.equal(after.udp.flows, 1);
    const udp = after.connections.filter((f: Stats) => f.protocol === "udp");
    assert.deepEqual(
      udp.map((f: Stats) => [f.direction, f.guest, f.host, f.bytes_from_guest, f.state]),
      [["outbound", "10.0.2.100:40009", "10.0.2.2:9", 5, "open"]],
    );

    // A forward client that stays connected is listed, with its forward's id.
    const held = side.spawn(
      v,
      ["socat", "-u", "TCP:127.0.0.1:18080", "STDOUT"],
      "held client (reads, never sends)",
    );
    const listed = await waitFor("the held forward connection in get_stats", async () => {
      const stats = await getStats(sock, true);
      const flow = stats.connections.find((f: Stats) =>
        f.protocol === "tcp" && f.direction === "forwarded" && f.state === "ESTABLISHED"
      );
      return flow ? { stats, flow } : null;
    }, { timeoutMs: 10_000, failIf: () => held.running ? null : held.describe() });
    assert.equal(listed.flow.forward_id, 1);
    assert.equal(listed.flow.guest, "10.0.2.100:8080");
    assert.match(listed.flow.host, /^10\.0\.2\.2:\d+$/);
    assert.ok(listed.stats.tcp.forwarded.by_state.ESTABLISHED >= 1);
    assert.equal(listed.stats.forwards[0].connections, 2);
    await held.stop();

    await stopGracefully(proc);
    const lines = await tcpdumpLines(pcap);
    const count = (re: RegExp) => lines.filter((line) => re.test(line)).length;
    assert.equal(count(/10\.0\.2\.100 > 10\.0\.2\.2: ICMP echo request/), after.icmp.echo_request);
    assert.equal(count(/10\.0\.2\.2 > 10\.0\.2\.100: ICMP echo reply/), after.icmp.echo_reply);
    assert.equal(count(/> 10\.0\.2\.3\.53: .* A\? web\.test\./), QUERIES);
    assert.equal(count(/^.*10\.0\.2\.3\.53 > 10\.0\.2\.100\.\d+: .* A 198\.51\.100\.10/), QUERIES);
    // The forward's connection: our SYN to the guest, its SYN-ACK (with the MACs each way).
    assert.equal(
      count(/52:55:0a:00:02:02 > .* 10\.0\.2\.2\.\d+ > 10\.0\.2\.100\.8080: Flags \[S\]/),
      2,
    );
    assert.equal(
      count(/> 52:55:0a:00:02:02.* 10\.0\.2\.100\.8080 > 10\.0\.2\.2\.\d+: Flags \[S\.\]/),
      2,
    );
    assert.equal(count(/10\.0\.2\.100\.40009 > 10\.0\.2\.2\.9: UDP, length 5/), 1);
  },
  { timeoutMs: 120_000 },
);

matrix(
  "--pcap on a full disk: one warning, the capture stops whole, the network goes on",
  async (v) => {
    const side = await HostSide.create(v);
    const dir = await sharedDir(v);
    const small = `${dir}/small`;
    await Deno.mkdir(small);
    await runOk(["mount", "-t", "tmpfs", "-o", "size=64k,mode=1777", "tmpfs", small]);
    v.defer(() => runOk(["umount", small]));
    const conf = `${dir}/resolv.conf`;
    await Deno.writeTextFile(
      conf,
      "# private: the guest sends no DNS here\nnameserver 127.0.0.53\n",
    );
    await Deno.chmod(conf, 0o644);
    const pcap = `${small}/capture.pcap`;
    const guest = await createNetns(v);
    const proc = await side.startConfigured(v, guest, conf, [`--pcap=${pcap}`]);
    // 60 exchanges of two 1442-byte frames: far more than 64 KiB.
    const ping = await guest.run([
      "ping",
      "-n",
      "-c",
      "60",
      "-i",
      "0.02",
      "-s",
      "1400",
      "10.0.2.2",
    ]);
    assert.match(ping.stdout, /60 received/, describeResult(ping));
    const after = await guest.run(["ping", "-n", "-c", "2", "-i", "0.2", "10.0.2.2"]);
    assert.match(after.stdout, /2 received/, describeResult(after));
    assert.ok(proc.running, proc.describe());
    const warnings = proc.stderr.split("\n").filter((line) => line.includes("pcap:"));
    assert.equal(warnings.length, 1, proc.stderr);
    assert.match(
      warnings[0],
      /cannot write to .*capture\.pcap: No space left on device; capture stopped/,
    );
    await stopGracefully(proc);
    // Every record is whole: tcpdump reads the file to its end without complaint.
    const lines = await tcpdumpLines(pcap);
    assert.ok(lines.length > 10, lines.join("\n"));
  },
);

matrix("--pcap to a file that cannot be created fails the start with a message", async (v) => {
  const guest = await createNetns(v);
  const result = await v.runCommand([
    "-c",
    "--pcap=/nonexistent-dir/x.pcap",
    String(guest.pid),
    "tap0",
  ]);
  assert.equal(result.code, 1, describeResult(result));
  assert.match(
    result.stderr,
    /pcap: cannot open \/nonexistent-dir\/x\.pcap: No such file or directory/,
  );
});

matrix(
  "--pcap with --enable-sandbox and --enable-seccomp: the file opened before is written from inside",
  async (v) => {
    const side = await HostSide.create(v);
    const dir = await sharedDir(v);
    const conf = `${dir}/resolv.conf`;
    await Deno.writeTextFile(
      conf,
      "# private: the guest sends no DNS here\nnameserver 127.0.0.53\n",
    );
    await Deno.chmod(conf, 0o644);
    const pcap = `${dir}/sandboxed.pcap`;
    const guest = await createNetns(v);
    const proc = await side.startConfigured(v, guest, conf, [
      "--enable-sandbox",
      "--enable-seccomp",
      `--pcap=${pcap}`,
    ]);
    const ping = await guest.run(["ping", "-n", "-c", "3", "-i", "0.2", "10.0.2.2"]);
    assert.match(ping.stdout, /3 received/, describeResult(ping));
    assert.doesNotMatch(proc.stderr, /pcap:/, proc.describe());
    await stopGracefully(proc);
    const lines = await tcpdumpLines(pcap);
    // startConfigured's own pings come first; ours are the last three of each kind.
    const requests = lines.filter((l) => /10\.0\.2\.100 > 10\.0\.2\.2: ICMP echo request/.test(l));
    const replies = lines.filter((l) => /10\.0\.2\.2 > 10\.0\.2\.100: ICMP echo reply/.test(l));
    assert.ok(requests.length >= 3 && replies.length === requests.length, lines.join("\n"));
  },
);
