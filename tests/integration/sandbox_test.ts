/**
 * `--enable-sandbox` and `--enable-seccomp` (issue 11; reference §4.3, §4.4): every thread of the
 * process, also those started later, runs with only CAP_NET_BIND_SERVICE, no_new_privs, the
 * filter, and a read-only root holding /etc, /run and what the runtime needs; the network, the
 * API and DNS keep working inside; the caller's mounts are untouched; a sandbox that cannot be
 * built ends the process with status 1 before the ready byte. Root and rootless, with PID and
 * path targets and from inside the target's user namespace (as Podman runs it).
 *
 * Safety: the command runs in a private host side (tests/helpers/hostside.ts) under a private
 * resolv.conf naming dnsmasq instances the test started there; the only other host is a test
 * host behind a veth (198.51.100.2).
 */
import assert from "node:assert/strict";
import { commandArgv, REPO_ROOT, RUNTIME_FILES } from "../helpers/command.ts";
import { startDnsServer, withResolvConf } from "../helpers/dns.ts";
import { ALL_GROUPS, HostSide } from "../helpers/hostside.ts";
import { matrix, type Variant } from "../helpers/matrix.ts";
import { createNetns, type Netns } from "../helpers/netns.ts";
import {
  describeResult,
  type FdSpec,
  type Proc,
  run,
  runOk,
  spawn,
  waitFor,
} from "../helpers/process.ts";
import {
  assertAllSandboxed,
  assertSandboxedNoSeccomp,
  threads,
  waitReady,
} from "../helpers/sandbox.ts";
import { buildTool } from "../helpers/tools.ts";

/** A temporary directory the variant's user may create its socket in. */
async function socketDir(v: Variant): Promise<string> {
  const dir = await v.tempDir();
  await Deno.chmod(dir, 0o1777);
  return dir;
}

/** The PID of the command: every wrapper execs, so it is the spawned one; checked. */
async function commandPid(proc: Proc): Promise<number> {
  const cmdline = await runOk(["sh", "-c", 'tr "\\0" " " < "/proc/$0/cmdline"', String(proc.pid)]);
  assert.match(cmdline.stdout, /--sandbox-continuation=/, cmdline.stdout);
  return proc.pid;
}

async function api(sock: string, request: string): Promise<string> {
  const result = await run(["ncat", "-U", sock], { stdin: request });
  assert.ok(result.success, describeResult(result));
  return result.stdout;
}

/** Starts a tcp_tool server in `netns` (a path to a network namespace), once it listens. */
async function tcpServer(v: Variant, netns: string, args: string[]): Promise<Proc> {
  const tool = await buildTool("tcp_tool");
  const proc = spawn(["nsenter", `--net=${netns}`, "--", tool, ...args], {
    name: `tcp_tool ${args[0]}`,
    cwd: "/",
  });
  v.defer(() => proc.stop());
  await proc.waitOutput("stderr", /listening (\d+)/, 10_000);
  return proc;
}

type TargetMode = "pid" | "path" | "inside the target's user namespace";

/** The command's arguments for the guest, and how its argv is wrapped, per target mode. */
function targetFor(v: Variant, guest: Netns, mode: TargetMode) {
  if (mode === "path") {
    const userns = guest.ownUserns ? [`--userns-path=${guest.userPath}`] : [];
    return {
      args: ["--netns-type=path", ...userns, guest.netPath, "tap0"],
      wrap: (argv: string[]) => v.as(argv),
    };
  }
  const wrap = mode === "pid"
    ? (argv: string[]) => v.as(argv)
    : (argv: string[]) => v.as(guest.enterArgv(argv, { net: false, user: true }));
  return { args: [String(guest.pid), "tap0"], wrap };
}

for (const mode of ["pid", "path", "inside the target's user namespace"] as const) {
  matrix(
    `--enable-sandbox --enable-seccomp (${mode}): every thread sandboxed and filtered, also ` +
      "later ones; TCP, UDP, ping, forwards added and removed; SIGTERM removes the API socket",
    async (v) => {
      const side = await HostSide.create(v, { pingGroupRange: ALL_GROUPS });
      const host = await side.addTestHost(v, "198.51.100.1/24", "198.51.100.2/24");
      const dir = await socketDir(v);
      const conf = `${dir}/resolv.conf`;
      await Deno.writeTextFile(
        conf,
        "# private: the guest sends no DNS here\nnameserver 127.0.0.53\n",
      );
      await Deno.chmod(conf, 0o644);
      const sock = `${dir}/api.sock`;
      const ready = `${dir}/ready`;
      const guest = await createNetns(v);
      const target = targetFor(v, guest, mode);
      const args = ["-c", "--enable-sandbox", "--enable-seccomp", "-a", sock, "-r", "10"];
      const proc = spawn(
        side.enter(withResolvConf(conf, target.wrap(v.commandArgv([...args, ...target.args])))),
        {
          ...v.processOptions,
          name: "command under test",
          fds: { 10: { kind: "write-file", path: ready } },
        },
      );
      v.defer(() => proc.stop());
      assert.equal(await waitReady(ready, proc), "1");
      const pid = await commandPid(proc);
      const atReady = await assertAllSandboxed(pid, proc);
      assert.match(proc.stdout, /^WARNING: Support for seccomp is experimental$/m);
      assert.match(
        proc.stdout,
        /^seccomp: The following syscalls are blocked: execve lookup_dcookie .* name_to_handle_at/m,
      );

      // Traffic: the gateway, ping sockets, TCP and UDP NAT to the test host.
      await guest.waitForPing("10.0.2.2", { proc });
      await guest.waitForPing("198.51.100.2", { proc });
      await tcpServer(v, `/proc/${host.pid}/ns/net`, ["echo-server", "198.51.100.2", "8080"]);
      const tool = await buildTool("tcp_tool");
      const out = await guest.run([tool, "echo-client", "198.51.100.2", "8080", "64", "65536"], {
        timeoutMs: 60_000,
      });
      assert.ok(out.success, `${describeResult(out)}\n${proc.describe()}`);
      assert.equal(out.stdout.trim(), "ok 64");
      const udpServer = host.spawn(v, [
        "socat",
        "UDP-RECVFROM:5353,bind=198.51.100.2,fork",
        "EXEC:tr a-z A-Z",
      ], "test host UDP upper-caser");
      assert.ok(udpServer.running);
      const udp = await waitFor("a UDP reply from the test host", async () => {
        const result = await guest.run(["socat", "-T", "1", "-", "UDP:198.51.100.2:5353"], {
          stdin: "hello nat\n",
          timeoutMs: 5000,
        });
        return result.stdout.includes("HELLO NAT") ? result.stdout : null;
      }, { timeoutMs: 15_000 });
      assert.equal(udp.trim(), "HELLO NAT");

      // A forward added, used by many clients at once, removed.
      await tcpServer(v, guest.netPath, ["echo-server", "10.0.2.100", "8080"]);
      const added = JSON.parse(
        await api(
          sock,
          '{"execute":"add_hostfwd","arguments":{"proto":"tcp","host_port":18080,"guest_port":8080}}',
        ),
      );
      assert.equal(typeof added.return?.id, "number", JSON.stringify(added));
      const echoed = await side.run([tool, "echo-client", "127.0.0.1", "18080", "200", "65536"], {
        timeoutMs: 60_000,
      });
      assert.ok(echoed.success, `${describeResult(echoed)}\n${proc.describe()}`);
      assert.equal(echoed.stdout.trim(), "ok 200");
      assert.equal(
        await api(sock, `{"execute":"remove_hostfwd","arguments":{"id":${added.return.id}}}`),
        '{"return":{}}',
      );
      const refused = await side.run([tool, "echo-client", "127.0.0.1", "18080", "1", "16"]);
      assert.ok(!refused.success, describeResult(refused));

      // Every thread again, those started since the ready byte included.
      const after = await assertAllSandboxed(pid, proc);
      const started = [...after].filter((tid) => !atReady.has(tid));
      console.log(
        `${mode}: ${atReady.size} threads at the ready byte, ${after.size} after the load, ` +
          `${started.length} of them started after the filter`,
      );

      proc.kill("SIGTERM");
      const status = await proc.waitExit(10_000);
      assert.ok(status, `still running after SIGTERM: ${proc.describe()}`);
      assert.equal(status.code, 0, proc.describe());
      await assert.rejects(Deno.lstat(sock), Deno.errors.NotFound, "the API socket is left");
    },
    // Root's namespaces have no user namespace of their own to be inside of.
    { timeoutMs: 120_000, only: mode === "pid" || mode === "path" ? undefined : "rootless" },
  );
}

/** Runs tests/tools/seccomp_threads.ts in `mode` (as the user running the tests). */
function seccompTool(mode: string): string[] {
  return [
    Deno.execPath(),
    "run",
    "--allow-ffi",
    `--allow-read=${REPO_ROOT}`,
    `${REPO_ROOT}/tests/tools/seccomp_threads.ts`,
    mode,
  ];
}

Deno.test("the seccomp filter holds on threads the runtime starts after it, and acts per call", async () => {
  // 32 nonblocking FFI calls at once (new blocking-pool threads) and a new Worker.
  const load = spawn(seccompTool("load"), { name: "seccomp load", cwd: "/" });
  try {
    const line = await load.waitOutput("stdout", /threads-before \d+/, 20_000);
    const before = Number(line.split(" ")[1]);
    await load.waitOutput("stdout", /^loaded \d+$/m, 20_000);
    const report = await threads(load.pid);
    assert.ok(
      report.length > before + 8,
      `${report.length} threads after the load, ${before} before: ${load.describe()}`,
    );
    for (const thread of report) {
      assert.equal(thread.status.Seccomp, "2", `thread ${thread.tid}`);
      assert.equal(thread.status.NoNewPrivs, "1", `thread ${thread.tid}`);
    }
    console.log(`seccomp load: ${before} threads before, ${report.length} after, all filtered`);
    const status = await load.waitExit(20_000);
    assert.ok(status?.code === 0, load.describe());
  } finally {
    await load.stop();
  }
  // Thread names are allowed (every new thread sets one); other prctl options get EPERM.
  const prctl = await run(seccompTool("prctl"), { timeoutMs: 20_000 });
  assert.ok(prctl.success, describeResult(prctl));
  assert.match(prctl.stdout, /^PR_SET_NAME 0$/m);
  assert.match(prctl.stdout, /^PR_SET_DUMPABLE -1 errno 1$/m);
  // execve in the main thread, unshare in a Worker started after the filter: the process dies.
  for (const mode of ["exec", "worker-unshare"]) {
    const killed = spawn(seccompTool(mode), { name: `seccomp ${mode}`, cwd: "/" });
    const status = await killed.waitExit(20_000);
    await killed.stop();
    assert.ok(status, killed.describe());
    assert.equal(status.signal, "SIGSYS", killed.describe());
    assert.doesNotMatch(killed.stdout, /returned/, killed.describe());
  }
});

/**
 * A mount namespace for the command, held by a sleeping root process: the machine's mounts are
 * made private in it, /run is a tmpfs made rshared (as systemd's), with another tmpfs below it
 * (/run/slirptest-sub) and resolv.conf in /run/resolve, and /etc/resolv.conf is a symlink to
 * `resolvTarget` (bound over the file, the machine's /etc is not touched).
 */
async function callerMounts(
  v: Variant,
  resolvTarget: string,
): Promise<{ holder: Proc; enter: (argv: string[]) => string[] }> {
  const link = `${await v.tempDir()}/resolv.conf.link`;
  await Deno.symlink(resolvTarget, link);
  const bind = await buildTool("bind_symlink");
  const script = `
    set -e
    mount --make-rprivate /
    mount -t tmpfs -o size=1m,mode=755 slirptest-run /run
    mount --make-rshared /run
    mkdir /run/slirptest-sub /run/resolve
    mount -t tmpfs -o size=1m slirptest-sub /run/slirptest-sub
    "$0" "$1" /etc/resolv.conf
    echo ready
    exec sleep infinity`;
  const holder = spawn(["unshare", "--mount", "--", "sh", "-c", script, bind, link], {
    name: "mount namespace holder",
    cwd: "/",
  });
  v.defer(() => holder.stop());
  await holder.waitOutput("stdout", "ready", 10_000);
  return {
    holder,
    enter: (argv) => ["nsenter", `--mount=/proc/${holder.pid}/ns/mnt`, "--", ...argv],
  };
}

/** `dig @10.0.2.3 +short NAME` in the guest. */
async function digInGuest(guest: Netns, name: string): Promise<string> {
  const result = await guest.run(["dig", "@10.0.2.3", "+time=3", "+tries=1", "+short", name], {
    timeoutMs: 20_000,
  });
  return result.stdout.trim();
}

matrix(
  "--enable-sandbox: a resolv.conf replaced after start (symlinked into /run) is followed, the " +
    "caller's tmpfs below an rshared /run stays mounted, the exit fd ends it with the socket gone",
  async (v) => {
    const side = await HostSide.create(v);
    const enter = (argv: string[]) => side.enter(argv);
    await startDnsServer(v, { "web.test": "198.51.100.10" }, { enter, address: "127.0.0.53" });
    await startDnsServer(v, { "web.test": "198.51.100.20" }, { enter, address: "127.0.0.55" });
    const mounts = await callerMounts(v, "/run/resolve/resolv.conf");
    const inHolder = (script: string) => runOk(mounts.enter(["sh", "-c", script]));
    await inHolder(
      "printf 'nameserver 127.0.0.53\\n' > /run/resolve/resolv.conf && chmod 644 /run/resolve/resolv.conf",
    );
    const subMounted = () => run(mounts.enter(["findmnt", "-n", "/run/slirptest-sub"]));
    const dir = await socketDir(v);
    const sock = `${dir}/api.sock`;
    const guest = await createNetns(v);
    const fds: Record<number, FdSpec> = {
      10: { kind: "write-file", path: `${dir}/ready` },
      11: { kind: "pipe" },
    };
    const proc = spawn(
      side.enter(mounts.enter(v.as(v.commandArgv([
        "-c",
        "--enable-sandbox",
        "-a",
        sock,
        "-r",
        "10",
        "-e",
        "11",
        String(guest.pid),
        "tap0",
      ])))),
      { ...v.processOptions, name: "command under test", fds },
    );
    v.defer(() => proc.stop());
    await waitReady(`${dir}/ready`, proc);
    await assertSandboxedNoSeccomp(await commandPid(proc));
    assert.ok((await subMounted()).success, "the caller's tmpfs below /run is gone while we run");

    assert.equal(await digInGuest(guest, "web.test"), "198.51.100.10", proc.describe());
    // Replaced, as resolvers do: a new file renamed over the old one (a new inode).
    await inHolder(
      "printf 'nameserver 127.0.0.55\\n' > /run/resolve/new && chmod 644 /run/resolve/new && " +
        "mv /run/resolve/new /run/resolve/resolv.conf",
    );
    const followed = await waitFor("the replaced resolv.conf in use", async () => {
      const answer = await digInGuest(guest, "web.test");
      return answer === "198.51.100.20" ? answer : null;
    }, { timeoutMs: 15_000 });
    assert.equal(followed, "198.51.100.20");

    await proc.closePipe();
    const status = await proc.waitExit(10_000);
    assert.ok(status, `still running after the exit fd closed: ${proc.describe()}`);
    assert.equal(status.code, 0, proc.describe());
    await assert.rejects(Deno.lstat(sock), Deno.errors.NotFound, "the API socket is left");
    assert.ok((await subMounted()).success, "the caller's tmpfs below /run is gone after we ran");
  },
  { timeoutMs: 90_000 },
);

matrix(
  "--enable-sandbox: a resolv.conf that resolves outside /etc and /run is bound at its real path",
  async (v) => {
    const side = await HostSide.create(v);
    const enter = (argv: string[]) => side.enter(argv);
    await startDnsServer(v, { "web.test": "198.51.100.10" }, { enter, address: "127.0.0.53" });
    await startDnsServer(v, { "web.test": "198.51.100.20" }, { enter, address: "127.0.0.55" });
    const escaped = `${await v.tempDir()}/escaped/resolv.conf`;
    await Deno.mkdir(escaped.replace(/\/resolv.conf$/, ""), { mode: 0o755 });
    await Deno.writeTextFile(escaped, "nameserver 127.0.0.53\n");
    await Deno.chmod(escaped, 0o644);
    const mounts = await callerMounts(v, escaped);
    const dir = await socketDir(v);
    const guest = await createNetns(v);
    const proc = spawn(
      side.enter(mounts.enter(v.as(v.commandArgv([
        "-c",
        "--enable-sandbox",
        "-r",
        "10",
        String(guest.pid),
        "tap0",
      ])))),
      {
        ...v.processOptions,
        name: "command under test",
        fds: { 10: { kind: "write-file", path: `${dir}/ready` } },
      },
    );
    v.defer(() => proc.stop());
    await waitReady(`${dir}/ready`, proc);
    assert.match(
      proc.stderr,
      new RegExp(
        `^sandbox: /etc/resolv.conf \\(-> ${escaped}\\) seems a symlink to a file outside ` +
          "\\{/etc, /run\\}, attempting to bind it as well\\.$",
        "m",
      ),
    );
    assert.equal(await digInGuest(guest, "web.test"), "198.51.100.10", proc.describe());
    // Edited in place (the bind holds the file itself): followed.
    await Deno.writeTextFile(escaped, "nameserver 127.0.0.55\n");
    const followed = await waitFor("the edited resolv.conf in use", async () => {
      const answer = await digInGuest(guest, "web.test");
      return answer === "198.51.100.20" ? answer : null;
    }, { timeoutMs: 15_000 });
    assert.equal(followed, "198.51.100.20");
  },
  { timeoutMs: 90_000 },
);

matrix(
  "--enable-sandbox that cannot be built (pivot_root refused: the root is not a mount point) " +
    "exits 1 before the ready byte, with the message, and removes the API socket",
  async (v) => {
    const guest = await createNetns(v);
    const dir = await socketDir(v);
    const jail = `${await v.tempDir()}/jail`;
    const sock = `${dir}/api.sock`;
    const install = v.commandArgv([])[0] === Deno.execPath() ? REPO_ROOT : "";
    // A chroot whose root is a plain directory (as on a rootfs or initramfs, slirp4netns #249),
    // holding binds of what the command needs.
    const script = `
      set -e
      jail=$1; shift
      mount --make-rprivate /
      for d in usr etc proc dev tmp run sys; do mkdir -p "$jail/$d"; mount --rbind "/$d" "$jail/$d"; done
      for l in lib lib64 bin sbin; do [ -L "/$l" ] && ln -s "$(readlink "/$l")" "$jail/$l"; done
      if [ -n "$INSTALL" ]; then mkdir -p "$jail$INSTALL"; mount --rbind "$INSTALL" "$jail$INSTALL"; fi
      exec chroot "$jail" "$@"`;
    const argv = [
      "env",
      `INSTALL=${install}`,
      "unshare",
      "--mount",
      "--",
      "sh",
      "-c",
      script,
      "sh",
      jail,
      ...v.as(
        v.commandArgv([
          "-c",
          "--enable-sandbox",
          "-a",
          sock,
          "-r",
          "10",
          String(guest.pid),
          "tap0",
        ]),
      ),
    ];
    await Deno.mkdir(jail);
    const proc = spawn(argv, {
      ...v.processOptions,
      name: "command under test",
      fds: { 10: { kind: "write-file", path: `${dir}/ready` } },
    });
    v.defer(() => proc.stop());
    const status = await proc.waitExit(30_000);
    assert.ok(status, proc.describe());
    assert.equal(status.code, 1, proc.describe());
    assert.match(
      proc.stderr,
      /^sandbox: cannot pivot_root: \/ is not a mount point/m,
      proc.describe(),
    );
    assert.match(proc.stderr, /^create_sandbox failed$/m, proc.describe());
    assert.equal(await Deno.readTextFile(`${dir}/ready`), "", "the ready byte was written");
    await assert.rejects(Deno.lstat(sock), Deno.errors.NotFound, "the API socket is left");
  },
  { timeoutMs: 60_000 },
);

matrix(
  "--enable-sandbox: SIGTERM at any moment of start-up (first runtime, launcher, second runtime, " +
    "after) ends the command and leaves no API socket",
  async (v) => {
    const dir = await socketDir(v);
    // The sandboxed start takes about 100-250 ms here: these land in each of its phases.
    for (const delayMs of [0, 10, 20, 25, 30, 35, 40, 50, 60, 80, 100, 150, 250, 400]) {
      const sock = `${dir}/api-${delayMs}.sock`;
      const ns = await createNetns(v);
      const proc = spawn(
        v.as(v.commandArgv(["-c", "--enable-sandbox", "-a", sock, String(ns.pid), "tap0"])),
        { ...v.processOptions, name: `command under test, SIGTERM after ${delayMs} ms` },
      );
      v.defer(() => proc.stop());
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      proc.kill("SIGTERM");
      const status = await proc.waitExit(20_000);
      assert.ok(status, `still running after SIGTERM: ${proc.describe()}`);
      // Before the first runtime listens, the signal's default action; from then on, exit 0.
      assert.ok(status.code === 0 || status.signal === "SIGTERM", proc.describe());
      const last = proc.stderr.trimEnd().split("\n").at(-1);
      console.log(
        `SIGTERM after ${delayMs} ms: ${status.signal ?? `exit ${status.code}`}, ${last}`,
      );
      await assert.rejects(
        Deno.lstat(sock),
        Deno.errors.NotFound,
        `API socket left: ${proc.describe()}`,
      );
    }
  },
  { timeoutMs: 120_000 },
);

matrix(
  "--enable-seccomp alone: every thread filtered with no_new_privs, the line on stdout, the network works",
  async (v) => {
    const ns = await createNetns(v);
    const dir = await socketDir(v);
    const proc = spawn(
      v.as(v.commandArgv(["-c", "--enable-seccomp", "-r", "10", String(ns.pid), "tap0"])),
      {
        ...v.processOptions,
        name: "command under test",
        fds: { 10: { kind: "write-file", path: `${dir}/ready` } },
      },
    );
    v.defer(() => proc.stop());
    assert.equal(await waitReady(`${dir}/ready`, proc), "1");
    await ns.waitForPing("10.0.2.2", { proc });
    const report = await threads(proc.pid);
    assert.ok(report.length > 1, proc.describe());
    for (const thread of report) {
      assert.equal(thread.status.Seccomp, "2", `thread ${thread.tid}`);
      assert.equal(thread.status.NoNewPrivs, "1", `thread ${thread.tid}`);
      // Not sandboxed: the caller's root.
      assert.ok(thread.root.includes("home") || thread.root.includes("tmp"), `${thread.root}`);
    }
    assert.match(proc.stdout, /^seccomp: The following syscalls are blocked: execve /m);
  },
);

matrix(
  "--enable-sandbox --enable-seccomp from a checkout without a local build: the shipped launcher " +
    "runs from a memfd (and the shipped shim), every thread sandboxed, ping answered, SIGTERM",
  async (v) => {
    // A checkout as on a machine without a C compiler: the runtime files, no native/build/.
    const copy = await v.tempDir();
    const present = RUNTIME_FILES.map((f) => `${REPO_ROOT}/${f}`).filter((path) => {
      try {
        return Deno.statSync(path) !== null;
      } catch {
        return false; // not written yet (e.g. deno.lock)
      }
    });
    await runOk(["cp", "-a", ...present, copy]);
    await runOk(["rm", "-rf", `${copy}/native/build`]);
    await runOk(["chmod", "-R", "a+rX", copy]);
    const deno = v.commandArgv([])[0];
    const dir = await socketDir(v);
    const sock = `${dir}/api.sock`;
    const ns = await createNetns(v);
    const args = ["-c", "--enable-sandbox", "--enable-seccomp", "-a", sock, "-r", "10"];
    const proc = spawn(v.as(commandArgv([...args, String(ns.pid), "tap0"], { root: copy, deno })), {
      ...v.processOptions,
      name: "command under test",
      fds: { 10: { kind: "write-file", path: `${dir}/ready` } },
    });
    v.defer(() => proc.stop());
    assert.equal(await waitReady(`${dir}/ready`, proc), "1");
    await assertAllSandboxed(await commandPid(proc), proc);
    await ns.waitForPing("10.0.2.2", { proc });
    proc.kill("SIGTERM");
    const status = await proc.waitExit(10_000);
    assert.ok(status, `still running after SIGTERM: ${proc.describe()}`);
    assert.equal(status.code, 0, proc.describe());
    await assert.rejects(Deno.lstat(sock), Deno.errors.NotFound, "the API socket is left");
  },
  { timeoutMs: 90_000 },
);
