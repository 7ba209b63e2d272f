import assert from "node:assert/strict";
import { handoffArgument } from "./handoff.ts";
import { launcherArgs, type LaunchFacts } from "./launch_plan.ts";

const facts: LaunchFacts = {
  runtime: "/usr/lib/node_modules/deno/deno",
  standalone: false,
  appRoot: "/home/me/slirp4netns",
  mainModule: "cli.ts",
  shimOverride: null,
  userns: "/proc/1234/ns/user",
  args: ["-c", "--enable-sandbox", "-a", "/run/user/1000/api.sock", "1234", "tap0"],
  handoff: {
    tapFd: 5,
    api: { fd: 6, dirFd: 7, name: "api.sock", dev: "40", ino: "99" },
  },
};

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
  const args = launcherArgs({
    ...facts,
    appRoot: "/root/src/s4n",
    runtime: "/root/.deno/bin/deno",
  });
  const destinations = args.flatMap((a, i) => args[i - 2] === "--bind" ? [a] : []);
  assert.deepEqual(destinations, ["/slirp4netns/deno", "/slirp4netns/app"]);
  const program = args.slice(args.indexOf("--") + 1, args.indexOf("--") + 7);
  assert.ok(program.every((a) => !/\/(root|home|var)\b/.test(a)), program.join(" "));
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

  const compiled = launcherArgs({ ...facts, standalone: true, runtime: "/usr/bin/slirp4netns" });
  const program = compiled.slice(compiled.indexOf("--") + 1);
  assert.deepEqual(program, [
    "/slirp4netns/slirp4netns",
    handoffArgument(facts.handoff),
    ...facts.args,
  ]);
  assert.ok(!compiled.includes("/slirp4netns/app"));
});
