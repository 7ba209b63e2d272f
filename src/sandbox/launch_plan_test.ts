import assert from "node:assert/strict";
import { handoffArgument } from "./handoff.ts";
import { denoDir, launcherArgs, type LaunchFacts, remoteCachePath } from "./launch_plan.ts";

const facts: LaunchFacts = {
  runtime: "/usr/lib/node_modules/deno/deno",
  program: { kind: "checkout", appRoot: "/home/me/slirp4netns", mainModule: "cli.ts" },
  shimOverride: null,
  userns: "/proc/1234/ns/user",
  args: ["-c", "--enable-sandbox", "-a", "/run/user/1000/api.sock", "1234", "tap0"],
  handoff: {
    tapFd: 5,
    api: { fd: 6, dirFd: 7, name: "api.sock", dev: "40", ino: "99" },
  },
};

const registry: LaunchFacts = {
  ...facts,
  program: {
    kind: "remote",
    mainModule: "https://jsr.io/@x/slirp4netns/0.1.0/mod.ts",
    moduleCache: "/home/me/.cache/deno/remote/https/jsr.io",
    moduleCacheSubdir: "remote/https/jsr.io",
    allowImport: null,
  },
};

/** The bind destinations in a launcher command line. */
function destinations(args: string[]): string[] {
  const command = args.indexOf("--");
  return args.flatMap((a, i) => i < command && args[i - 2] === "--bind" ? [a] : []);
}

/** The program the launcher executes, up to the handoff. */
function command(args: string[]): string[] {
  const from = args.indexOf("--") + 1;
  return args.slice(from, args.findIndex((a, i) => i >= from && a.startsWith("--sandbox-")));
}

Deno.test("launcherArgs() binds the runtime and the program at neutral paths and runs cli.ts there", () => {
  assert.deepEqual(launcherArgs(facts), [
    "--userns",
    "/proc/1234/ns/user",
    "--bind",
    "/usr/lib/node_modules/deno/deno",
    "/slirp4netns/deno",
    "--bind",
    "/home/me/slirp4netns",
    "/slirp4netns/app",
    "--scratch",
    "/slirp4netns/cache",
    "--api-socket",
    "7",
    "api.sock",
    "99",
    "--setenv",
    "DENO_DIR=/slirp4netns/cache",
    "--setenv",
    "DENO_NO_UPDATE_CHECK=1",
    "--",
    "/slirp4netns/deno",
    "run",
    "--no-prompt",
    "--allow-ffi",
    "--allow-net",
    "--allow-read=/slirp4netns/app",
    "/slirp4netns/app/cli.ts",
    handoffArgument(facts.handoff),
    ...facts.args,
  ]);
});

Deno.test("launcherArgs() never names the caller's home, /root or /var inside the sandbox", () => {
  for (
    const plan of [
      launcherArgs({
        ...facts,
        program: { kind: "checkout", appRoot: "/root/src/s4n", mainModule: "cli.ts" },
        runtime: "/root/.deno/bin/deno",
      }),
      launcherArgs({ ...registry, runtime: "/home/me/.deno/bin/deno" }),
      launcherArgs({ ...facts, program: { kind: "standalone" }, runtime: "/var/lib/s4n" }),
    ]
  ) {
    for (const inside of [...destinations(plan), ...command(plan)]) {
      assert.doesNotMatch(inside, /^\/(root|home|var)\b/, plan.join(" "));
    }
  }
});

Deno.test("launcherArgs() for a registry run: the program's module cache below the scratch DENO_DIR, --cached-only, no file read", () => {
  const plan = launcherArgs(registry);
  assert.deepEqual(destinations(plan), [
    "/slirp4netns/deno",
    "/slirp4netns/cache/remote/https/jsr.io",
  ]);
  const at = plan.indexOf("/home/me/.cache/deno/remote/https/jsr.io");
  assert.equal(plan[at - 1], "--bind");
  assert.ok(plan.includes("DENO_DIR=/slirp4netns/cache"));
  assert.deepEqual(plan.slice(plan.indexOf("--scratch"), plan.indexOf("--scratch") + 2), [
    "--scratch",
    "/slirp4netns/cache",
  ]);
  assert.deepEqual(command(plan), [
    "/slirp4netns/deno",
    "run",
    "--no-prompt",
    "--cached-only",
    "--allow-ffi",
    "--allow-net",
    "https://jsr.io/@x/slirp4netns/0.1.0/mod.ts",
  ]);
  const withImport = launcherArgs({
    ...registry,
    program: { ...registry.program, allowImport: "127.0.0.1:4507" } as LaunchFacts["program"],
  });
  assert.ok(command(withImport).includes("--allow-import=127.0.0.1:4507"));
  assert.ok(!command(withImport).some((a) => a.startsWith("--allow-read")));
});

Deno.test("launcherArgs() carries a SLIRP4NETNS_SHIM shim in, and a compiled binary alone", () => {
  const withShim = launcherArgs({ ...facts, shimOverride: "/opt/shim.so", userns: undefined });
  assert.ok(!withShim.includes("--userns"));
  const shimAt = withShim.indexOf("/opt/shim.so");
  assert.deepEqual(withShim.slice(shimAt - 1, shimAt + 2), [
    "--bind",
    "/opt/shim.so",
    "/slirp4netns/shim.so",
  ]);
  assert.ok(withShim.includes("SLIRP4NETNS_SHIM=/slirp4netns/shim.so"));
  assert.ok(withShim.includes("--allow-env=SLIRP4NETNS_SHIM"));

  const compiled = launcherArgs({
    ...facts,
    program: { kind: "standalone" },
    runtime: "/usr/bin/slirp4netns",
  });
  assert.deepEqual(destinations(compiled), ["/slirp4netns/slirp4netns"]);
  assert.equal(compiled[compiled.indexOf("/usr/bin/slirp4netns") - 1], "--bind");
  const program = compiled.slice(compiled.indexOf("--") + 1);
  assert.deepEqual(program, [
    "/slirp4netns/slirp4netns",
    handoffArgument(facts.handoff),
    ...facts.args,
  ]);
  assert.ok(compiled.includes("--scratch"));
  assert.ok(compiled.includes("DENO_DIR=/slirp4netns/cache"));
});

Deno.test("remoteCachePath() names Deno's HTTP cache file: scheme, host and port, SHA-256 of the path", async () => {
  // echo -n /a.ts | sha256sum, the name Deno 2.9 gave http://127.0.0.1:4599/a.ts.
  assert.deepEqual(await remoteCachePath("http://127.0.0.1:4599/a.ts"), {
    dir: "remote/http/127.0.0.1_PORT4599",
    file: "remote/http/127.0.0.1_PORT4599/" +
      "d9d5d46de3e217f3b12e9c70d76a3765005bdb3ee5ad8d444fd35d8ed1254a6a",
  });
  assert.equal(
    (await remoteCachePath("https://jsr.io/@x/slirp4netns/0.1.0/mod.ts"))?.dir,
    "remote/https/jsr.io",
  );
  assert.equal(await remoteCachePath("file:///a.ts"), null);
});

Deno.test("denoDir() follows Deno: DENO_DIR (relative to the working directory), XDG_CACHE_HOME, HOME", () => {
  const home = "/home/me";
  assert.equal(denoDir({ DENO_DIR: "/tmp/d", XDG_CACHE_HOME: "/x", HOME: home }, "/w"), "/tmp/d");
  assert.equal(denoDir({ DENO_DIR: "d" }, "/work/"), "/work/d");
  assert.equal(denoDir({ XDG_CACHE_HOME: "/x/", HOME: home }, "/"), "/x/deno");
  assert.equal(denoDir({ XDG_CACHE_HOME: "relative", HOME: home }, "/"), "/home/me/.cache/deno");
  assert.equal(denoDir({ DENO_DIR: "", HOME: home }, "/"), "/home/me/.cache/deno");
  assert.equal(denoDir({}, "/"), null);
});
