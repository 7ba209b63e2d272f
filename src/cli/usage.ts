/**
 * The `--help` and `--version` texts. Consumers parse both: RootlessKit and Podman detect features
 * by searching `--help` for option names, and the upstream tests read `SLIRP_CONFIG_VERSION_MAX`
 * from `--version` (see §1.3 of the slirp4netns reference). Change a line only with that in mind.
 */
import { SLIRP_CONFIG_VERSION_MAX, VERSION } from "./version.ts";

/**
 * The usage text, as slirp4netns HEAD prints it (including its two literal TABs), plus our
 * `--log-level`, `--debug` and `--pcap` lines. Ends with a newline.
 *
 * @example
 * ```ts
 * import { usageText } from "./usage.ts";
 * if (!usageText().includes("--netns-type")) throw new Error("RootlessKit would give up");
 * ```
 */
export function usageText(programName = "slirp4netns"): string {
  return [
    `Usage: ${programName} [OPTION]... PID|PATH|FD [TAPNAME]`,
    "User-mode networking for unprivileged network namespaces.",
    "",
    "-c, --configure          bring up the interface",
    "-e, --exit-fd=FD         specify the FD for terminating slirp4netns",
    "-r, --ready-fd=FD        specify the FD to write to when the network is configured",
    "-m, --mtu=MTU            specify MTU (default=1500, max=65521)",
    "-6, --enable-ipv6        enable IPv6 (experimental)",
    "-a, --api-socket=PATH    specify API socket path",
    "--cidr=CIDR              specify network address CIDR (default=10.0.2.0/24)",
    "--disable-host-loopback  prohibit connecting to 127.0.0.1:* on the host namespace",
    "--netns-type=TYPE \t specify network namespace type ([path|pid|tapfd], default=pid)",
    "--userns-path=PATH\t specify user namespace path",
    "--enable-sandbox         create a new mount namespace (and drop all caps except CAP_NET_BIND_SERVICE if running as the root)",
    "--enable-seccomp         enable seccomp to limit syscalls (experimental)",
    "--outbound-addr=IPv4     sets outbound ipv4 address to bound to (experimental)",
    "--outbound-addr6=IPv6    sets outbound ipv6 address to bound to (experimental)",
    "--disable-dns            disables 10.0.2.3 (or configured internal ip) to host dns redirect (experimental)",
    "--macaddress=MAC         specify the MAC address of the TAP (only valid with -c)",
    "--target-type=TYPE       specify the target type ([netns|bess], default=netns)",
    "--log-level=LEVEL        set the stderr log level ([error|warn|info|debug|trace], default=info)",
    "--debug                  same as --log-level=debug",
    "--pcap=FILE              capture every frame of the tap to FILE (pcap format)",
    "-h, --help               show this help and exit",
    "-v, --version            show version and exit",
    "",
  ].join("\n");
}

/**
 * The `--version` text: runc-style `key: value` lines, each value one token. The first line keeps
 * slirp4netns' `slirp4netns version X` shape; `libslirp: none` says there is no libslirp; the
 * `SLIRP_CONFIG_VERSION_MAX` line names the libslirp feature level we implement; the last line
 * names the runtime, as slirp4netns names libseccomp. Ends with a newline.
 *
 * @example
 * ```ts
 * import { versionText } from "./usage.ts";
 * const max = Number(/^SLIRP_CONFIG_VERSION_MAX: (\d+)$/m.exec(versionText())![1]);
 * if (max < 3) throw new Error("the disable-dns test would be skipped");
 * ```
 */
export function versionText(denoVersion: string = Deno.version.deno): string {
  return [
    `slirp4netns version ${VERSION}`,
    "libslirp: none",
    `SLIRP_CONFIG_VERSION_MAX: ${SLIRP_CONFIG_VERSION_MAX}`,
    `deno: ${denoVersion}`,
    "",
  ].join("\n");
}
