/**
 * The command line as users and scripts meet it (reference §1): option errors with their exact
 * messages and exit codes, --help with every string Podman and RootlessKit grep for, --version.
 * No namespace is touched: the PID used cannot exist, so even a wrongly accepted option only
 * fails to find /proc/PID.
 */
import assert from "node:assert/strict";
import { matrix } from "../helpers/matrix.ts";
import { describeResult } from "../helpers/process.ts";
import { NO_SUCH_PID } from "../helpers/slirp.ts";

const P = NO_SUCH_PID;

interface OptionError {
  args: string[];
  /** Text stderr must contain. */
  message?: string;
  /** Whether the usage text follows on stdout. */
  usage: boolean;
}

const OPTION_ERRORS: OptionError[] = [
  { args: ["--cidr", "24", P, "tap0"], message: "invalid CIDR: 24", usage: false },
  { args: ["--cidr", "foo", P, "tap0"], message: "invalid CIDR: foo", usage: false },
  { args: ["--cidr", "10.0.2.0", P, "tap0"], message: "invalid CIDR: 10.0.2.0", usage: false },
  { args: ["--cidr", "fd5b::/64", P, "tap0"], message: "invalid CIDR: fd5b::/64", usage: false },
  {
    args: ["--cidr", "300.0.2.0/24", P, "tap0"],
    message: "invalid network address: 300.0.2.0",
    usage: false,
  },
  {
    args: ["--cidr", "10.0.2.100/24", P, "tap0"],
    message: "CIDR needs to be a network address like 10.0.2.0/24, not like 10.0.2.100/24",
    usage: false,
  },
  // The prefix is checked before the host bits.
  {
    args: ["--cidr", "10.0.2.100/26", P, "tap0"],
    message: "prefix length needs to be 1-25",
    usage: false,
  },
  {
    args: ["--cidr", "10.0.2.0/26", P, "tap0"],
    message: "prefix length needs to be 1-25",
    usage: false,
  },
  {
    args: ["--cidr=10.0.0.0/0", P, "tap0"],
    message: "prefix length needs to be 1-25",
    usage: false,
  },
  { args: ["abc", "tap0"], message: "PID must be a positive integer", usage: true },
  { args: ["0", "tap0"], message: "PID must be a positive integer", usage: true },
  { args: ["12abc", "tap0"], message: "PID must be a positive integer", usage: true },
  { args: [P], usage: true }, // No TAPNAME: usage only.
  { args: [], usage: true },
  {
    args: ["--mtu", "0", P, "tap0"],
    message: "MTU must be a positive integer (< 65522)",
    usage: true,
  },
  {
    args: ["--mtu=65522", P, "tap0"],
    message: "MTU must be a positive integer (< 65522)",
    usage: true,
  },
  {
    args: ["-m", "abc", P, "tap0"],
    message: "MTU must be a positive integer (< 65522)",
    usage: true,
  },
  {
    args: ["--macaddress", "0e:d4:18:d9:38:fb", P, "tap0"],
    message: "--macaddr cannot be specified when --configure or -c is not specified",
    usage: true,
  },
  {
    // The order on the command line does not matter: -c after --macaddress is fine, so this
    // fails on the MAC itself.
    args: ["--macaddress", "zz:00", "-c", P, "tap0"],
    message: `"zz:00" is an invalid MAC address.`,
    usage: false,
  },
  {
    args: ["-c", "--macaddress=0e:d4:18:d9:38:fb:00", P, "tap0"],
    message: "Is it too long?",
    usage: false,
  },
  {
    args: ["-c", "--macaddress", "zz:00", P, "tap0"],
    message:
      "macaddress has to be a valid MAC address (hex string, 6 bytes, each byte separated by a ':').",
    usage: false,
  },
  {
    args: ["--enable-s", P, "tap0"],
    message:
      "option '--enable-s' is ambiguous; possibilities: '--enable-sandbox' '--enable-seccomp'",
    usage: true,
  },
  { args: ["--bogus", P, "tap0"], message: "unrecognized option '--bogus'", usage: true },
  {
    args: ["-e", "abc", P, "tap0"],
    message: "exit-fd must be a non-negative integer",
    usage: true,
  },
  {
    args: ["--ready-fd=-1", P, "tap0"],
    message: "ready-fd must be a non-negative integer",
    usage: true,
  },
  {
    args: ["--userns-path=/nonexistent/userns", P, "tap0"],
    message: "userns path doesn't exist: /nonexistent/userns",
    usage: true,
  },
  {
    args: ["--netns-type=path", "/nonexistent/netns", "tap0"],
    message: "existing path expected when --netns-type=path: No such file or directory",
    usage: true,
  },
  {
    args: ["--target-type=foo", P, "tap0"],
    message: `--target-type must be either "netns" or "bess"`,
    usage: true,
  },
];

matrix("option errors print slirp4netns's message and exit 1", async (v, t) => {
  for (const error of OPTION_ERRORS) {
    await t.step(`slirp4netns ${error.args.join(" ")}`, async () => {
      const result = await v.runCommand(error.args, { timeoutMs: 20_000 });
      const why = describeResult(result);
      assert.equal(result.code, 1, why);
      if (error.message) {
        assert.ok(result.stderr.includes(error.message), `stderr lacks "${error.message}"\n${why}`);
      }
      if (error.usage) {
        assert.match(result.stdout, /^Usage: /m, `the usage text is not on stdout\n${why}`);
      }
    });
  }
});

/** Every string RootlessKit or Podman looks for in `--help` to detect features (reference §1.3). */
const HELP_STRINGS = [
  "--netns-type",
  "--cidr",
  "--disable-host-loopback",
  "--api-socket",
  "--enable-sandbox",
  "--enable-seccomp",
  "--mtu",
  "--outbound-addr",
  "--enable-ipv6",
];

matrix("--help and -h print the usage with every feature string, exit 0", async (v) => {
  for (const flag of ["--help", "-h"]) {
    const result = await v.runCommand([flag]);
    const why = describeResult(result);
    assert.equal(result.code, 0, why);
    assert.match(result.stdout, /^Usage: \S+ \[OPTION\]\.\.\. /, why);
    for (const text of HELP_STRINGS) {
      assert.ok(result.stdout.includes(text), `--help lacks ${text}\n${why}`);
    }
  }
});

matrix("--version and -v are machine-parsable, SLIRP_CONFIG_VERSION_MAX >= 4", async (v) => {
  for (const flag of ["--version", "-v"]) {
    const result = await v.runCommand([flag]);
    const why = describeResult(result);
    assert.equal(result.code, 0, why);
    assert.match(result.stdout, /^slirp4netns version \S+\n/, why);
    const max = result.stdout.match(/^SLIRP_CONFIG_VERSION_MAX: (\d+)$/m);
    assert.ok(max, `no SLIRP_CONFIG_VERSION_MAX line\n${why}`);
    assert.ok(Number(max[1]) >= 4, why);
  }
});
