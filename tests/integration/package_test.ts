/**
 * The package as users get it (issue 12): the files `deno publish` would upload run the command
 * from a URL with an empty module cache and no local build of the shim (the prebuilt one for this
 * architecture is used), and are answered as soon as the ready byte comes, Workers still
 * downloading included; and the shipped prebuilt shims are what native/ builds.
 */
import assert from "node:assert/strict";
import { binaryUnderTest, REPO_ROOT } from "../helpers/command.ts";
import { matrix } from "../helpers/matrix.ts";
import { createNetns } from "../helpers/netns.ts";
import { runOk, waitFor } from "../helpers/process.ts";
import { assertAllSandboxed, waitReady } from "../helpers/sandbox.ts";
import {
  buildPart,
  compilerFor,
  compilerVersion,
  NATIVE_PARTS,
  PREBUILT_ARCHES,
  prebuiltBytes,
  prebuiltModule,
  sourcesDigest,
} from "../../native/prebuild.ts";
import { bundle, BUNDLE_DIR } from "../../tools/bundle.ts";

/** The files `deno publish --dry-run` lists, relative to the repository root. */
async function publishedFiles(): Promise<string[]> {
  const result = await new Deno.Command(Deno.execPath(), {
    args: ["publish", "--dry-run", "--allow-dirty"],
    cwd: REPO_ROOT,
    env: { NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1" },
  }).output();
  const text = new TextDecoder().decode(result.stdout) + new TextDecoder().decode(result.stderr);
  assert.ok(result.success, text);
  const files = [...text.matchAll(/^\s+file:\/\/(\S+) \(/gm)].map((m) => m[1]);
  assert.ok(files.length > 0, text);
  return files.map((path) => path.slice(REPO_ROOT.length + 1));
}

/**
 * The Worker entry modules (the bundles the program runs, and the sources), which a slow registry
 * sends late (see the registry-run test).
 */
const WORKER_MODULES =
  /^src\/(workers\/(tap_reader|tcp_table|dns_resolver)\.ts|bundled\/(tap_reader|tcp_table|dns_resolver)\.js)$/;
const WORKER_DELAY_MS = 2000;

/** The package's name and version (deno.json), as a registry would serve it. */
const PACKAGE = JSON.parse(Deno.readTextFileSync(`${REPO_ROOT}/deno.json`)) as {
  name: string;
  version: string;
};

/** SHA-256 of `bytes` in hex. */
async function sha256(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Serves exactly `files` from the repository on 127.0.0.1, as a registry would: at the root (a
 * plain URL to run), and as a JSR registry (`JSR_URL`) at /@scope/name/ with the package's
 * metadata, for `jsr:` specifiers. The Workers' entry modules come only after WORKER_DELAY_MS,
 * so that a ready byte sent before the Workers run would come well before any answer. The paths
 * of the package's files asked for go into `requested`.
 */
function serve(files: string[], requested = new Set<string>()): Deno.HttpServer<Deno.NetAddr> {
  const allowed = new Set(files);
  const jsrPrefix = `${PACKAGE.name}/`;
  const versionPrefix = `${jsrPrefix}${PACKAGE.version}/`;
  return Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (request) => {
    let path = decodeURIComponent(new URL(request.url).pathname).slice(1);
    if (path === `${jsrPrefix}meta.json`) {
      const [scope, name] = PACKAGE.name.slice(1).split("/");
      return Response.json({
        scope,
        name,
        latest: PACKAGE.version,
        versions: { [PACKAGE.version]: {} },
      });
    }
    if (path === `${jsrPrefix}${PACKAGE.version}_meta.json`) {
      const manifest: Record<string, { size: number; checksum: string }> = {};
      for (const file of files) {
        const bytes = await Deno.readFile(`${REPO_ROOT}/${file}`);
        manifest[`/${file}`] = { size: bytes.length, checksum: `sha256-${await sha256(bytes)}` };
      }
      return Response.json({ manifest, exports: { ".": "./mod.ts" } });
    }
    if (path.startsWith(versionPrefix)) path = path.slice(versionPrefix.length);
    if (!allowed.has(path)) return new Response("not found", { status: 404 });
    requested.add(path);
    if (WORKER_MODULES.test(path)) await new Promise((r) => setTimeout(r, WORKER_DELAY_MS));
    const type = path.endsWith(".ts")
      ? "application/typescript"
      : path.endsWith(".js")
      ? "application/javascript"
      : "application/octet-stream";
    return new Response(await Deno.readFile(`${REPO_ROOT}/${path}`), {
      headers: { "content-type": type },
    });
  });
}

Deno.test("the published file set has the prebuilt shims and launchers and no local build or test", async () => {
  const files = await publishedFiles();
  for (const arch of PREBUILT_ARCHES) {
    for (const part of NATIVE_PARTS) {
      const module = prebuiltModule(arch, part).pathname.slice(REPO_ROOT.length + 1);
      assert.ok(files.includes(module), module);
    }
  }
  const bundled = [...Deno.readDirSync(BUNDLE_DIR)].map((entry) => `src/bundled/${entry.name}`);
  assert.ok(bundled.includes("src/bundled/command.js"), bundled.join(" "));
  for (const required of ["mod.ts", "cli.ts", "LICENSE", "src/workers/tap_reader.ts", ...bundled]) {
    assert.ok(files.includes(required), required);
  }
  assert.deepEqual(
    files.filter((f) =>
      f.startsWith("native/build/") || f.startsWith("tests/") || f.startsWith("tools/")
    ),
    [],
  );
});

Deno.test("src/bundled/ (build output) is what deno task bundle makes of the current sources", async () => {
  const dir = await Deno.makeTempDir({ prefix: "slirptest-bundle-" });
  try {
    const names = await bundle(`${dir}/bundled`);
    const shipped = [...Deno.readDirSync(BUNDLE_DIR)].map((entry) => entry.name).sort();
    assert.deepEqual(shipped, names, "other files: run deno task bundle (tests/run.sh does)");
    for (const name of names) {
      assert.equal(
        Deno.readTextFileSync(new URL(name, BUNDLE_DIR)),
        Deno.readTextFileSync(`${dir}/bundled/${name}`),
        `src/bundled/${name} differs: run deno task bundle (tests/run.sh does)`,
      );
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

for (const part of NATIVE_PARTS) {
  for (const arch of PREBUILT_ARCHES) {
    const module = prebuiltModule(arch, part);
    const name = module.pathname.slice(REPO_ROOT.length + 1);
    Deno.test(`${name} (the ${part}) was built from the current sources`, async () => {
      const shipped = await import(module.href);
      assert.equal(
        shipped.SOURCES_SHA256,
        await sourcesDigest(part),
        `the ${part}'s sources changed since ${name} was generated: run deno task prepublish`,
      );
    });

    const cc = compilerFor(arch);
    const version = await compilerVersion(cc);
    const shipped = await import(module.href);
    const sameCompiler = version === shipped.COMPILER;
    Deno.test({
      name: `${name} is byte for byte what ${cc} builds from the ${part}'s sources` +
        (sameCompiler ? "" : ` (skipped: needs ${shipped.COMPILER}, found ${version ?? "none"})`),
      ignore: !sameCompiler,
      async fn() {
        const dir = await Deno.makeTempDir({ prefix: "slirptest-prebuilt-" });
        try {
          await buildPart(part, cc, `${dir}/${part}`);
          const built = await Deno.readFile(`${dir}/${part}`);
          const bytes = await prebuiltBytes(part, shipped);
          assert.equal(bytes.length, built.length, "sizes differ: run deno task prepublish");
          assert.ok(
            bytes.every((b, i) => b === built[i]),
            "bytes differ: run deno task prepublish",
          );
        } finally {
          await Deno.remove(dir, { recursive: true });
        }
      },
    });
  }
}

matrix(
  "a registry run: the published files from a URL, empty DENO_DIR, ready byte, then ping answered",
  async (v) => {
    const requested = new Set<string>();
    const server = serve(await publishedFiles(), requested);
    v.defer(() => server.shutdown());
    const url = `http://127.0.0.1:${server.addr.port}/mod.ts`;
    const denoDir = await v.tempDir();
    await Deno.chmod(denoDir, 0o1777);
    const readyFile = `${await v.tempDir()}/ready`;
    const ns = await createNetns(v);
    const deno = v.commandArgv([])[0];
    const proc = v.spawn(
      [deno, "run", "-A", url, "-c", "-r", "10", String(ns.pid), "tap0"],
      {
        name: "registry run",
        env: { ...v.processOptions.env, DENO_DIR: `${denoDir}/cache` },
        fds: { 10: { kind: "write-file", path: readyFile } },
      },
    );
    const content = await waitFor("the ready byte", async () => {
      const text = await Deno.readTextFile(readyFile).catch(() => "");
      return text.length > 0 ? text : null;
    }, {
      timeoutMs: 50_000,
      intervalMs: 10,
      failIf: () => proc.running ? null : `the command exited: ${proc.describe()}`,
    });
    assert.equal(content, "1");
    // At once: ready means the Workers answer, though their modules came late over HTTP just now
    // (a ready byte before them would leave this ping unanswered for about WORKER_DELAY_MS).
    const ping = await ns.run(["ping", "-n", "-c", "1", "-W", "1", "10.0.2.2"]);
    assert.ok(ping.success, `${ping.stdout}${ping.stderr}\n${proc.describe()}`);
    // Nothing was built or looked up beside a checkout: the shim came from the prebuilt module.
    assert.doesNotMatch(proc.stderr, /build\.sh|compiler|native shim/i, proc.describe());
    // The Workers ran from their bundles, which only a command run from its bundle starts
    // (src/workers/urls.ts), and not from the sources. Their URLs are computed, so they are
    // fetched only when a Worker is created (the literal dynamic imports of both the command's
    // bundle and its sources, in cli.ts, are fetched with the graph).
    const fetched = [...requested];
    for (const worker of ["tap_reader", "tcp_table", "dns_resolver"]) {
      assert.ok(requested.has(`src/bundled/${worker}.js`), `${worker}.js: ${fetched.join(" ")}`);
      assert.ok(!requested.has(`src/workers/${worker}.ts`), `${worker}.ts: ${fetched.join(" ")}`);
    }
  },
  {
    timeoutMs: 90_000,
    ignore: binaryUnderTest() !== null && "tests a Deno package, not a binary",
  },
);

matrix(
  "a registry run (jsr:) with --enable-sandbox --enable-seccomp and only --allow-ffi --allow-net: " +
    "the continuation runs the same specifier from the module cache (the registry's directory " +
    "bound read-only, --cached-only), every thread sandboxed, ping answered, SIGTERM removes the " +
    "API socket",
  async (v) => {
    const server = serve(await publishedFiles());
    v.defer(() => server.shutdown());
    const port = server.addr.port;
    const url = `jsr:${PACKAGE.name}`;
    // The runtime's default cache, $HOME/.cache/deno, in a home of the test's own.
    const home = await v.tempDir();
    await Deno.chmod(home, 0o1777);
    const dir = await v.tempDir();
    await Deno.chmod(dir, 0o1777);
    const sock = `${dir}/api.sock`;
    const ns = await createNetns(v);
    const deno = v.commandArgv([])[0];
    // The registry at JSR_URL (Deno's variable for it) stands in for https://jsr.io/.
    const env = { ...v.processOptions.env, HOME: home, JSR_URL: `http://127.0.0.1:${port}/` };
    const proc = v.spawn(
      [
        "env",
        "-u",
        "DENO_DIR",
        "-u",
        "XDG_CACHE_HOME",
        deno,
        "run",
        "--allow-ffi",
        "--allow-net",
        url,
        ...["-c", "--enable-sandbox", "--enable-seccomp", "-a", sock, "-r", "10"],
        String(ns.pid),
        "tap0",
      ],
      {
        name: "registry run",
        env,
        fds: { 10: { kind: "write-file", path: `${dir}/ready` } },
      },
    );
    assert.equal(await waitReady(`${dir}/ready`, proc, 60_000), "1");
    await ns.waitForPing("10.0.2.2", { proc });
    // The same process (every wrapper execs), now the continuation of the specifier, from the cache.
    // (/proc files through cat: the test runner may not read /proc itself)
    const cmdline = (await runOk(["cat", `/proc/${proc.pid}/cmdline`])).stdout.split("\0");
    assert.deepEqual(
      cmdline.slice(0, cmdline.indexOf(url) + 1),
      [
        "/slirp4netns/deno",
        "run",
        "--no-prompt",
        "--cached-only",
        "--allow-ffi",
        "--allow-net",
        `--allow-import=127.0.0.1:${port}`,
        url,
      ],
    );
    assert.match(cmdline[cmdline.indexOf(url) + 1], /^--sandbox-continuation=/);
    await assertAllSandboxed(proc.pid, proc);
    // Of the caller's files, only the module cache's directory for this host, read-only.
    const mounts = (await runOk(["cat", `/proc/${proc.pid}/mountinfo`])).stdout.split("\n")
      .map((line) => line.split(" ")).filter((fields) => fields.length > 5);
    const cache = mounts.find((f) => f[4].startsWith("/slirp4netns/cache/"));
    assert.equal(cache?.[4], `/slirp4netns/cache/remote/http/127.0.0.1_PORT${port}`);
    assert.match(cache![5], /^ro,/);
    assert.deepEqual(
      mounts.map((f) => f[4]).filter((at) => /^\/(home|root|var|tmp)\b/.test(at)),
      [],
    );
    assert.match(proc.stdout, /^seccomp: The following syscalls are blocked: execve /m);

    proc.kill("SIGTERM");
    const status = await proc.waitExit(10_000);
    assert.ok(status, `still running after SIGTERM: ${proc.describe()}`);
    assert.equal(status.code, 0, proc.describe());
    await assert.rejects(Deno.lstat(sock), Deno.errors.NotFound, "the API socket is left");
  },
  {
    timeoutMs: 120_000,
    ignore: binaryUnderTest() !== null && "tests a Deno package, not a binary",
  },
);
