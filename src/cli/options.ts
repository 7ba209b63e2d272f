/**
 * The slirp4netns 1.3 command line: options → `Config`, or the exact text and exit code slirp4netns
 * would produce. Read §1 of the slirp4netns reference (and upstream `main.c`: `parse_args`,
 * `parse_cidr`, `slirp4netns_config_from_options`) before changing the order of any check here:
 * scripts depend on which message wins and on whether the usage text follows it.
 *
 * Pure apart from the injected `HostChecks`: it never prints and never exits. Stages, in upstream
 * order: the getopt loop (per-option checks, parse-time WARNING lines, -h/-v), checks after the loop
 * (MAC needs -c, target type, positional arguments), then the configuration (CIDR, outbound
 * addresses, MAC), then the options this implementation does not support yet.
 */
import { type Config, DEFAULTS, type TapTarget } from "../config.ts";
import { LEVELS, type LogLevel } from "../log.ts";
import { formatIpv4, parseIpv4, parseIpv6, prefixToMask } from "../wire/address.ts";
import { getoptLong, type LongOption, type ParsedOption } from "./getopt.ts";
import { usageText, versionText } from "./usage.ts";

/** Host facts the command line depends on; system calls in production, fakes in tests. */
export interface HostChecks {
  /** `access(path, F_OK) == 0`. */
  pathExists(path: string): boolean;
  /** The first IPv4 address of interface `name` (getifaddrs order), dotted quad; null if none. */
  interfaceIpv4(name: string): string | null;
  /**
   * The first IPv6 address of interface `name` that is not link-local (getifaddrs order); null
   * if none. Optional: without it `--outbound-addr6` accepts only an IPv6 literal.
   */
  interfaceIpv6?(name: string): string | null;
}

/** What to do after parsing: run with a configuration, or exit with the given output. */
export type ParseOutcome =
  /** `stdoutLines`: parse-time WARNING lines, in order, to print before anything else. */
  | { kind: "run"; config: Config; logLevel: LogLevel; stdoutLines: string[] }
  /** Help, version and every error. The usage text goes to stdout, as slirp4netns does. */
  | { kind: "exit"; code: number; stdout: string; stderr: string };

/** glibc `getopt_long` short option string of slirp4netns. */
const SHORT_OPTIONS = "ce:r:m:a:6hv";

/**
 * slirp4netns' long option table, in its order (glibc lists ambiguous candidates in table order),
 * then ours. `--debug` and `--log-level` share no prefix with an upstream option other than `--d`,
 * which is already ambiguous upstream (`--disable-host-loopback`, `--disable-dns`), so every
 * abbreviation slirp4netns accepts still works.
 */
export const LONG_OPTIONS: readonly LongOption[] = [
  { name: "configure", hasArg: "none", id: "c" },
  { name: "exit-fd", hasArg: "required", id: "e" },
  { name: "ready-fd", hasArg: "required", id: "r" },
  { name: "mtu", hasArg: "required", id: "m" },
  { name: "cidr", hasArg: "required", id: "cidr" },
  { name: "disable-host-loopback", hasArg: "none", id: "disable-host-loopback" },
  { name: "no-host-loopback", hasArg: "none", id: "no-host-loopback" },
  { name: "netns-type", hasArg: "required", id: "netns-type" },
  { name: "userns-path", hasArg: "required", id: "userns-path" },
  { name: "api-socket", hasArg: "required", id: "a" },
  { name: "enable-ipv6", hasArg: "none", id: "6" },
  { name: "enable-sandbox", hasArg: "none", id: "enable-sandbox" },
  { name: "create-sandbox", hasArg: "none", id: "create-sandbox" },
  { name: "enable-seccomp", hasArg: "none", id: "enable-seccomp" },
  { name: "help", hasArg: "none", id: "h" },
  { name: "version", hasArg: "none", id: "v" },
  { name: "outbound-addr", hasArg: "required", id: "outbound-addr" },
  { name: "outbound-addr6", hasArg: "required", id: "outbound-addr6" },
  { name: "disable-dns", hasArg: "none", id: "disable-dns" },
  { name: "macaddress", hasArg: "required", id: "macaddress" },
  { name: "target-type", hasArg: "required", id: "target-type" },
  // Ours.
  { name: "debug", hasArg: "none", id: "debug" },
  { name: "log-level", hasArg: "required", id: "log-level" },
  { name: "pcap", hasArg: "required", id: "pcap" },
];

/** The smallest MTU we accept: IPv4's minimum link MTU (RFC 791), which Linux and libslirp enforce. */
export const MTU_MIN = 68;
/** libslirp `IF_MTU_MAX`. */
export const MTU_MAX = 65521;
const PREFIX_MIN = 1;
/** Longer prefixes cannot hold the recommended guest address N+100. */
const PREFIX_MAX = 25;
const DEFAULT_CIDR = "10.0.2.0/24";

/** The options as given, before the configuration is derived (upstream `struct options`). */
interface GivenOptions {
  configure: boolean;
  exitFd?: number;
  readyFd?: number;
  mtu: number;
  cidr?: string;
  disableHostLoopback: boolean;
  netnsType?: string;
  userNsPath?: string;
  apiSocket?: string;
  enableIpv6: boolean;
  enableSandbox: boolean;
  enableSeccomp: boolean;
  outboundAddr?: string;
  outboundAddr6?: string;
  disableDns: boolean;
  macAddress?: string;
  targetType?: string;
  logLevel: LogLevel;
  pcap?: string;
}

/** A reason to stop: messages for stderr, and whether the usage text follows on stdout. */
interface Stop {
  stop: true;
  stderr: string[];
  usage: boolean;
  /** Overrides the exit code (help and version exit 0). */
  code?: number;
  /** Overrides what follows the WARNING lines on stdout (the help or version text). */
  stdout?: string;
}

const stop = (stderr: string | string[], usage: boolean): Stop => ({
  stop: true,
  stderr: typeof stderr === "string" ? [stderr] : stderr,
  usage,
});

function isStop(value: unknown): value is Stop {
  return typeof value === "object" && value !== null && (value as Stop).stop === true;
}

/**
 * `strtol(text, &end, 10)` with `*end == '\0'`, limited to a C `int`: optional leading white space
 * and sign, then decimal digits only. Unlike C, the empty string is rejected instead of read as 0.
 */
function parseCInt(text: string): number | null {
  const match = /^[ \t\n\v\f\r]*([+-]?[0-9]+)$/.exec(text);
  if (match === null) return null;
  const value = Number(match[1]);
  if (value < -0x80000000 || value > 0x7fffffff) return null;
  return value === 0 ? 0 : value; // no -0
}

/** One step of the getopt loop: the per-option check and its side effects, as upstream's `switch`. */
function applyOption(
  given: GivenOptions,
  option: ParsedOption,
  stdout: string[],
  host: HostChecks,
  programName: string,
): Stop | undefined {
  const value = option.value ?? "";
  switch (option.id) {
    case "c":
      given.configure = true;
      return;
    case "e": {
      const fd = parseCInt(value);
      if (fd === null || fd < 0) return stop("exit-fd must be a non-negative integer", true);
      given.exitFd = fd;
      return;
    }
    case "r": {
      const fd = parseCInt(value);
      if (fd === null || fd < 0) return stop("ready-fd must be a non-negative integer", true);
      given.readyFd = fd;
      return;
    }
    case "m": {
      const mtu = parseCInt(value);
      if (mtu === null || mtu <= 0 || mtu > MTU_MAX) {
        return stop("MTU must be a positive integer (< 65522)", true);
      }
      // Not in slirp4netns, which accepts 1..67 and then fails later (kernel EINVAL with -c, a
      // libslirp assertion without).
      if (mtu < MTU_MIN) return stop(`MTU must be at least ${MTU_MIN}`, true);
      given.mtu = mtu;
      return;
    }
    case "cidr":
      given.cidr = value;
      return;
    case "no-host-loopback":
      stdout.push(
        "WARNING: --no-host-loopback is deprecated and will be removed in future releases, " +
          "please use --disable-host-loopback instead.",
      );
      given.disableHostLoopback = true;
      return;
    case "disable-host-loopback":
      given.disableHostLoopback = true;
      return;
    case "netns-type":
      given.netnsType = value;
      return;
    case "userns-path":
      // Checked at once, inside the loop, as upstream does.
      if (!host.pathExists(value)) return stop(`userns path doesn't exist: ${value}`, true);
      given.userNsPath = value;
      return;
    case "a":
      given.apiSocket = value;
      return;
    case "6":
      given.enableIpv6 = true;
      stdout.push("WARNING: Support for IPv6 is experimental");
      return;
    case "create-sandbox":
      stdout.push(
        "WARNING: --create-sandbox is deprecated and will be removed in future releases, " +
          "please use --enable-sandbox instead.",
      );
      given.enableSandbox = true;
      return;
    case "enable-sandbox":
      given.enableSandbox = true;
      return;
    case "enable-seccomp":
      stdout.push("WARNING: Support for seccomp is experimental");
      given.enableSeccomp = true;
      return;
    case "h":
      return { stop: true, stderr: [], usage: false, code: 0, stdout: usageText(programName) };
    case "v":
      return { stop: true, stderr: [], usage: false, code: 0, stdout: versionText() };
    case "outbound-addr":
      stdout.push("WARNING: Support for --outbound-addr is experimental");
      given.outboundAddr = value;
      return;
    case "outbound-addr6":
      stdout.push("WARNING: Support for --outbound-addr6 is experimental");
      given.outboundAddr6 = value;
      return;
    case "disable-dns":
      given.disableDns = true;
      return;
    case "macaddress":
      given.macAddress = value;
      return;
    case "target-type":
      given.targetType = value;
      if (value === "bess") stdout.push("WARNING: BESS mode is experimental");
      return;
    case "debug":
      given.logLevel = "debug";
      return;
    case "log-level":
      if (!(LEVELS as readonly string[]).includes(value)) {
        return stop(`log-level must be one of ${LEVELS.join(", ")}`, true);
      }
      given.logLevel = value as LogLevel;
      return;
    case "pcap":
      given.pcap = value;
      return;
  }
  // Unreachable: getoptLong reports only ids from LONG_OPTIONS and SHORT_OPTIONS.
  return stop(`${programName}: unhandled option ${option.id}`, true);
}

/**
 * The positional arguments (reference §1.1): `PID TAPNAME`, `PATH TAPNAME` with any
 * `--netns-type` other than pid or tapfd, or `FD` with `--netns-type=tapfd`. Extra arguments are
 * only a warning.
 */
function resolveTarget(
  given: GivenOptions,
  positionals: readonly string[],
  stdout: string[],
  host: HostChecks,
): TapTarget | Stop {
  const type = given.netnsType ?? "pid";
  const needed = type === "tapfd" ? 1 : 2;
  if (positionals.length < needed) return stop([], true);
  if (positionals.length > needed) {
    // "not an error, for preventing potential compatibility issue"
    stdout.push("WARNING: too many arguments");
  }
  const first = positionals[0];
  if (type === "tapfd") {
    const fd = parseCInt(first);
    // Upstream says "TAPFD must a file descriptor"; the missing "be" is restored here.
    if (fd === null || fd < 0) return stop("TAPFD must be a file descriptor", true);
    return { kind: "tapfd", fd };
  }
  if (type === "pid") {
    const pid = parseCInt(first);
    if (pid === null || pid <= 0) return stop("PID must be a positive integer", true);
    return { kind: "pid", pid, tapName: positionals[1] };
  }
  // Any other value, even a typo, means "path", as upstream.
  if (!host.pathExists(first)) {
    return stop("existing path expected when --netns-type=path: No such file or directory", true);
  }
  return { kind: "path", netnsPath: first, tapName: positionals[1] };
}

/**
 * `--target-type=bess SOCKETPATH` (reference §1.2): exactly one positional argument, and none of
 * the options that only make sense with a network namespace.
 */
function resolveBessTarget(given: GivenOptions, positionals: readonly string[]): TapTarget | Stop {
  if (given.configure) return stop("--configure conflicts with --target-type=bess", true);
  if (given.netnsType !== undefined) {
    return stop("--netns-type conflicts with --target-type=bess", true);
  }
  if (given.userNsPath !== undefined) {
    return stop("--userns-path conflicts with --target-type=bess", true);
  }
  if (positionals.length < 1) return stop([], true);
  // Unlike the netns target, an extra argument is an error here.
  if (positionals.length > 1) return stop("too many arguments", true);
  return { kind: "bess", socketPath: positionals[0] };
}

/** Upstream `parse_cidr`: the regex, then inet_pton, then the prefix range, then the host bits. */
function parseCidr(text: string): { network: number; prefix: number } | Stop {
  const match = /^(([0-9]{1,3}\.){3}[0-9]{1,3})\/([0-9]{1,2})$/.exec(text);
  if (match === null) return stop(`invalid CIDR: ${text}`, false);
  const network = parseIpv4(match[1]);
  if (network === null) return stop(`invalid network address: ${match[1]}`, false);
  const prefix = Number(match[3]);
  if (prefix < PREFIX_MIN || prefix > PREFIX_MAX) {
    return stop(`prefix length needs to be ${PREFIX_MIN}-${PREFIX_MAX}`, false);
  }
  if ((network & prefixToMask(prefix)) >>> 0 !== network) {
    return stop(
      "CIDR needs to be a network address like 10.0.2.0/24, not like 10.0.2.100/24",
      false,
    );
  }
  return { network, prefix };
}

/** `sscanf(text, "%x")`: white space, a sign, an optional 0x, hex digits; trailing text ignored. */
function scanHex(text: string): number | null {
  const match = /^[ \t\n\v\f\r]*([+-]?)(?:0[xX](?=[0-9a-fA-F]))?([0-9a-fA-F]+)/.exec(text);
  if (match === null) return null;
  const magnitude = parseInt(match[2], 16);
  return match[1] === "-" ? -magnitude : magnitude;
}

/**
 * Upstream `slirp4netns_macaddr_hexstring_to_data`: up to six `:`-separated `%x` fields of 0..255.
 * Fewer fields give a shorter (partial) MAC; a seventh is an error.
 */
function parseMac(text: string): Uint8Array | Stop {
  const invalid = (detail: string) =>
    stop([
      `"${text}" is an invalid MAC address.${detail}`,
      "macaddress has to be a valid MAC address (hex string, 6 bytes, each byte separated by a ':').",
    ], false);
  const bytes: number[] = [];
  // `colon` is upstream's macaddr_ptr: the start of the text, then the ':' before each field.
  let colon: number | null = 0;
  while (colon !== null && bytes.length < 6) {
    const start = bytes.length === 0 ? 0 : colon + 1;
    const byte = scanHex(text.slice(start));
    if (byte === null || byte < 0 || byte > 255) return invalid("");
    bytes.push(byte);
    const next = text.indexOf(":", start);
    colon = next < 0 ? null : next;
  }
  if (colon !== null) return invalid("  Is it too long?");
  return Uint8Array.from(bytes);
}

/** `--outbound-addr`: an IPv4 literal, else the first IPv4 address of the interface so named. */
function resolveOutboundAddr(text: string, host: HostChecks): string | Stop {
  const literal = parseIpv4(text);
  if (literal !== null) return formatIpv4(literal);
  const fromInterface = host.interfaceIpv4(text);
  const address = fromInterface === null ? null : parseIpv4(fromInterface);
  if (address === null) {
    return stop("outbound-addr has to be valid ipv4 address or interface name.", false);
  }
  return formatIpv4(address);
}

/**
 * `--outbound-addr6`: an IPv6 literal, else the first IPv6 address of the interface so named (not
 * a link-local one, see `HostChecks.interfaceIpv6`). Upstream looks the name up in
 * `--outbound-addr`'s value instead (a bug) and then fails with `--outbound-addr`'s misspelt
 * message; this one names the option given.
 */
function resolveOutboundAddr6(text: string, host: HostChecks): bigint | Stop {
  const literal = parseIpv6(text);
  if (literal !== null) return literal;
  const fromInterface = host.interfaceIpv6?.(text) ?? null;
  const address = fromInterface === null ? null : parseIpv6(fromInterface);
  if (address === null) {
    return stop("outbound-addr6 has to be valid ipv6 address or interface name.", false);
  }
  return address;
}

/** Upstream `slirp4netns_config_from_options`: CIDR, outbound addresses, MAC, in that order. */
function buildConfig(given: GivenOptions, target: TapTarget, host: HostChecks): Config | Stop {
  const cidr = parseCidr(given.cidr ?? DEFAULT_CIDR);
  if (isStop(cidr)) return cidr;
  const config: Config = {
    target,
    // With a tap fd there is no tap name to configure: upstream ignores -c silently.
    configure: target.kind === "tapfd" || target.kind === "bess" ? false : given.configure,
    mtu: given.mtu,
    network: cidr.network,
    prefix: cidr.prefix,
    disableHostLoopback: given.disableHostLoopback,
    enableIpv6: given.enableIpv6,
    enableSandbox: given.enableSandbox,
    enableSeccomp: given.enableSeccomp,
    disableDns: given.disableDns,
  };
  if (given.userNsPath !== undefined) config.userNsPath = given.userNsPath;
  if (given.readyFd !== undefined) config.readyFd = given.readyFd;
  if (given.exitFd !== undefined) config.exitFd = given.exitFd;
  if (given.apiSocket !== undefined) config.apiSocket = given.apiSocket;
  if (given.pcap !== undefined) config.pcap = given.pcap;
  if (given.outboundAddr !== undefined) {
    const address = resolveOutboundAddr(given.outboundAddr, host);
    if (isStop(address)) return address;
    config.outboundAddr = address;
  }
  if (given.outboundAddr6 !== undefined) {
    const address = resolveOutboundAddr6(given.outboundAddr6, host);
    if (isStop(address)) return address;
    config.outboundAddr6 = address;
  }
  if (given.macAddress !== undefined) {
    const mac = parseMac(given.macAddress);
    if (isStop(mac)) return mac;
    config.macAddress = mac;
  }
  return config;
}

/** Settings of `parseCommandLine`. */
export interface ParseSettings {
  /** argv[0] as slirp4netns prints it in messages and the usage line; default "slirp4netns". */
  programName?: string;
}

/**
 * Parses a slirp4netns command line (`argv` without the program name).
 *
 * @example
 * ```ts
 * import { parseCommandLine } from "./options.ts";
 * const host = { pathExists: () => true, interfaceIpv4: () => null };
 * const outcome = parseCommandLine(["-c", "1234", "--cidr", "10.0.135.128/25", "tap11"], host);
 * if (outcome.kind === "run") console.log(outcome.config.network.toString(16)); // "a008780"
 * ```
 */
export function parseCommandLine(
  argv: readonly string[],
  host: HostChecks,
  settings: ParseSettings = {},
): ParseOutcome {
  const programName = settings.programName ?? "slirp4netns";
  const stdout: string[] = [];
  const exit = (s: Stop): ParseOutcome => ({
    kind: "exit",
    code: s.code ?? 1,
    stdout: stdout.map((line) => line + "\n").join("") + (s.stdout ?? "") +
      (s.usage ? usageText(programName) : ""),
    stderr: s.stderr.map((line) => line + "\n").join(""),
  });

  const given: GivenOptions = {
    configure: DEFAULTS.configure,
    mtu: DEFAULTS.mtu,
    disableHostLoopback: DEFAULTS.disableHostLoopback,
    enableIpv6: DEFAULTS.enableIpv6,
    enableSandbox: DEFAULTS.enableSandbox,
    enableSeccomp: DEFAULTS.enableSeccomp,
    disableDns: DEFAULTS.disableDns,
    logLevel: "info",
  };
  const scan = getoptLong(argv, SHORT_OPTIONS, LONG_OPTIONS, { programName });
  for (const option of scan.options) {
    const stopped = applyOption(given, option, stdout, host, programName);
    if (stopped !== undefined) return exit(stopped);
  }
  if (scan.error !== undefined) return exit(stop(scan.error.message, true));

  if (given.macAddress !== undefined && !given.configure) {
    return exit(
      stop("--macaddr cannot be specified when --configure or -c is not specified", true),
    );
  }
  if (
    given.targetType !== undefined && given.targetType !== "netns" && given.targetType !== "bess"
  ) {
    return exit(stop('--target-type must be either "netns" or "bess"', true));
  }
  const target = given.targetType === "bess"
    ? resolveBessTarget(given, scan.positionals)
    : resolveTarget(given, scan.positionals, stdout, host);
  if (isStop(target)) return exit(target);

  const config = buildConfig(given, target, host);
  if (isStop(config)) return exit(config);

  return { kind: "run", config, logLevel: given.logLevel, stdoutLines: stdout };
}
