import { deepStrictEqual, match, ok, strictEqual } from "node:assert/strict";
import { LONG_OPTIONS } from "./options.ts";
import { usageText, versionText } from "./usage.ts";
import { SLIRP_CONFIG_VERSION_MAX, VERSION } from "./version.ts";

// slirp4netns 1.2.0's --help as printed by the real binary (reference §1.3).
const UPSTREAM_1_2_0 = `Usage: slirp4netns [OPTION]... PID|PATH [TAPNAME]
User-mode networking for unprivileged network namespaces.

-c, --configure          bring up the interface
-e, --exit-fd=FD         specify the FD for terminating slirp4netns
-r, --ready-fd=FD        specify the FD to write to when the network is configured
-m, --mtu=MTU            specify MTU (default=1500, max=65521)
-6, --enable-ipv6        enable IPv6 (experimental)
-a, --api-socket=PATH    specify API socket path
--cidr=CIDR              specify network address CIDR (default=10.0.2.0/24)
--disable-host-loopback  prohibit connecting to 127.0.0.1:* on the host namespace
--netns-type=TYPE \t specify network namespace type ([path|pid], default=pid)
--userns-path=PATH\t specify user namespace path
--enable-sandbox         create a new mount namespace (and drop all caps except CAP_NET_BIND_SERVICE if running as the root)
--enable-seccomp         enable seccomp to limit syscalls (experimental)
--outbound-addr=IPv4     sets outbound ipv4 address to bound to (experimental)
--outbound-addr6=IPv6    sets outbound ipv6 address to bound to (experimental)
--disable-dns            disables 10.0.2.3 (or configured internal ip) to host dns redirect (experimental)
--macaddress=MAC         specify the MAC address of the TAP (only valid with -c)
--target-type=TYPE       specify the target type ([netns|bess], default=netns)
-h, --help               show this help and exit
-v, --version            show version and exit
`;

Deno.test("usageText() is slirp4netns HEAD's text plus one line per option of ours", () => {
  const head = UPSTREAM_1_2_0
    .replace("PID|PATH [TAPNAME]", "PID|PATH|FD [TAPNAME]")
    .replace("([path|pid], default=pid)", "([path|pid|tapfd], default=pid)")
    .split("\n");
  const ours = usageText().split("\n");
  deepStrictEqual(ours.filter((line) => !/^--(log-level|debug|pcap)\b/.test(line)), head);
  deepStrictEqual(ours.filter((line) => /^--(log-level|debug|pcap)\b/.test(line)), [
    "--log-level=LEVEL        set the stderr log level ([error|warn|info|debug|trace], default=info)",
    "--debug                  same as --log-level=debug",
    "--pcap=FILE              capture every frame of the tap to FILE (pcap format)",
  ]);
});

Deno.test("usageText() keeps the literal TABs of the --netns-type and --userns-path lines", () => {
  ok(usageText().includes("--netns-type=TYPE \t specify network namespace type"));
  ok(usageText().includes("--userns-path=PATH\t specify user namespace path"));
});

Deno.test("usageText() contains every string RootlessKit and Podman search for", () => {
  const rootlessKit = [
    "--netns-type",
    "--cidr",
    "--disable-host-loopback",
    "--api-socket",
    "--enable-sandbox",
    "--enable-seccomp",
  ];
  const podman = [
    "--disable-host-loopback",
    "--mtu",
    "--enable-sandbox",
    "--enable-seccomp",
    "--cidr",
    "--outbound-addr",
    "--enable-ipv6",
  ];
  for (const text of [...rootlessKit, ...podman]) ok(usageText().includes(text), text);
});

Deno.test("usageText() documents every long option but the deprecated aliases", () => {
  for (const option of LONG_OPTIONS) {
    const deprecated = option.name === "no-host-loopback" || option.name === "create-sandbox";
    strictEqual(usageText().includes(`--${option.name}`), !deprecated, option.name);
  }
});

Deno.test("usageText() names the program as called", () => {
  match(
    usageText("/usr/local/bin/slirp4netns"),
    /^Usage: \/usr\/local\/bin\/slirp4netns \[OPTION\]/,
  );
});

Deno.test("versionText() starts with the slirp4netns version line", () => {
  strictEqual(versionText().split("\n")[0], `slirp4netns version ${VERSION}`);
  match(VERSION, /^\d+\.\d+\.\d+$/);
});

Deno.test("versionText() gives SLIRP_CONFIG_VERSION_MAX as the upstream tests parse it", () => {
  // tests/*.sh: slirp4netns --version | grep SLIRP_CONFIG_VERSION_MAX | sed -e "s/SLIRP_CONFIG_VERSION_MAX: //"
  const line = versionText().split("\n").filter((l) => l.includes("SLIRP_CONFIG_VERSION_MAX"));
  deepStrictEqual(line.map((l) => l.replace("SLIRP_CONFIG_VERSION_MAX: ", "")), ["6"]);
  strictEqual(SLIRP_CONFIG_VERSION_MAX, 6);
});

Deno.test("versionText() is key: value lines ending in a newline", () => {
  strictEqual(
    versionText("2.9.6"),
    `slirp4netns version ${VERSION}\nlibslirp: none\nSLIRP_CONFIG_VERSION_MAX: 6\ndeno: 2.9.6\n`,
  );
  strictEqual(versionText().split("\n")[3], `deno: ${Deno.version.deno}`);
});
