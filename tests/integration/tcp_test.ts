/**
 * TCP from the namespace through the connection-table Worker (issue 3): bulk data both ways
 * through 10.0.2.2 (the host's 127.0.0.1), many concurrent connections, a test host behind a
 * veth, half-close, close and reset from either side, `--disable-host-loopback`,
 * `--outbound-addr`, and no host socket left behind when the guest dies mid-transfer.
 *
 * Safety: the host-side ends listen on 127.0.0.1 or live in a namespace made here behind a veth
 * (198.51.100.0/24, RFC 5737); the guest only ever connects to those (numeric addresses, no DNS).
 */
import assert from "node:assert/strict";
import { isUpstream } from "../helpers/command.ts";
import { matrix, type Variant } from "../helpers/matrix.ts";
import { createNetns, type Netns } from "../helpers/netns.ts";
import {
  describeResult,
  type Proc,
  run,
  runOk,
  sleep,
  spawn,
  waitFor,
} from "../helpers/process.ts";
import { startConfigured } from "../helpers/slirp.ts";
import { buildTool } from "../helpers/tools.ts";

const TEST_NET_HOST = "198.51.100.1";
const TEST_NET_PEER = "198.51.100.2";

/** Starts a tcp_tool server on the host (as root); resolves with its port once it listens. */
async function hostServer(
  v: Variant,
  args: string[],
  options: { shell?: string } = {},
): Promise<{ proc: Proc; port: number }> {
  const tool = await buildTool("tcp_tool");
  const argv = options.shell === undefined
    ? [tool, ...args]
    : ["sh", "-c", `"$0" "$@" ${options.shell}`, tool, ...args];
  const proc = spawn(argv, { name: `tcp_tool ${args[0]}`, cwd: "/" });
  v.defer(() => proc.stop());
  const line = await proc.waitOutput("stderr", /listening (\d+)/, 10_000);
  return { proc, port: Number(line.split(" ")[1]) };
}

/** Runs a tcp_tool client inside the guest namespace, with the variant's credentials. */
async function guestTool(ns: Netns, args: string[], timeoutMs = 60_000) {
  const tool = await buildTool("tcp_tool");
  return await ns.run([tool, ...args], { timeoutMs });
}

/**
 * Runs `tcp_tool echo-client` in the guest: `conns` concurrent connections to `address:port`,
 * `bytes` each way, each shutting its write side after sending; asserts every byte came back.
 */
async function echoThrough(
  ns: Netns,
  address: string,
  port: number,
  conns: number,
  bytes: number,
): Promise<void> {
  const args = ["echo-client", address, String(port), String(conns), String(bytes)];
  const result = await guestTool(ns, args);
  assert.ok(result.success, describeResult(result));
  assert.equal(result.stdout.trim(), `ok ${conns}`);
}

/** Waits for a server process to exit and returns its stdout. */
async function finished(proc: Proc, timeoutMs = 30_000): Promise<string> {
  const status = await proc.waitExit(timeoutMs);
  assert.ok(status, `still running: ${proc.describe()}`);
  return proc.stdout;
}

/** Lines of `ss` in the host's namespaces for TCP sockets of `pid` on `port` (either end). */
async function socketsOf(pid: number, port: number): Promise<string[]> {
  const result = await runOk(["ss", "-tanpH"]);
  return result.stdout.split("\n").filter((line) =>
    line.includes(`pid=${pid},`) && new RegExp(`:${port}\\s`).test(line + " ")
  );
}

/** Waits until the command under test holds no TCP socket on `port`. */
async function noSocketLeft(proc: Proc, port: number, timeoutMs: number): Promise<void> {
  await waitFor(`no host socket of pid ${proc.pid} on port ${port}`, async () => {
    return (await socketsOf(proc.pid, port)).length === 0;
  }, { timeoutMs, intervalMs: 200, failIf: () => proc.running ? null : proc.describe() });
}

/** A random file of `bytes` bytes in a world-readable directory, and its sha256. */
async function randomFile(v: Variant, bytes: number): Promise<{ path: string; sha256: string }> {
  const path = `${await v.tempDir()}/blob`;
  await runOk(["sh", "-c", `head -c ${bytes} /dev/urandom > "$0" && chmod 644 "$0"`, path]);
  const sum = await runOk(["sha256sum", path]);
  return { path, sha256: sum.stdout.split(" ")[0] };
}

/** tap0's packet counters as the guest's kernel keeps them (/proc/net/dev in its namespace). */
async function tapPackets(ns: Netns): Promise<{ rx: number; tx: number }> {
  const dev = await ns.run(["cat", "/proc/net/dev"]);
  const line = dev.stdout.split("\n").find((l) => l.trim().startsWith("tap0:"));
  assert.ok(line, dev.stdout);
  const fields = line.split(":")[1].trim().split(/\s+/).map(Number);
  return { rx: fields[1], tx: fields[9] };
}

/** A test host in its own namespace behind a veth: 198.51.100.1/24 here, 198.51.100.2/24 there. */
async function testHost(v: Variant): Promise<{ veth: string; run: (argv: string[]) => string[] }> {
  const holder = spawn(["unshare", "--net", "--", "sh", "-c", "echo ready; exec sleep infinity"], {
    name: "test host holder",
    cwd: "/",
  });
  v.defer(() => holder.stop());
  await holder.waitOutput("stdout", "ready", 10_000);
  const veth = `slt${Deno.pid % 1000}${Math.floor(Math.random() * 0xfff).toString(16)}`;
  await runOk([
    "ip",
    "link",
    "add",
    veth,
    "type",
    "veth",
    "peer",
    "name",
    "eth0",
    "netns",
    String(holder.pid),
  ]);
  v.defer(() => run(["ip", "link", "del", veth]));
  await runOk(["ip", "addr", "add", `${TEST_NET_HOST}/24`, "dev", veth]);
  await runOk(["ip", "link", "set", veth, "up"]);
  const enter = (argv: string[]) => ["nsenter", "-n", `--target=${holder.pid}`, "--", ...argv];
  await runOk(
    enter([
      "sh",
      "-c",
      `ip link set lo up && ip addr add ${TEST_NET_PEER}/24 dev eth0 && ip link set eth0 up`,
    ]),
  );
  // The veth needs a moment for DAD-free IPv4 to pass traffic: wait until the peer answers.
  await waitFor("the test host to answer ping", async () => {
    return (await run(["ping", "-n", "-q", "-c", "1", "-W", "1", TEST_NET_PEER])).success;
  }, { timeoutMs: 10_000 });
  return { veth, run: enter };
}

for (const mtu of [1500, 65520]) {
  matrix(
    `TCP: 64 MiB each way through 10.0.2.2 arrive with the same sha256 (MTU ${mtu})`,
    async (v) => {
      const blob = await randomFile(v, 64 << 20);
      const ns = await createNetns(v);
      const proc = await startConfigured(v, ns, { args: [`--mtu=${mtu}`] });
      const before = await tapPackets(ns);

      const sink = await hostServer(v, ["sink-server", "127.0.0.1", "0"], { shell: "| sha256sum" });
      const up = await ns.run(
        ["sh", "-c", `ncat -n --send-only 10.0.2.2 ${sink.port} < "$0"`, blob.path],
        { timeoutMs: 60_000 },
      );
      assert.ok(up.success, describeResult(up));
      assert.equal((await finished(sink.proc)).split(" ")[0], blob.sha256, "guest → host");

      const source = await hostServer(v, ["source-server", "127.0.0.1", "0", blob.path]);
      const down = await ns.run(
        ["sh", "-c", `ncat -n --recv-only 10.0.2.2 ${source.port} | sha256sum`],
        { timeoutMs: 60_000 },
      );
      assert.ok(down.success, describeResult(down));
      assert.equal(down.stdout.split(" ")[0], blob.sha256, "host → guest");
      assert.equal((await finished(source.proc)).trim(), `sent ${64 << 20}`);
      assert.ok(proc.running, proc.describe());
      if (mtu === 1500 && !isUpstream()) {
        // Tap offload: the data crossed in super-frames of many segments each way (the counters
        // count each frame once), not one frame per 1460-byte segment.
        const after = await tapPackets(ns);
        const perSegment = (64 << 20) / 1460;
        assert.ok(after.tx - before.tx < perSegment / 4, `guest → host: ${after.tx - before.tx}`);
        assert.ok(after.rx - before.rx < perSegment / 4, `host → guest: ${after.rx - before.rx}`);
      }
    },
    { timeoutMs: 120_000 },
  );
}

matrix("TCP: 200 concurrent echo connections through 10.0.2.2 all arrive intact", async (v) => {
  const ns = await createNetns(v);
  const proc = await startConfigured(v, ns);
  const echo = await hostServer(v, ["echo-server", "127.0.0.1", "0"]);
  await echoThrough(ns, "10.0.2.2", echo.port, 200, 65536);
  await noSocketLeft(proc, echo.port, 10_000);
}, { timeoutMs: 90_000 });

matrix(
  "TCP: a test host in its own namespace behind a veth (198.51.100.2) is reached",
  async (v) => {
    const host = await testHost(v);
    const ns = await createNetns(v);
    await startConfigured(v, ns);
    const tool = await buildTool("tcp_tool");
    const echo = spawn(host.run([tool, "echo-server", TEST_NET_PEER, "0"]), {
      name: "echo on the test host",
      cwd: "/",
    });
    v.defer(() => echo.stop());
    const port = Number((await echo.waitOutput("stderr", /listening (\d+)/, 10_000)).split(" ")[1]);
    await echoThrough(ns, TEST_NET_PEER, port, 4, 1_000_000);
  },
);

matrix(
  "TCP: half-close from the guest: after its shutdown(SHUT_WR) the host still answers",
  async (v) => {
    const ns = await createNetns(v);
    await startConfigured(v, ns);
    const echo = await hostServer(v, ["echo-server", "127.0.0.1", "0"]);
    // echo-client shuts its write side after sending, then reads the whole echo to EOF.
    await echoThrough(ns, "10.0.2.2", echo.port, 1, 3_000_000);
  },
);

matrix(
  "TCP: half-close from the host: after its shutdown(SHUT_WR) the guest still talks",
  async (v) => {
    const ns = await createNetns(v);
    await startConfigured(v, ns);
    const greet = await hostServer(v, ["greet-server", "127.0.0.1", "0"]);
    const result = await guestTool(ns, ["greet-client", "10.0.2.2", String(greet.port)]);
    assert.ok(result.success, describeResult(result));
    assert.equal(result.stdout, "got: hello from the host\n", "the guest read the greeting to EOF");
    assert.equal(await finished(greet.proc), "got: reply after the host's FIN\n");
  },
);

matrix("TCP: the host closes first, then the guest; nothing is left open", async (v) => {
  const blob = await randomFile(v, 1 << 20);
  const ns = await createNetns(v);
  const proc = await startConfigured(v, ns);
  const source = await hostServer(v, ["source-server", "127.0.0.1", "0", blob.path]);
  const down = await ns.run([
    "sh",
    "-c",
    `ncat -n --recv-only 10.0.2.2 ${source.port} | sha256sum`,
  ]);
  assert.ok(down.success, describeResult(down));
  assert.equal(down.stdout.split(" ")[0], blob.sha256);
  await noSocketLeft(proc, source.port, 10_000);
});

matrix("TCP: the guest closes first, then the host; nothing is left open", async (v) => {
  const blob = await randomFile(v, 1 << 20);
  const ns = await createNetns(v);
  const proc = await startConfigured(v, ns);
  const sink = await hostServer(v, ["sink-server", "127.0.0.1", "0"], { shell: "| sha256sum" });
  const up = await ns.run([
    "sh",
    "-c",
    `ncat -n --send-only 10.0.2.2 ${sink.port} < "$0"`,
    blob.path,
  ]);
  assert.ok(up.success, describeResult(up));
  assert.equal((await finished(sink.proc)).split(" ")[0], blob.sha256);
  await noSocketLeft(proc, sink.port, 10_000);
});

matrix(
  "TCP: a reset from the host reaches the guest, and one from the guest the host",
  async (v) => {
    const ns = await createNetns(v);
    const proc = await startConfigured(v, ns);
    const resetting = await hostServer(v, ["reset-server", "127.0.0.1", "0"]);
    const guestSide = await guestTool(ns, ["read-client", "10.0.2.2", String(resetting.port)]);
    assert.equal(
      guestSide.stdout.trim(),
      "error: Connection reset by peer",
      describeResult(guestSide),
    );

    const reading = await hostServer(v, ["read-server", "127.0.0.1", "0"]);
    const reset = await guestTool(ns, ["reset-client", "10.0.2.2", String(reading.port)]);
    assert.ok(reset.success, describeResult(reset));
    assert.equal((await finished(reading.proc)).trim(), "error: Connection reset by peer");
    await noSocketLeft(proc, reading.port, 10_000);
  },
);

matrix("TCP: a refused port on the host is refused in the guest", async (v) => {
  const ns = await createNetns(v);
  await startConfigured(v, ns);
  // Port 1 on the host's loopback: nothing listens there (tcpmux is long gone).
  const result = await ns.run(["ncat", "-n", "-v", "10.0.2.2", "1"], { stdin: "" });
  assert.match(result.stderr, /Connection refused/, describeResult(result));
});

matrix("TCP: --disable-host-loopback gives 'Network is unreachable' for 10.0.2.2", async (v) => {
  const ns = await createNetns(v);
  await startConfigured(v, ns, { args: ["--disable-host-loopback"] });
  const listener = await hostServer(v, ["peer-server", "127.0.0.1", "0"]);
  const result = await ns.run(["ncat", "-n", "-v", "10.0.2.2", String(listener.port)], {
    stdin: "",
  });
  assert.ok(!result.success, describeResult(result));
  assert.match(result.stderr, /Network is unreachable/, describeResult(result));
  assert.ok(listener.proc.running, "nothing reached the host's loopback");
});

matrix("TCP: --outbound-addr (address or interface) is the source the server sees", async (v) => {
  const host = await testHost(v); // gives the host a non-loopback address to bind to
  const cases: [string, string][] = [
    ["127.0.0.1", "127.0.0.1"],
    [TEST_NET_HOST, TEST_NET_HOST],
    [host.veth, TEST_NET_HOST],
  ];
  for (const [option, expected] of cases) {
    const ns = await createNetns(v);
    const proc = await startConfigured(v, ns, { args: [`--outbound-addr=${option}`] });
    assert.match(proc.stdout, new RegExp(`\\* Outbound IPv4: +${expected.replaceAll(".", "\\.")}`));
    const listener = await hostServer(v, ["peer-server", "127.0.0.1", "0"]);
    const result = await ns.run(["ncat", "-n", "10.0.2.2", String(listener.port)], { stdin: "" });
    assert.ok(result.success, describeResult(result));
    assert.equal(
      (await finished(listener.proc)).trim(),
      `peer ${expected}`,
      `--outbound-addr=${option}`,
    );
    proc.kill();
    await proc.waitExit(10_000);
    await ns.destroy();
  }
}, { timeoutMs: 90_000 });

/** A guest reader of an endless stream from a host server, running once this returns. */
async function startEndlessDownload(v: Variant, ns: Netns, proc: Proc) {
  const source = await hostServer(v, ["source-server", "127.0.0.1", "0", "zero"]);
  const reader = v.spawn(
    ns.enterArgv(["ncat", "-n", "--recv-only", "10.0.2.2", String(source.port)]),
    { name: "guest reader" },
  );
  await waitFor(
    "the transfer to run",
    async () => (await socketsOf(proc.pid, source.port)).length > 0,
    { timeoutMs: 10_000 },
  );
  return { source, reader };
}

matrix("TCP: a guest killed mid-transfer leaves no host socket behind", async (v) => {
  const ns = await createNetns(v);
  const proc = await startConfigured(v, ns);
  const { source, reader } = await startEndlessDownload(v, ns, proc);
  await sleep(500);
  reader.kill("SIGKILL");
  await noSocketLeft(proc, source.port, 10_000);
  assert.match(await finished(source.proc), /^error: /, "the host side saw the connection end");
});

matrix(
  "TCP: a guest that vanishes mid-transfer (link down) frees its host socket after the timeout",
  async (v) => {
    const ns = await createNetns(v);
    const proc = await startConfigured(v, ns);
    const { source, reader } = await startEndlessDownload(v, ns, proc);
    // The guest goes silent: no ACK, no RST, ever again.
    await ns.shOk("ip link set tap0 down");
    reader.kill("SIGKILL");
    // The user timeout (30 s of unacknowledged data) aborts the connection.
    await noSocketLeft(proc, source.port, 45_000);
    assert.match(await finished(source.proc), /^error: /);
    assert.ok(proc.running, proc.describe());
  },
  { timeoutMs: 90_000 },
);
