// Error cases were checked against slirp4netns 1.2.0 (stdout, stderr and exit code); the
// differences are the ones documented in options.ts (no "be" missing, trailing newlines, ...).
import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import type { Config } from "../config.ts";
import { deriveAddresses } from "../config.ts";
import type { LogLevel } from "../log.ts";
import { formatIpv4 } from "../wire/address.ts";
import { type HostChecks, LONG_OPTIONS, parseCommandLine, type ParseOutcome } from "./options.ts";
import { usageText, versionText } from "./usage.ts";

const EXISTING = new Set(["/proc/1234/ns/user", "/proc/1234/ns/net", "/run/netns/x"]);
const host: HostChecks = {
  pathExists: (path) => EXISTING.has(path),
  interfaceIpv4: (name) =>
    ({ lo: "127.0.0.1", eth0: "192.168.1.5" } as Record<string, string>)[name] ?? null,
  interfaceIpv6: (name) => name === "eth0" ? "2001:DB8:0:0::5" : null,
};
const USAGE = usageText();

type Run = { config: Config; logLevel: LogLevel; stdoutLines: string[] };
type Exit = { code: number; stdout: string; stderr: string };

/** Parses a command line that must run. */
function run(...argv: string[]): Run {
  const outcome = parseCommandLine(argv, host);
  if (outcome.kind !== "run") throw new Error(`expected a run, got ${JSON.stringify(outcome)}`);
  return outcome;
}

function exitOf(...argv: string[]): Exit {
  const outcome: ParseOutcome = parseCommandLine(argv, host);
  if (outcome.kind !== "exit") throw new Error(`expected an exit, got ${JSON.stringify(outcome)}`);
  const { code, stdout, stderr } = outcome;
  return { code, stdout, stderr };
}

/** An error: its message on stderr, exit 1, and the usage text on stdout or not. */
function failure(message: string, usage: boolean, warnings = ""): Exit {
  return {
    code: 1,
    stdout: warnings + (usage ? USAGE : ""),
    stderr: message === "" ? "" : message + "\n",
  };
}

const DEFAULT_CONFIG: Config = {
  target: { kind: "pid", pid: 1234, tapName: "tap0" },
  configure: false,
  mtu: 1500,
  network: 0x0a000200,
  prefix: 24,
  disableHostLoopback: false,
  enableIpv6: false,
  enableSandbox: false,
  enableSeccomp: false,
  disableDns: false,
};

Deno.test("parseCommandLine() gives slirp4netns' defaults for PID TAPNAME", () => {
  deepStrictEqual(parseCommandLine(["1234", "tap0"], host), {
    kind: "run",
    config: DEFAULT_CONFIG,
    logLevel: "info",
    stdoutLines: [],
  });
});

Deno.test("parseCommandLine() reads every option into the configuration", () => {
  const { config, stdoutLines } = run(
    "-c",
    "-e",
    "10",
    "--ready-fd=11",
    "-m65520",
    "--cidr=10.0.135.128/25",
    "--disable-host-loopback",
    "--userns-path=/proc/1234/ns/user",
    "-a",
    "/tmp/api.sock",
    "-6",
    "--enable-sandbox",
    "--enable-seccomp",
    "--outbound-addr=10.1.2.3",
    "--outbound-addr6=fd00:0::1",
    "--disable-dns",
    "--macaddress=0e:d4:18:d9:38:fb",
    "--target-type=netns",
    "1234",
    "tap11",
  );
  deepStrictEqual(config, {
    target: { kind: "pid", pid: 1234, tapName: "tap11" },
    userNsPath: "/proc/1234/ns/user",
    configure: true,
    mtu: 65520,
    network: 0x0a008780,
    prefix: 25,
    macAddress: Uint8Array.of(0x0e, 0xd4, 0x18, 0xd9, 0x38, 0xfb),
    disableHostLoopback: true,
    readyFd: 11,
    exitFd: 10,
    apiSocket: "/tmp/api.sock",
    enableIpv6: true,
    enableSandbox: true,
    enableSeccomp: true,
    outboundAddr: "10.1.2.3",
    outboundAddr6: 0xfd00n << 112n | 1n,
    disableDns: true,
  });
  deepStrictEqual(stdoutLines, [
    "WARNING: Support for IPv6 is experimental",
    "WARNING: Support for seccomp is experimental",
    "WARNING: Support for --outbound-addr is experimental",
    "WARNING: Support for --outbound-addr6 is experimental",
  ]);
});

Deno.test("parseCommandLine() keeps the last value of a repeated option", () => {
  strictEqual(run("-m", "9000", "--mtu=4000", "1", "t").config.mtu, 4000);
  strictEqual(run("--cidr=10.0.3.0/24", "--cidr=10.0.4.0/24", "1", "t").config.network, 0x0a000400);
});

// --- The command lines of the upstream test scripts (reference §3.2) ---

Deno.test("parseCommandLine() accepts the cidr test's -c $child --cidr 10.0.135.128/25 tap11", () => {
  const { config } = run("-c", "1234", "--cidr", "10.0.135.128/25", "tap11");
  strictEqual(config.configure, true);
  deepStrictEqual(config.target, { kind: "pid", pid: 1234, tapName: "tap11" });
  strictEqual(formatIpv4(deriveAddresses(config.network, config.prefix).guest), "10.0.135.228");
});

Deno.test("parseCommandLine() rejects the cidr test's bad CIDRs without usage", () => {
  deepStrictEqual(exitOf("--cidr", "24", "1234", "tap11"), failure("invalid CIDR: 24", false));
  deepStrictEqual(exitOf("--cidr", "foo", "1234", "tap11"), failure("invalid CIDR: foo", false));
  deepStrictEqual(
    exitOf("--cidr", "10.0.2.0", "1234", "tap11"),
    failure("invalid CIDR: 10.0.2.0", false),
  );
  deepStrictEqual(
    exitOf("--cidr", "10.0.2.100/24", "1234", "tap11"),
    failure("CIDR needs to be a network address like 10.0.2.0/24, not like 10.0.2.100/24", false),
  );
  // The prefix is checked before the host bits.
  deepStrictEqual(
    exitOf("--cidr", "10.0.2.100/26", "1234", "tap11"),
    failure("prefix length needs to be 1-25", false),
  );
});

Deno.test("parseCommandLine() checks a CIDR's address and prefix as upstream", () => {
  deepStrictEqual(
    exitOf("--cidr", "300.0.2.0/24", "1", "t"),
    failure("invalid network address: 300.0.2.0", false),
  );
  deepStrictEqual(
    exitOf("--cidr", "010.0.2.0/24", "1", "t"),
    failure("invalid network address: 010.0.2.0", false),
  );
  deepStrictEqual(
    exitOf("--cidr", "10.0.2.0/0", "1", "t"),
    failure("prefix length needs to be 1-25", false),
  );
  deepStrictEqual(
    exitOf("--cidr", "10.0.2.0/024", "1", "t"),
    failure("invalid CIDR: 10.0.2.0/024", false),
  );
  deepStrictEqual(
    exitOf("--cidr", "fd5b::/64", "1", "t"),
    failure("invalid CIDR: fd5b::/64", false),
  );
  deepStrictEqual(
    exitOf("--cidr", "10.0.2.0/24\n", "1", "t"),
    failure("invalid CIDR: 10.0.2.0/24\n", false),
  );
  const { config } = run("--cidr", "10.0.0.0/8", "1", "t");
  deepStrictEqual([config.network, config.prefix], [0x0a000000, 8]);
  strictEqual(run("--cidr", "192.168.0.0/25", "1", "t").config.prefix, 25);
});

Deno.test("parseCommandLine() tolerates the exit-fd test's extra positional 10/dev/fd/63", () => {
  const { config, stdoutLines } = run("-e", "10", "1234", "tap11", "10/dev/fd/63");
  strictEqual(config.exitFd, 10);
  deepStrictEqual(config.target, { kind: "pid", pid: 1234, tapName: "tap11" });
  deepStrictEqual(stdoutLines, ["WARNING: too many arguments"]);
});

Deno.test("parseCommandLine() accepts the ready-fd, configure, macaddress and loopback tests", () => {
  strictEqual(run("-c", "-r", "10", "1234", "tap11").config.readyFd, 10);
  strictEqual(run("-c", "1234", "tap11").config.configure, true);
  deepStrictEqual(
    run("-c", "--macaddress", "0e:d4:18:d9:38:fb", "1234", "tap11").config.macAddress,
    Uint8Array.of(0x0e, 0xd4, 0x18, 0xd9, 0x38, 0xfb),
  );
  strictEqual(
    run("-c", "--disable-host-loopback", "1234", "tap11").config.disableHostLoopback,
    true,
  );
});

Deno.test("parseCommandLine() accepts the nspath test's --netns-type=path command lines", () => {
  deepStrictEqual(
    run("--userns-path=/proc/1234/ns/user", "--netns-type=path", "/proc/1234/ns/net", "tap11")
      .config,
    {
      ...DEFAULT_CONFIG,
      target: { kind: "path", netnsPath: "/proc/1234/ns/net", tapName: "tap11" },
      userNsPath: "/proc/1234/ns/user",
    },
  );
  deepStrictEqual(run("--netns-type=path", "/proc/1234/ns/net", "tap11").config.target, {
    kind: "path",
    netnsPath: "/proc/1234/ns/net",
    tapName: "tap11",
  });
});

Deno.test("parseCommandLine() accepts the upstream sandbox and seccomp command lines", () => {
  strictEqual(run("--ready-fd=3", "--enable-sandbox", "1234", "tap11").config.enableSandbox, true);
  const seccomp = run(
    "-c",
    "--enable-seccomp",
    "--userns-path=/proc/1234/ns/user",
    "1234",
    "tap11",
  );
  strictEqual(seccomp.config.enableSeccomp, true);
  deepStrictEqual(seccomp.stdoutLines, ["WARNING: Support for seccomp is experimental"]);
  strictEqual(
    run("--enable-sandbox", "--netns-type=path", "/proc/1234/ns/net", "tap11").config
      .enableSandbox,
    true,
  );
});

Deno.test("parseCommandLine() refuses none of the options --help offers", () => {
  const outcome = parseCommandLine(
    ["--disable-dns", "-6", "-a", "/a.sock", "--create-sandbox", "--enable-seccomp", "1", "t"],
    host,
  );
  strictEqual(outcome.kind, "run");
});

Deno.test("parseCommandLine() runs with -6 and --enable-ipv6, with the experimental warning", () => {
  for (const flag of ["-6", "--enable-ipv6", "-c6"]) {
    const outcome = parseCommandLine([flag, "1234", "tap0"], host);
    if (outcome.kind !== "run") throw new Error(`${flag}: expected a run, got ${outcome.kind}`);
    strictEqual(outcome.config.enableIpv6, true);
    deepStrictEqual(outcome.stdoutLines, ["WARNING: Support for IPv6 is experimental"]);
  }
});

// --- Positional arguments ---

Deno.test("parseCommandLine() prints only the usage when positionals are missing", () => {
  deepStrictEqual(exitOf(), failure("", true));
  deepStrictEqual(exitOf("1234"), failure("", true));
  deepStrictEqual(exitOf("-c", "1234"), failure("", true));
  deepStrictEqual(exitOf("--netns-type=tapfd"), failure("", true));
});

Deno.test("parseCommandLine() requires a positive integer PID", () => {
  for (const pid of ["0", "-1", "abc", "1x", "", "0x10", "2147483648", "1.5"]) {
    // After "--", so that "-1" is not read as an option.
    deepStrictEqual(
      exitOf("--", pid, "tap0"),
      failure("PID must be a positive integer", true),
      pid,
    );
  }
  deepStrictEqual(
    exitOf("--netns-type=pid", "abc", "tap0"),
    failure("PID must be a positive integer", true),
  );
  deepStrictEqual(exitOf("-1", "tap0"), failure("slirp4netns: invalid option -- '1'", true));
  // strtol accepts leading white space and a sign.
  deepStrictEqual(run(" 42", "tap0").config.target, { kind: "pid", pid: 42, tapName: "tap0" });
  deepStrictEqual(run("+42", "tap0").config.target, { kind: "pid", pid: 42, tapName: "tap0" });
});

Deno.test("parseCommandLine() prints the too-many warning before a PID error", () => {
  deepStrictEqual(
    exitOf("x", "tap0", "extra"),
    failure("PID must be a positive integer", true, "WARNING: too many arguments\n"),
  );
});

Deno.test("parseCommandLine() treats any --netns-type but pid and tapfd as path", () => {
  deepStrictEqual(run("--netns-type=foo", "/run/netns/x", "tap0").config.target, {
    kind: "path",
    netnsPath: "/run/netns/x",
    tapName: "tap0",
  });
  deepStrictEqual(run("--netns-type=", "/run/netns/x", "tap0").config.target.kind, "path");
  for (const type of ["path", "foo"]) {
    deepStrictEqual(
      exitOf(`--netns-type=${type}`, "/nonexistent", "tap0"),
      failure("existing path expected when --netns-type=path: No such file or directory", true),
    );
  }
});

Deno.test("parseCommandLine() takes one inherited fd with --netns-type=tapfd", () => {
  deepStrictEqual(run("--netns-type=tapfd", "5").config, {
    ...DEFAULT_CONFIG,
    target: { kind: "tapfd", fd: 5 },
  });
  strictEqual(run("--netns-type=tapfd", "0").config.target.kind, "tapfd");
  // -c is ignored: there is no tap name to configure.
  strictEqual(run("-c", "--netns-type=tapfd", "5").config.configure, false);
  deepStrictEqual(run("--netns-type=tapfd", "5", "tap0").stdoutLines, [
    "WARNING: too many arguments",
  ]);
  for (const fd of ["-1", "x", "5x"]) {
    deepStrictEqual(
      exitOf("--netns-type=tapfd", "--", fd),
      failure("TAPFD must be a file descriptor", true),
      fd,
    );
  }
});

// --- Per-option checks inside the getopt loop (all print the usage) ---

Deno.test("parseCommandLine() requires non-negative integers for -e and -r", () => {
  for (const fd of ["x", "-1", "1.5", "", "3x"]) {
    deepStrictEqual(
      exitOf("-e", fd, "1", "t"),
      failure("exit-fd must be a non-negative integer", true),
    );
    deepStrictEqual(
      exitOf("--ready-fd", fd, "1", "t"),
      failure("ready-fd must be a non-negative integer", true),
    );
  }
  strictEqual(run("-e0", "1", "t").config.exitFd, 0);
  strictEqual(run("--exit-fd= 7", "1", "t").config.exitFd, 7);
});

Deno.test("parseCommandLine() accepts MTUs from 68 to 65521", () => {
  strictEqual(run("-m", "68", "1", "t").config.mtu, 68);
  strictEqual(run("--mtu=65521", "1", "t").config.mtu, 65521);
  strictEqual(run("-m+9000", "1", "t").config.mtu, 9000);
  for (const mtu of ["0", "-1", "65522", "abc", "9000x", "", "99999999999"]) {
    deepStrictEqual(
      exitOf("-m", mtu, "1", "t"),
      failure("MTU must be a positive integer (< 65522)", true),
      mtu,
    );
  }
  for (const mtu of ["1", "67"]) {
    deepStrictEqual(exitOf("-m", mtu, "1", "t"), failure("MTU must be at least 68", true), mtu);
  }
});

Deno.test("parseCommandLine() checks --userns-path when it meets it", () => {
  deepStrictEqual(
    exitOf("--userns-path=/nonexistent", "1", "t"),
    failure("userns path doesn't exist: /nonexistent", true),
  );
  // Inside the loop, so the first bad option wins.
  deepStrictEqual(
    exitOf("--userns-path=/nonexistent", "--mtu=0"),
    failure("userns path doesn't exist: /nonexistent", true),
  );
  deepStrictEqual(
    exitOf("--mtu=0", "--userns-path=/nonexistent"),
    failure("MTU must be a positive integer (< 65522)", true),
  );
  strictEqual(
    run("--userns-path", "/proc/1234/ns/user", "1", "t").config.userNsPath,
    "/proc/1234/ns/user",
  );
});

Deno.test("parseCommandLine() reports getopt errors with the usage on stdout", () => {
  deepStrictEqual(
    exitOf("--bogus", "1", "t"),
    failure("slirp4netns: unrecognized option '--bogus'", true),
  );
  deepStrictEqual(exitOf("-x", "1", "t"), failure("slirp4netns: invalid option -- 'x'", true));
  deepStrictEqual(
    exitOf("1", "t", "-m"),
    failure("slirp4netns: option requires an argument -- 'm'", true),
  );
  deepStrictEqual(
    exitOf("1", "t", "--mtu"),
    failure("slirp4netns: option '--mtu' requires an argument", true),
  );
  deepStrictEqual(
    exitOf("--configure=yes", "1", "t"),
    failure("slirp4netns: option '--configure' doesn't allow an argument", true),
  );
  deepStrictEqual(
    exitOf("--enable-s", "1", "t"),
    failure(
      "slirp4netns: option '--enable-s' is ambiguous; possibilities: '--enable-sandbox' '--enable-seccomp'",
      true,
    ),
  );
});

Deno.test("parseCommandLine() prints the WARNING lines met before an error", () => {
  deepStrictEqual(
    exitOf("-6", "--bogus"),
    failure(
      "slirp4netns: unrecognized option '--bogus'",
      true,
      "WARNING: Support for IPv6 is experimental\n",
    ),
  );
  deepStrictEqual(
    exitOf("1", "--mtu", "9000", "t", "e1", "e2", "-m", "0"),
    failure("MTU must be a positive integer (< 65522)", true),
  );
});

Deno.test("parseCommandLine() prints deprecation warnings for the old option names", () => {
  const loopback = run("--no-host-loopback", "1", "t");
  strictEqual(loopback.config.disableHostLoopback, true);
  deepStrictEqual(loopback.stdoutLines, [
    "WARNING: --no-host-loopback is deprecated and will be removed in future releases, please use --disable-host-loopback instead.",
  ]);
  const sandbox = run("--create-sandbox", "1", "t");
  strictEqual(sandbox.config.enableSandbox, true);
  deepStrictEqual(sandbox.stdoutLines, [
    "WARNING: --create-sandbox is deprecated and will be removed in future releases, please use --enable-sandbox instead.",
  ]);
});

Deno.test("parseCommandLine() prints parse-time warnings in command-line order", () => {
  deepStrictEqual(
    run("--enable-seccomp", "1", "-6", "t", "x", "--no-host-loopback").stdoutLines,
    [
      "WARNING: Support for seccomp is experimental",
      "WARNING: Support for IPv6 is experimental",
      "WARNING: --no-host-loopback is deprecated and will be removed in future releases, please use --disable-host-loopback instead.",
      "WARNING: too many arguments",
    ],
  );
});

// --- Help and version ---

Deno.test("parseCommandLine() prints help and version on stdout with exit 0", () => {
  deepStrictEqual(exitOf("-h"), { code: 0, stdout: USAGE, stderr: "" });
  deepStrictEqual(exitOf("--help"), { code: 0, stdout: USAGE, stderr: "" });
  deepStrictEqual(exitOf("--he"), { code: 0, stdout: USAGE, stderr: "" });
  deepStrictEqual(exitOf("-v"), { code: 0, stdout: versionText(), stderr: "" });
  deepStrictEqual(exitOf("--version", "1", "t"), { code: 0, stdout: versionText(), stderr: "" });
  // Processed in order: whatever comes first wins.
  deepStrictEqual(exitOf("-vh").stdout, versionText());
  deepStrictEqual(exitOf("-h", "--bogus"), { code: 0, stdout: USAGE, stderr: "" });
  deepStrictEqual(
    exitOf("--bogus", "-h"),
    failure("slirp4netns: unrecognized option '--bogus'", true),
  );
  deepStrictEqual(
    exitOf("--mtu=0", "-h"),
    failure("MTU must be a positive integer (< 65522)", true),
  );
  deepStrictEqual(exitOf("-6", "-h"), {
    code: 0,
    stdout: "WARNING: Support for IPv6 is experimental\n" + USAGE,
    stderr: "",
  });
});

Deno.test("parseCommandLine() names the program as told", () => {
  const outcome = parseCommandLine(["-x"], host, { programName: "/usr/bin/slirp4netns" });
  deepStrictEqual(outcome, {
    kind: "exit",
    code: 1,
    stdout: usageText("/usr/bin/slirp4netns"),
    stderr: "/usr/bin/slirp4netns: invalid option -- 'x'\n",
  });
});

// --- Checks after the loop ---

Deno.test("parseCommandLine() allows --macaddress only with -c, in any order", () => {
  const message = "--macaddr cannot be specified when --configure or -c is not specified";
  deepStrictEqual(exitOf("--macaddress=0e:d4:18:d9:38:fb", "1", "t"), failure(message, true));
  deepStrictEqual(exitOf("1", "t", "--macaddress=zz"), failure(message, true));
  strictEqual(run("--macaddress=0e:d4:18:d9:38:fb", "1", "t", "-c").config.macAddress?.length, 6);
  strictEqual(run("-c", "--mac=0e:d4:18:d9:38:fb", "1", "t").config.macAddress?.length, 6);
});

Deno.test('parseCommandLine() parses MACs as sscanf("%x") fields, up to six', () => {
  const mac = (text: string) => run("-c", `--macaddress=${text}`, "1", "t").config.macAddress;
  deepStrictEqual(mac("0E:D4:18:D9:38:FB"), Uint8Array.of(0x0e, 0xd4, 0x18, 0xd9, 0x38, 0xfb));
  deepStrictEqual(mac("0e:d4"), Uint8Array.of(0x0e, 0xd4));
  deepStrictEqual(mac("e"), Uint8Array.of(0x0e));
  deepStrictEqual(
    mac("0x0e: d4:+18:000d9:38:fb"),
    Uint8Array.of(0x0e, 0xd4, 0x18, 0xd9, 0x38, 0xfb),
  );
  // sscanf stops at the first non-hex character of a field.
  deepStrictEqual(mac("0ez:12"), Uint8Array.of(0x0e, 0x12));
  deepStrictEqual(mac("0e-d4-18"), Uint8Array.of(0x0e));
  deepStrictEqual(mac("0x"), Uint8Array.of(0));
  deepStrictEqual(mac("-0"), Uint8Array.of(0));
});

Deno.test("parseCommandLine() rejects invalid MACs without usage", () => {
  const tail =
    "macaddress has to be a valid MAC address (hex string, 6 bytes, each byte separated by a ':').";
  for (const text of ["zz", "", "0e::d4", "0e:d4:", "100", "-1", ":0e", "0e:1ff"]) {
    deepStrictEqual(
      exitOf("-c", `--macaddress=${text}`, "1", "t"),
      failure(`"${text}" is an invalid MAC address.\n${tail}`, false),
      text,
    );
  }
  deepStrictEqual(
    exitOf("-c", "--macaddress=0e:d4:18:d9:38:fb:11", "1", "t"),
    failure(`"0e:d4:18:d9:38:fb:11" is an invalid MAC address.  Is it too long?\n${tail}`, false),
  );
  deepStrictEqual(
    exitOf("-c", "--macaddress=0e:d4:18:d9:38:fb:", "1", "t"),
    failure(`"0e:d4:18:d9:38:fb:" is an invalid MAC address.  Is it too long?\n${tail}`, false),
  );
});

Deno.test("parseCommandLine() takes --target-type=bess with one SOCKETPATH and warns", () => {
  const outcome = run("--target-type=bess", "-a", "/tmp/api.sock", "/tmp/bess.sock");
  deepStrictEqual(outcome.config.target, { kind: "bess", socketPath: "/tmp/bess.sock" });
  strictEqual(outcome.config.configure, false);
  strictEqual(outcome.config.apiSocket, "/tmp/api.sock");
  deepStrictEqual(outcome.stdoutLines, ["WARNING: BESS mode is experimental"]);
  // The option may follow the positional argument (getopt permutes).
  deepStrictEqual(run("/tmp/b.sock", "--target-type", "bess").config.target, {
    kind: "bess",
    socketPath: "/tmp/b.sock",
  });
});

Deno.test("parseCommandLine() --target-type=bess: positional count and conflicts", () => {
  const warning = "WARNING: BESS mode is experimental\n";
  deepStrictEqual(
    exitOf("--target-type=bess", "/tmp/a.sock", "/tmp/b.sock"),
    failure("too many arguments", true, warning),
  );
  deepStrictEqual(exitOf("--target-type=bess"), {
    code: 1,
    stdout: warning + USAGE,
    stderr: "",
  });
  deepStrictEqual(
    exitOf("--target-type=bess", "-c", "/tmp/a.sock"),
    failure("--configure conflicts with --target-type=bess", true, warning),
  );
  deepStrictEqual(
    exitOf("--target-type=bess", "--netns-type=path", "/tmp/a.sock"),
    failure("--netns-type conflicts with --target-type=bess", true, warning),
  );
  deepStrictEqual(
    exitOf("--userns-path=/proc/1234/ns/user", "--target-type=bess", "/tmp/a.sock"),
    failure("--userns-path conflicts with --target-type=bess", true, warning),
  );
  // -c wins over the others, as it is checked first.
  deepStrictEqual(
    exitOf("--netns-type=path", "-c", "--target-type=bess", "/tmp/a.sock"),
    failure("--configure conflicts with --target-type=bess", true, warning),
  );
});

Deno.test("parseCommandLine() refuses unknown target types", () => {
  deepStrictEqual(
    exitOf("--target-type=foo", "1", "t"),
    failure('--target-type must be either "netns" or "bess"', true),
  );
  strictEqual(run("--target-type=netns", "1", "t").config.target.kind, "pid");
});

Deno.test("parseCommandLine() checks the MAC before the target type and the positionals", () => {
  deepStrictEqual(
    exitOf("--macaddress=x", "--target-type=foo"),
    failure("--macaddr cannot be specified when --configure or -c is not specified", true),
  );
  deepStrictEqual(
    exitOf("--target-type=foo"),
    failure('--target-type must be either "netns" or "bess"', true),
  );
});

Deno.test("parseCommandLine() checks the CIDR before outbound addresses and the MAC", () => {
  deepStrictEqual(
    exitOf("-c", "--macaddress=zz", "--outbound-addr=nope", "--cidr=x", "1", "t"),
    failure("invalid CIDR: x", false, "WARNING: Support for --outbound-addr is experimental\n"),
  );
  strictEqual(
    exitOf("-c", "--macaddress=zz", "--outbound-addr=nope", "1", "t").stderr,
    "outbound-addr has to be valid ipv4 address or interface name.\n",
  );
});

// --- Outbound addresses ---

Deno.test("parseCommandLine() takes --outbound-addr as an IPv4 literal or an interface name", () => {
  strictEqual(run("--outbound-addr=127.0.0.1", "1", "t").config.outboundAddr, "127.0.0.1");
  strictEqual(run("--outbound-addr=eth0", "1", "t").config.outboundAddr, "192.168.1.5");
  strictEqual(run("--outbound-addr", "lo", "1", "t").config.outboundAddr, "127.0.0.1");
  for (const text of ["nonexistent0", "1.2.3", "", "::1"]) {
    deepStrictEqual(
      exitOf(`--outbound-addr=${text}`, "1", "t"),
      failure(
        "outbound-addr has to be valid ipv4 address or interface name.",
        false,
        "WARNING: Support for --outbound-addr is experimental\n",
      ),
      text,
    );
  }
});

Deno.test("parseCommandLine() takes --outbound-addr6 as an IPv6 literal or its own interface", () => {
  strictEqual(
    run("--outbound-addr6=2001:DB8::0:1", "1", "t").config.outboundAddr6,
    0x2001_0db8n << 96n | 1n,
  );
  // Upstream looks up --outbound-addr's value here; we look up the name given.
  strictEqual(
    run("--outbound-addr6=eth0", "1", "t").config.outboundAddr6,
    0x2001_0db8n << 96n | 5n,
  );
  const refused = failure(
    "outbound-addr6 has to be valid ipv6 address or interface name.",
    false,
    "WARNING: Support for --outbound-addr6 is experimental\n",
  );
  deepStrictEqual(exitOf("--outbound-addr6=lo", "1", "t"), refused);
  deepStrictEqual(exitOf("--outbound-addr6=10.0.2.2", "1", "t"), refused);
  const noLookup = parseCommandLine(["--outbound-addr6=eth0", "1", "t"], {
    pathExists: () => true,
    interfaceIpv4: () => "10.0.0.1",
  });
  strictEqual(noLookup.kind === "exit" && noLookup.stderr, refused.stderr);
});

// --- Our options ---

Deno.test("parseCommandLine() sets the log level with --debug and --log-level", () => {
  strictEqual(run("1", "t").logLevel, "info");
  strictEqual(run("--debug", "1", "t").logLevel, "debug");
  strictEqual(run("--de", "1", "t").logLevel, "debug");
  for (const level of ["error", "warn", "info", "debug", "trace"]) {
    strictEqual(run(`--log-level=${level}`, "1", "t").logLevel, level);
  }
  strictEqual(run("--log=trace", "1", "t").logLevel, "trace");
  strictEqual(run("--debug", "--log-level", "warn", "1", "t").logLevel, "warn");
  deepStrictEqual(
    exitOf("--log-level=verbose", "1", "t"),
    failure("log-level must be one of error, warn, info, debug, trace", true),
  );
});

Deno.test("parseCommandLine() takes --pcap=FILE, abbreviated too, and nothing without it", () => {
  strictEqual(run("1", "t").config.pcap, undefined);
  strictEqual(run("--pcap=/tmp/x.pcap", "1", "t").config.pcap, "/tmp/x.pcap");
  strictEqual(run("--pc", "/tmp/y.pcap", "1", "t").config.pcap, "/tmp/y.pcap");
  strictEqual(run("1", "--pcap", "z.pcap", "t").config.pcap, "z.pcap");
  strictEqual(exitOf("1", "t", "--pcap").code, 1);
});

Deno.test("parseCommandLine() keeps every abbreviation slirp4netns accepts", () => {
  const ours = ["debug", "log-level", "pcap"];
  const upstream = LONG_OPTIONS.filter((o) => !ours.includes(o.name));
  for (const option of upstream) {
    for (let length = 1; length <= option.name.length; length++) {
      const prefix = option.name.slice(0, length);
      const candidates = upstream.filter((o) => o.name.startsWith(prefix));
      const exact = upstream.some((o) => o.name === prefix);
      if (!exact && candidates.length > 1) continue; // ambiguous upstream too
      const matching = LONG_OPTIONS.filter((o) => o.name.startsWith(prefix));
      ok(exact || matching.length === 1, `--${prefix} would become ambiguous`);
    }
  }
  // A few that users write, from the reference.
  strictEqual(run("--api=/x.sock", "1", "t").config.apiSocket, "/x.sock");
  strictEqual(run("--disable-host", "1", "t").config.disableHostLoopback, true);
  strictEqual(run("--conf", "1", "t").config.configure, true);
  strictEqual(run("--ready=3", "1", "t").config.readyFd, 3);
  strictEqual(run("--netns=path", "/run/netns/x", "t").config.target.kind, "path");
  strictEqual(run("--disable-d", "1", "t").config.disableDns, true);
});

Deno.test("parseCommandLine() lets -- end the options before the positionals", () => {
  deepStrictEqual(run("-c", "--", "1234", "tap0").config.target, {
    kind: "pid",
    pid: 1234,
    tapName: "tap0",
  });
  deepStrictEqual(exitOf("--", "-1", "tap0"), failure("PID must be a positive integer", true));
});
