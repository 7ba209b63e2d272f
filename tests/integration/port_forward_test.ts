/**
 * Port forwarding through the API socket (issue 5, reference §2): add, use, list, remove; a UDP
 * forward with replies; 1000 concurrent connections through one forward under a memory bound;
 * the source address a server in the namespace sees; every bad request answered with an error
 * while the process keeps serving; the socket removed on SIGTERM and --exit-fd; a path of 108
 * bytes or more refused at start.
 *
 * Safety: the command runs in a private host-side namespace (tests/helpers/hostside.ts), so the
 * forwards' host ports live there, not on the machine; the only other host is a test host behind
 * a veth (198.51.100.2). The guest sends no DNS, and runs under a private resolv.conf anyway.
 */
import assert from "node:assert/strict";
import { HostSide, type PrivateNetns } from "../helpers/hostside.ts";
import { matrix, type Variant } from "../helpers/matrix.ts";
import { createNetns, type Netns } from "../helpers/netns.ts";
import { describeResult, type Proc, run, runOk, spawn, waitFor } from "../helpers/process.ts";
import { startFor } from "../helpers/slirp.ts";
import { buildTool } from "../helpers/tools.ts";

/**
 * The bound on the command's resident memory after 1000 concurrent connections of 64 KiB each
 * way through one forward (measured about 200 MiB: the Deno runtime, three workers and the
 * connections' first queue allocations of 32 KiB each way).
 */
const RSS_BOUND_KIB = 512 * 1024;

/** A running command with an API socket, in a private host side. */
interface Setup {
  side: HostSide;
  guest: Netns;
  proc: Proc;
  sock: string;
}

/** A temporary directory the variant's user may create its socket in. */
async function socketDir(v: Variant): Promise<string> {
  const dir = await v.tempDir();
  await Deno.chmod(dir, 0o1777);
  return dir;
}

async function setup(v: Variant, args: string[] = []): Promise<Setup> {
  const side = await HostSide.create(v);
  const dir = await socketDir(v);
  const conf = `${dir}/resolv.conf`;
  await Deno.writeTextFile(conf, "# private: the guest sends no DNS here\nnameserver 127.0.0.53\n");
  const sock = `${dir}/api.sock`;
  const guest = await createNetns(v);
  const proc = side.startCommand(v, guest, conf, ["-c", "-a", sock, ...args]);
  await guest.waitForLink("tap0", { proc });
  // The socket exists before the ready byte would be written; no guest traffic has happened.
  await waitFor(`the API socket ${sock}`, async () => {
    try {
      return (await Deno.lstat(sock)).isSocket ? true : null;
    } catch {
      return null;
    }
  }, { timeoutMs: 10_000 });
  return { side, guest, proc, sock };
}

/** Sends one request the way the upstream tests do (`ncat -U`) and returns the reply text. */
async function api(sock: string, request: string): Promise<string> {
  const result = await run(["ncat", "-U", sock], { stdin: request });
  assert.ok(result.success, describeResult(result));
  return result.stdout;
}

async function addForward(
  sock: string,
  proto: "tcp" | "udp",
  hostPort: number,
  guestPort: number,
): Promise<number> {
  const reply = JSON.parse(
    await api(
      sock,
      JSON.stringify({
        execute: "add_hostfwd",
        arguments: { proto, host_port: hostPort, guest_port: guestPort },
      }),
    ),
  );
  assert.equal(typeof reply.return?.id, "number", JSON.stringify(reply));
  return reply.return.id;
}

/** Starts a tcp_tool server in the guest namespace on 10.0.2.100:`port`, once it listens. */
async function guestServer(v: Variant, guest: Netns, args: string[]): Promise<Proc> {
  const tool = await buildTool("tcp_tool");
  const proc = spawn(["nsenter", `--net=${guest.netPath}`, "--", tool, ...args], {
    name: `guest tcp_tool ${args[0]}`,
    cwd: "/",
  });
  v.defer(() => proc.stop());
  await proc.waitOutput("stderr", /listening (\d+)/, 10_000);
  return proc;
}

/** Runs tcp_tool echo-client in `where`: `conns` connections of `bytes` each way. */
async function echoClient(
  where: PrivateNetns,
  address: string,
  port: number,
  conns: number,
  bytes: number,
) {
  const tool = await buildTool("tcp_tool");
  return await where.run(
    [tool, "echo-client", address, String(port), String(conns), String(bytes)],
    { timeoutMs: 60_000 },
  );
}

/** The PID of the process listening on TCP `port` in `where` (the command, not its wrapper). */
async function listenerPid(where: PrivateNetns, port: number): Promise<number> {
  const result = await where.run(["ss", "-Hltnp", `sport = :${port}`]);
  const match = result.stdout.match(/pid=(\d+),/);
  assert.ok(match, `nothing listens on ${port}: ${describeResult(result)}`);
  return Number(match[1]);
}

matrix(
  "add_hostfwd right after start (no guest traffic yet), 16 MiB both ways, list, remove, refused",
  async (v) => {
    const { side, guest, sock } = await setup(v);
    await guestServer(v, guest, ["echo-server", "10.0.2.100", "8080"]);
    const id = await addForward(sock, "tcp", 18080, 8080);
    assert.equal(id, 1);

    const echoed = await echoClient(side, "127.0.0.1", 18080, 1, 16 << 20);
    assert.ok(echoed.success, describeResult(echoed));
    assert.equal(echoed.stdout.trim(), "ok 1");

    assert.equal(
      await api(sock, '{"execute":"list_hostfwd"}'),
      '{"entries":[{"id":1,"proto":"tcp","host_addr":"0.0.0.0","host_port":18080,' +
        '"guest_addr":"10.0.2.100","guest_port":8080}]}',
    );
    assert.equal(
      await api(sock, '{"execute":"remove_hostfwd","arguments":{"id":1}}'),
      '{"return":{}}',
    );
    assert.equal(await api(sock, '{"execute":"list_hostfwd"}'), '{"entries":[]}');
    const refused = await echoClient(side, "127.0.0.1", 18080, 1, 16);
    assert.ok(!refused.success, describeResult(refused));
    assert.match(refused.stderr, /refused/i, describeResult(refused));
  },
);

matrix(
  "a UDP forward carries datagrams and the guest's replies (--disable-host-loopback)",
  async (v) => {
    const { side, guest, sock } = await setup(v, ["--disable-host-loopback"]);
    const server = spawn([
      "nsenter",
      `--net=${guest.netPath}`,
      "--",
      "socat",
      "UDP-RECVFROM:5353,bind=10.0.2.100,fork",
      "EXEC:tr a-z A-Z",
    ], { name: "guest UDP upper-caser", cwd: "/" });
    v.defer(() => server.stop());
    await waitFor("the guest's UDP server", async () => {
      const bound = await guest.run(["ss", "-Hlun", "sport = :5353"]);
      return bound.stdout.trim() !== "" ? true : null;
    }, { timeoutMs: 10_000 });
    await addForward(sock, "udp", 15353, 5353);
    // The first datagram may go while the guest's MAC is being asked for (it is then dropped, as
    // libslirp does): send a few, one at a time, until one is answered.
    const answered = await waitFor("a UDP reply through the forward", async () => {
      const result = await side.run(["socat", "-T", "1", "-", "UDP:127.0.0.1:15353"], {
        stdin: "hello forward\n",
        timeoutMs: 5000,
      });
      return result.stdout.includes("HELLO FORWARD") ? result.stdout : null;
    }, { timeoutMs: 15_000 });
    assert.equal(answered.trim(), "HELLO FORWARD");
  },
);

matrix(
  "1000 concurrent connections through one forward, all intact, RSS under the bound",
  async (v) => {
    const { side, guest, sock } = await setup(v);
    await guestServer(v, guest, ["echo-server", "10.0.2.100", "8080"]);
    await addForward(sock, "tcp", 18080, 8080);
    const echoed = await echoClient(side, "127.0.0.1", 18080, 1000, 64 << 10);
    assert.ok(echoed.success, describeResult(echoed));
    assert.equal(echoed.stdout.trim(), "ok 1000");
    const pid = await listenerPid(side, 18080);
    const status = await runOk(["sh", "-c", 'grep VmRSS "/proc/$0/status"', String(pid)]);
    const rss = Number(status.stdout.match(/VmRSS:\s+(\d+) kB/)?.[1]);
    console.log(`RSS after 1000 connections: ${rss} KiB`);
    assert.ok(rss > 0 && rss < RSS_BOUND_KIB, `VmRSS ${rss} kB, bound ${RSS_BOUND_KIB} kB`);
  },
  { timeoutMs: 120_000 },
);

matrix(
  "the guest sees a loopback client as 10.0.2.2 and a test host (198.51.100.2) as itself",
  async (v) => {
    const { side, guest, sock } = await setup(v);
    const testHost = await side.addTestHost(v, "198.51.100.1/24", "198.51.100.2/24");
    const loopbackPeer = await guestServer(v, guest, ["peer-server", "10.0.2.100", "8081"]);
    const remotePeer = await guestServer(v, guest, ["peer-server", "10.0.2.100", "8082"]);
    await addForward(sock, "tcp", 18081, 8081);
    await addForward(sock, "tcp", 18082, 8082);
    await side.run(["socat", "-u", "-", "TCP:127.0.0.1:18081"], { stdin: "" });
    await testHost.run(["socat", "-u", "-", "TCP:198.51.100.1:18082"], { stdin: "" });
    assert.ok(await loopbackPeer.waitExit(10_000), loopbackPeer.describe());
    assert.ok(await remotePeer.waitExit(10_000), remotePeer.describe());
    assert.equal(loopbackPeer.stdout.trim(), "peer 10.0.2.2");
    assert.equal(remotePeer.stdout.trim(), "peer 198.51.100.2");
  },
);

/** Requests and the error each gets (reference §2 and issue 5). */
const BAD_REQUESTS: [string, string][] = [
  ["badjson", "bad request: cannot parse JSON"],
  ['{"unexpectedjson": 42}', "bad request: no execute found"],
  ['{"execute": "bad"}', "bad request: unknown execute"],
  [
    '{"execute": "add_hostfwd", "arguments": {"proto": "bad", "host_addr": "0.0.0.0", "host_port": 8080, "guest_addr": "10.0.2.100", "guest_port": 80}}',
    "bad request: add_hostfwd: bad arguments.proto",
  ],
  ['{"execute":"add_hostfwd","arguments":{"host_port":18090,"guest_port":80}}', "proto"],
  ['{"execute":"add_hostfwd","arguments":{"proto":7,"host_port":18090,"guest_port":80}}', "proto"],
  [
    '{"execute":"add_hostfwd","arguments":{"proto":"tcp","host_port":70000,"guest_port":80}}',
    "host_port",
  ],
  [
    '{"execute":"add_hostfwd","arguments":{"proto":"tcp","host_port":18090.5,"guest_port":80}}',
    "host_port",
  ],
  [
    '{"execute":"add_hostfwd","arguments":{"proto":"tcp","host_port":18090,"guest_port":-5}}',
    "guest_port",
  ],
  [
    // Without -6 an IPv6 listener needs an IPv4 guest_addr: its default would be IPv6.
    '{"execute":"add_hostfwd","arguments":{"proto":"tcp","host_addr":"::","host_port":18090,"guest_port":80}}',
    "guest_addr: IPv6 is not enabled (-6)",
  ],
  [
    '{"execute":"add_hostfwd","arguments":{"proto":"tcp","host_addr":"fe80::1%lo","host_port":18090,"guest_port":80}}',
    "host_addr",
  ],
  ['{"execute":"remove_hostfwd","arguments":{"id":99}}', "bad arguments.id"],
];

matrix("every bad request gets an error object and the process keeps serving", async (v) => {
  const { sock, proc } = await setup(v);
  for (const [request, error] of BAD_REQUESTS) {
    // The upstream test's way: ncat -U, then jq.
    const result = await run([
      "sh",
      "-c",
      'echo "$1" | ncat -U "$0" | jq -r .error.desc',
      sock,
      request,
    ]);
    assert.ok(result.success, describeResult(result));
    assert.ok(result.stdout.includes(error), `${request}: ${describeResult(result)}`);
  }
  const large = await run(["sh", "-c", 'head -c 65536 /dev/zero | ncat -U "$0"', sock]);
  assert.ok(
    large.stdout.includes("bad request: too large message") || !large.success,
    describeResult(large),
  );
  // A duplicate host port says why.
  await addForward(sock, "tcp", 18090, 80);
  const duplicate = JSON.parse(
    await api(
      sock,
      '{"execute":"add_hostfwd","arguments":{"proto":"tcp","host_port":18090,"guest_port":81}}',
    ),
  );
  assert.match(duplicate.error?.desc ?? "", /in use/i, JSON.stringify(duplicate));
  // The upstream test's good path: add id 1 (here 2), list it, remove it.
  assert.equal(
    await api(sock, '{"execute":"remove_hostfwd","arguments":{"id":1}}'),
    '{"return":{}}',
  );
  const added = await addForward(sock, "tcp", 8080, 80);
  assert.equal(added, 2);
  const list = JSON.parse(await api(sock, '{"execute":"list_hostfwd"}'));
  assert.deepEqual(list.entries, [{
    id: 2,
    proto: "tcp",
    host_addr: "0.0.0.0",
    host_port: 8080,
    guest_addr: "10.0.2.100",
    guest_port: 80,
  }]);
  assert.ok(proc.running, proc.describe());
});

matrix("the API socket is removed on SIGTERM and on --exit-fd", async (v) => {
  const dir = await socketDir(v);
  const first = `${dir}/term.sock`;
  const ns = await createNetns(v);
  const byTerm = startFor(v, ns, { args: ["-a", first] });
  await waitFor("the socket", async () => (await exists(first)) ? true : null, {
    timeoutMs: 10_000,
  });
  byTerm.kill("SIGTERM");
  const termStatus = await byTerm.waitExit(10_000);
  assert.ok(termStatus, byTerm.describe());
  assert.equal(termStatus.code, 0, byTerm.describe());
  assert.equal(await exists(first), false);

  const second = `${dir}/exitfd.sock`;
  const ns2 = await createNetns(v);
  const byFd = startFor(v, ns2, {
    args: ["-a", second, "-e", "10"],
    tap: "tap1",
    fds: { 10: { kind: "pipe" } },
  });
  await waitFor("the socket", async () => (await exists(second)) ? true : null, {
    timeoutMs: 10_000,
  });
  await byFd.closePipe();
  const fdStatus = await byFd.waitExit(10_000);
  assert.ok(fdStatus, byFd.describe());
  assert.equal(fdStatus.code, 0, byFd.describe());
  assert.equal(await exists(second), false);
});

matrix("an API socket path of 108 bytes or more exits non-zero", async (v) => {
  const dir = await v.tempDir();
  const path = `${dir}/slirp4netns-TOO-LONG-${"A".repeat(120)}.sock`;
  const ns = await createNetns(v);
  const proc = startFor(v, ns, { args: ["-c", "--api-socket", path] });
  const status = await proc.waitExit(20_000);
  assert.ok(status, proc.describe());
  assert.notEqual(status.code, 0, proc.describe());
  assert.match(proc.stderr, /too long/, proc.describe());
});

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch {
    return false;
  }
}
