/**
 * `--target-type=bess SOCKETPATH` (reference §1.2, §4.1 step 7): the link is one client of an
 * AF_UNIX SOCK_SEQPACKET socket, one Ethernet frame per packet. tests/tools/bess_client.c plays
 * the User-Mode Linux guest: ARP for the gateway, DHCPDISCOVER, ping of the gateway, all answered
 * by the emulated hosts (nothing leaves the machine), then it hangs up and the command must end
 * with exit 0. Also: a client that hangs up right after its frames (an empty packet first) has
 * every frame read, a stop signal while nobody has connected yet, and the sandbox's handoff.
 */
import assert from "node:assert/strict";
import { matrix, type Variant } from "../helpers/matrix.ts";
import { tcpdumpLines } from "../helpers/capture.ts";
import { describeResult, type Proc } from "../helpers/process.ts";
import { buildTool } from "../helpers/tools.ts";

/**
 * A temporary directory the variant's user may create its sockets in, and remove a file of the
 * test's own from (no sticky bit).
 */
async function socketDir(v: Variant): Promise<string> {
  const dir = await v.tempDir();
  await Deno.chmod(dir, 0o777);
  return dir;
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

/** Runs the client against `sock` as the variant's user and checks its three answers. */
async function talk(v: Variant, sock: string, proc: Proc): Promise<void> {
  const client = await buildTool("bess_client");
  const out = await v.run([client, sock, "10.0.2.2"], { timeoutMs: 40_000 });
  const why = `${describeResult(out)}\n${proc.describe()}`;
  assert.equal(out.code, 0, why);
  assert.match(out.stdout, /^arp 10\.0\.2\.2 is-at ([0-9a-f]{2}:){5}[0-9a-f]{2}$/m, why);
  assert.match(out.stdout, /^dhcp offer 10\.0\.2\.15$/m, why);
  assert.match(out.stdout, /^icmp echo reply from 10\.0\.2\.2 id 4660 seq 1$/m, why);
}

/** The client hung up: the command ends by itself with exit 0. */
async function assertEndsCleanly(proc: Proc): Promise<void> {
  const status = await proc.waitExit(30_000);
  assert.ok(status !== null, `still running after the client hung up: ${proc.describe()}`);
  assert.equal(status.code, 0, proc.describe());
}

matrix(
  "--target-type=bess: ARP, DHCP and ping over one SEQPACKET client, exit 0 on hang-up",
  async (v) => {
    const dir = await socketDir(v);
    const sock = `${dir}/bess.sock`;
    const apiSock = `${dir}/api.sock`;
    // A stale socket file at the path is replaced, as slirp4netns unlinks it first.
    const stale = await v.run([await buildTool("bess_client"), "--stale", sock]);
    assert.equal(stale.code, 0, describeResult(stale));
    assert.equal(await exists(sock), true, "the stale socket is there");
    const proc = v.start(["--target-type=bess", "-a", apiSock, sock]);
    await proc.waitOutput("stderr", `Waiting for connection to ${sock}\n`, 30_000);
    await talk(v, sock, proc);
    await assertEndsCleanly(proc);

    assert.match(
      proc.stdout,
      /^WARNING: BESS mode is experimental\nStarting slirp\n/,
      proc.describe(),
    );
    assert.match(proc.stdout, /^\* Recommended IP: {2}10\.0\.2\.100$/m, proc.describe());
    assert.match(
      proc.stderr,
      new RegExp(
        `^sent "tapfd"=(\\d+) \\(not really TAP\\) for ${sock}\\nreceived tapfd=\\1$`,
        "m",
      ),
      proc.describe(),
    );
    assert.equal(await exists(apiSock), false, "the API socket is removed on exit");
  },
  { timeoutMs: 90_000 },
);

matrix(
  "--target-type=bess: a client that hangs up right after an empty packet and N frames has all N read",
  async (v) => {
    const dir = await socketDir(v);
    const sock = `${dir}/bess.sock`;
    const capture = `${dir}/link.pcap`;
    const proc = v.start(["--target-type=bess", `--pcap=${capture}`, sock]);
    await proc.waitOutput("stderr", `Waiting for connection to ${sock}\n`, 30_000);
    // All sent and hung up before the command reads anything: the empty packet reads as 0 with
    // the hang-up already reported, like the end of the stream.
    const frames = 5;
    const burst = await v.run([
      await buildTool("bess_client"),
      "--burst",
      sock,
      "10.0.2.2",
      `${frames}`,
    ]);
    assert.equal(burst.code, 0, describeResult(burst));
    await assertEndsCleanly(proc);
    // The frames from the client's MAC, as captured when read (the replies could not be sent).
    const lines = await tcpdumpLines(capture);
    const requests = lines.filter((line) =>
      line.includes("02:00:00:00:b0:01 > ff:ff:ff:ff:ff:ff") &&
      /Request who-has 10\.0\.2\.2/.test(line)
    );
    assert.equal(requests.length, frames, `${lines.join("\n")}\n${proc.describe()}`);
  },
  { timeoutMs: 90_000 },
);

matrix("--target-type=bess: SIGTERM while waiting for the client exits 0", async (v) => {
  const dir = await socketDir(v);
  const sock = `${dir}/bess.sock`;
  const proc = v.start(["--target-type=bess", sock]);
  await proc.waitOutput("stderr", `Waiting for connection to ${sock}\n`, 30_000);
  assert.equal(await exists(sock), true, "the socket is there while waiting");
  proc.kill("SIGTERM");
  const status = await proc.waitExit(20_000);
  assert.ok(status !== null, `still running after SIGTERM: ${proc.describe()}`);
  assert.equal(status.code, 0, proc.describe());
  assert.equal(await exists(sock), false, "nobody connected: the socket file is removed");
});

matrix(
  "--target-type=bess with --enable-sandbox --enable-seccomp hands the socket across",
  async (v) => {
    const dir = await socketDir(v);
    const sock = `${dir}/bess.sock`;
    const proc = v.start(["--target-type=bess", "--enable-sandbox", "--enable-seccomp", sock]);
    await proc.waitOutput("stderr", `Waiting for connection to ${sock}\n`, 30_000);
    await talk(v, sock, proc);
    await assertEndsCleanly(proc);
    assert.match(proc.stdout, /^seccomp: The following syscalls are blocked: /m, proc.describe());
  },
  { timeoutMs: 90_000 },
);

matrix("--target-type=bess refuses a second SOCKETPATH and -c, with the usage text", async (v) => {
  const extra = await v.runCommand(["--target-type=bess", "/nonexistent/a", "/nonexistent/b"]);
  assert.equal(extra.code, 1, describeResult(extra));
  assert.equal(extra.stderr, "too many arguments\n", describeResult(extra));
  assert.match(extra.stdout, /^WARNING: BESS mode is experimental\nUsage: /, describeResult(extra));
  const configure = await v.runCommand(["-c", "--target-type=bess", "/nonexistent/a"]);
  assert.equal(configure.code, 1, describeResult(configure));
  assert.equal(
    configure.stderr,
    "--configure conflicts with --target-type=bess\n",
    describeResult(configure),
  );
});
