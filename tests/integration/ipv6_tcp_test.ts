/**
 * TCP over IPv6 (issue 10) in the TCP Worker's relay: with `-c -6` the guest reaches the host's
 * [::1] through [fd00::2] (and any other fd00::/64 address but the DNS), a test host at
 * 2001:db8:1::2 behind a veth, `--disable-host-loopback` refuses the prefix, `--outbound-addr6`
 * binds the host sockets; port forwards through the API with IPv6 `host_addr` and `guest_addr`,
 * TCP and UDP, `0.0.0.0` and `::` forwards of one port side by side.
 *
 * Safety: the command runs in a private host-side namespace (tests/helpers/hostside.ts), so [::1]
 * and the forwards' ports are that namespace's; the only other host is the test host behind a veth
 * (RFC 3849 documentation addresses). The guest sends no DNS, and runs under a private resolv.conf.
 */
import assert from "node:assert/strict";
import { HostSide } from "../helpers/hostside.ts";
import {
  guestAddress6,
  privateResolvConf,
  startIpv6,
  TEST_HOST6,
  TEST_NET6,
} from "../helpers/ipv6.ts";
import { matrix, type Variant } from "../helpers/matrix.ts";
import { createNetns, type Netns } from "../helpers/netns.ts";
import { describeResult, type Proc, run, spawn } from "../helpers/process.ts";
import { assertAllSandboxed } from "../helpers/sandbox.ts";
import { buildTool } from "../helpers/tools.ts";

const MIB = 1 << 20;

/** Where a server runs: the host side, the test host, or the guest. */
interface Where {
  enter(argv: string[]): string[];
}

/** Starts `tcp_tool MODE ADDR 0 …` in `where`; resolves with the process and its port. */
async function server(
  v: Variant,
  where: Where,
  mode: string,
  address: string,
  extra: string[] = [],
): Promise<{ proc: Proc; port: number }> {
  const tool = await buildTool("tcp_tool");
  const proc = spawn(where.enter([tool, mode, address, "0", ...extra]), {
    name: `tcp_tool ${mode} ${address}`,
    cwd: "/",
  });
  v.defer(() => proc.stop());
  const line = await proc.waitOutput("stderr", /listening (\d+)/, 10_000);
  return { proc, port: Number(line.split(" ")[1]) };
}

/** `tcp_tool echo-client` in `where`: `conns` connections of `bytes` each way, all checked. */
async function echoThrough(
  where: Where,
  address: string,
  port: number,
  conns: number,
  bytes: number,
): Promise<void> {
  const tool = await buildTool("tcp_tool");
  const result = await run(
    where.enter([tool, "echo-client", address, String(port), String(conns), String(bytes)]),
    { timeoutMs: 60_000 },
  );
  assert.ok(result.success, describeResult(result));
  assert.equal(result.stdout.trim(), `ok ${conns}`);
}

/** The guest as a place to run things in (its network namespace, the variant's credentials). */
function inGuest(guest: Netns): Where {
  return { enter: (argv) => ["nsenter", `--net=${guest.netPath}`, "--", ...argv] };
}

async function started(v: Variant, args: string[] = []) {
  const side = await HostSide.create(v);
  const guest = await createNetns(v);
  const proc = await startIpv6(v, side, guest, await privateResolvConf(v), args);
  return { side, guest, proc };
}

matrix("IPv6 TCP: 8 MiB each way through [fd00::2] to the host's [::1], intact", async (v) => {
  const { side, guest, proc } = await started(v);
  const echo = await server(v, side, "echo-server", "::1");
  await echoThrough(inGuest(guest), "fd00::2", echo.port, 1, 8 * MIB);
  assert.ok(proc.running, proc.describe());
});

matrix(
  "IPv6 TCP: another fd00::/64 address is the host's [::1] too, never itself",
  async (v) => {
    const { side, guest } = await started(v);
    const echo = await server(v, side, "echo-server", "::1");
    await echoThrough(inGuest(guest), "fd00::1234", echo.port, 2, 64 << 10);
    // The same address on the host side's own interface is not where it goes.
    await side.shOk("ip -6 addr add fd00::4321/128 dev lo nodad");
    const decoy = await server(v, side, "peer-server", "fd00::4321");
    const tool = await buildTool("tcp_tool");
    const result = await guest.run([tool, "read-client", "fd00::4321", String(decoy.port)]);
    assert.ok(!result.success, "the connect must not reach the host's fd00::4321");
    assert.match(result.stderr, /connect: Connection refused/, describeResult(result));
    assert.equal(decoy.proc.stdout, "");
  },
);

matrix("IPv6 TCP reaches a test host at 2001:db8:1::2 behind a veth", async (v) => {
  const { side, guest } = await started(v);
  const host = await side.addTestHost(v, "198.51.100.1/24", "198.51.100.2/24", [], TEST_NET6);
  const echo = await server(v, host, "echo-server", TEST_HOST6);
  await echoThrough(inGuest(guest), TEST_HOST6, echo.port, 3, MIB);
});

matrix("IPv6 TCP: --disable-host-loopback refuses fd00::2 (no route)", async (v) => {
  const { side, guest, proc } = await started(v, ["--disable-host-loopback"]);
  const echo = await server(v, side, "echo-server", "::1");
  const tool = await buildTool("tcp_tool");
  const result = await guest.run([tool, "read-client", "fd00::2", String(echo.port)]);
  assert.ok(!result.success, describeResult(result));
  assert.match(result.stderr, /connect: Network is unreachable/, describeResult(result));
  assert.ok(proc.running, proc.describe());
});

matrix("IPv6 TCP: --outbound-addr6 is the source the test host sees", async (v) => {
  const side = await HostSide.create(v);
  const host = await side.addTestHost(v, "198.51.100.1/24", "198.51.100.2/24", [], TEST_NET6);
  // A second address on the host side of the veth: without the option the kernel would pick
  // 2001:db8:1::1.
  await side.shOk(
    'ip -6 addr add 2001:db8:1::77/64 dev "$(ip -o link show type veth | ' +
      "sed -n 's/^[0-9]*: \\([^@:]*\\).*/\\1/p' | head -n 1)\" nodad",
  );
  const guest = await createNetns(v);
  await startIpv6(v, side, guest, await privateResolvConf(v), [
    "--outbound-addr6=2001:db8:1::77",
  ]);
  const peer = await server(v, host, "peer-server", TEST_HOST6);
  const tool = await buildTool("tcp_tool");
  await guest.run([tool, "read-client", TEST_HOST6, String(peer.port)]);
  await peer.proc.waitExit(10_000);
  assert.equal(peer.proc.stdout.trim(), "peer 2001:db8:1::77");
});

/** Sends one API request with `ncat -U` from the host side; the parsed reply. */
async function api(side: HostSide, sock: string, request: unknown) {
  const result = await run(side.enter(["ncat", "-U", sock]), { stdin: JSON.stringify(request) });
  assert.ok(result.success, describeResult(result));
  return JSON.parse(result.stdout);
}

async function apiSocket(v: Variant): Promise<string> {
  const dir = await v.tempDir();
  await Deno.chmod(dir, 0o1777);
  return `${dir}/api.sock`;
}

matrix(
  "IPv6 port forward: [::1] to the guest's SLAAC address carries 3 concurrent 1 MiB echoes",
  async (v) => {
    const sock = await apiSocket(v);
    const { side, guest } = await started(v, [`--api-socket=${sock}`]);
    const guestServer = await server(v, inGuest(guest), "echo-server", "::");
    const hostPort = 20000 + (Deno.pid % 10000);
    const added = await api(side, sock, {
      execute: "add_hostfwd",
      arguments: {
        proto: "tcp",
        host_addr: "::1",
        host_port: hostPort,
        guest_port: guestServer.port,
      },
    });
    assert.equal(typeof added.return?.id, "number", JSON.stringify(added));
    const listed = await api(side, sock, { execute: "list_hostfwd" });
    assert.deepEqual(listed.entries, [{
      id: added.return.id,
      proto: "tcp",
      host_addr: "::1",
      host_port: hostPort,
      guest_addr: await guestAddress6(guest),
      guest_port: guestServer.port,
    }]);
    await echoThrough(side, "::1", hostPort, 3, MIB);
    // An IPv4 forward of the same port next to the IPv6 one (IPv6 listeners are IPv6-only).
    const v4 = await api(side, sock, {
      execute: "add_hostfwd",
      arguments: {
        proto: "tcp",
        host_addr: "0.0.0.0",
        host_port: hostPort,
        guest_port: guestServer.port,
      },
    });
    assert.equal(typeof v4.return?.id, "number", JSON.stringify(v4));
    await echoThrough(side, "127.0.0.1", hostPort, 1, 64 << 10);
    await echoThrough(side, "::1", hostPort, 1, 64 << 10);
    const removed = await api(side, sock, {
      execute: "remove_hostfwd",
      arguments: { id: added.return.id },
    });
    assert.deepEqual(removed, { return: {} });
  },
);

matrix("IPv6 port forward: UDP from [::1] to the guest and back", async (v) => {
  const sock = await apiSocket(v);
  const { side, guest } = await started(v, [`--api-socket=${sock}`]);
  const echo = spawn(inGuest(guest).enter(["socat", "UDP6-RECVFROM:5353,fork", "EXEC:cat"]), {
    name: "UDP echo in the guest",
    cwd: "/",
  });
  v.defer(() => echo.stop());
  await guest.waitFor("the UDP echo", "ss -lunH | grep -q ':5353 '", { timeoutMs: 10_000 });
  const hostPort = 30000 + (Deno.pid % 10000);
  const added = await api(side, sock, {
    execute: "add_hostfwd",
    arguments: { proto: "udp", host_addr: "::1", host_port: hostPort, guest_port: 5353 },
  });
  assert.equal(typeof added.return?.id, "number", JSON.stringify(added));
  const reply = await run(
    side.enter(["sh", "-c", 'echo hello6 | socat -t 3 -T 1 - "UDP6:[::1]:$0"', String(hostPort)]),
    { timeoutMs: 15_000 },
  );
  assert.equal(reply.stdout.trim(), "hello6", describeResult(reply));
});

matrix(
  "IPv6 port forward without a known guest address or without -6: a clear error",
  async (v) => {
    const sock = await apiSocket(v);
    const side = await HostSide.create(v);
    const guest = await createNetns(v);
    // IPv4 only: an IPv6 guest address is refused with the reason.
    await side.startConfigured(v, guest, await privateResolvConf(v), [`--api-socket=${sock}`]);
    const reply = await api(side, sock, {
      execute: "add_hostfwd",
      arguments: { proto: "tcp", host_addr: "::1", host_port: 18080, guest_port: 80 },
    });
    assert.match(reply.error?.desc ?? "", /bad arguments\.guest_addr: IPv6 is not enabled/);
    // An IPv6 listener to the IPv4 guest works without -6.
    const cross = await api(side, sock, {
      execute: "add_hostfwd",
      arguments: {
        proto: "tcp",
        host_addr: "::1",
        host_port: 18080,
        guest_addr: "10.0.2.100",
        guest_port: 80,
      },
    });
    assert.equal(typeof cross.return?.id, "number", JSON.stringify(cross));
  },
);

matrix(
  "IPv6 inside --enable-sandbox --enable-seccomp: SLAAC, ping fd00::2, 1 MiB each way to [::1], every thread sandboxed",
  async (v) => {
    const { side, guest, proc } = await started(v, ["--enable-sandbox", "--enable-seccomp"]);
    const echo = await server(v, side, "echo-server", "::1");
    await echoThrough(inGuest(guest), "fd00::2", echo.port, 2, MIB);
    await assertAllSandboxed(proc.pid, proc);
    assert.ok(proc.running, proc.describe());
  },
);
