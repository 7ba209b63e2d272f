/**
 * DNS for tests in which the guest may send queries. slirp4netns forwards queries for 10.0.2.3 to
 * the first nameserver of the host's /etc/resolv.conf, so such a test must never see the real
 * one: it starts its own dnsmasq on a loopback address (127.0.0.x, serving fixed records and
 * nothing else) and runs the command under test with a private resolv.conf that names it,
 * bind-mounted in a new mount namespace. Both need root (port 53, mount).
 */
import type { Variant } from "./matrix.ts";
import { describeResult, type Proc, run, sleep, spawn } from "./process.ts";
import { isRoot } from "./users.ts";

/** A dnsmasq answering only for the names it was given. */
export interface DnsServer {
  /** The loopback address it listens on, port 53 (UDP and TCP). */
  address: string;
  /** A resolv.conf naming only this server, readable by everyone. */
  resolvConf: string;
  /** The dnsmasq process; its stderr logs every query. */
  proc: Proc;
}

/** Where and how `startDnsServer` runs dnsmasq. */
export interface DnsServerOptions {
  /** Wraps every argv, e.g. to run in another network namespace (`nsenter --net=...`). */
  enter?: (argv: string[]) => string[];
  /** The address to listen on; default a random free 127.0.0.x. */
  address?: string;
  /** More dnsmasq options, e.g. `--local=/test/` (NXDOMAIN for unknown names under test.). */
  extraArgs?: string[];
}

/**
 * Starts dnsmasq on a free 127.0.0.x with fixed records, e.g. `{ "web.test": "198.51.100.10" }`
 * (an IPv6 value gives an AAAA record). Unknown names get REFUSED: it has no upstream servers.
 * Stopped when the test ends.
 */
export async function startDnsServer(
  v: Variant,
  records: Record<string, string>,
  options: DnsServerOptions = {},
): Promise<DnsServer> {
  if (!isRoot()) throw new Error("the test DNS server needs root (port 53)");
  const enter = options.enter ?? ((argv: string[]) => argv);
  const dir = await v.tempDir();
  let failure = "";
  for (let attempt = 0; attempt < 6; attempt++) {
    // 127.0.0.53 and .54 are systemd-resolved's; pick elsewhere in 127.0.0.0/8.
    const address = options.address ?? `127.0.0.${100 + Math.floor(Math.random() * 150)}`;
    const argv = [
      "dnsmasq",
      "--keep-in-foreground",
      "--conf-file=/dev/null",
      "--no-resolv",
      "--no-hosts",
      "--no-poll",
      "--bind-interfaces",
      `--listen-address=${address}`,
      "--port=53",
      "--user=root",
      "--pid-file",
      "--log-queries",
      "--log-facility=-",
      ...Object.entries(records).map(([name, ip]) => `--host-record=${name},${ip}`),
      ...(options.extraArgs ?? []),
    ];
    const proc = spawn(enter(argv), { name: "dnsmasq", cwd: "/" });
    v.defer(() => proc.stop());
    const probeName = Object.keys(records)[0] ?? "probe.invalid";
    for (let i = 0; i < 50 && proc.running; i++) {
      const answer = await run(
        enter(["dig", `@${address}`, "+time=1", "+tries=1", "+short", probeName]),
        { timeoutMs: 5000 },
      );
      const expected = records[probeName];
      if (answer.success && (expected === undefined || answer.stdout.trim() === expected)) {
        const resolvConf = `${dir}/resolv.conf`;
        await Deno.writeTextFile(resolvConf, `nameserver ${address}\n`);
        await Deno.chmod(resolvConf, 0o644);
        return { address, resolvConf, proc };
      }
      await sleep(50);
    }
    failure = proc.describe();
    await proc.stop();
  }
  throw new Error(`cannot start dnsmasq: ${failure}`);
}

/**
 * Argv that runs `argv` in a new mount namespace whose /etc/resolv.conf is `resolvConf`
 * (bind-mounted, private: the host never sees it). Wrap the variant's credentials inside it:
 * `withResolvConf(file, v.as(argv))`. Needs root.
 */
export function withResolvConf(resolvConf: string, argv: string[]): string[] {
  return [
    "unshare",
    "--mount",
    "--propagation",
    "private",
    "--",
    "sh",
    "-c",
    'mount --bind "$0" /etc/resolv.conf && exec "$@"',
    resolvConf,
    ...argv,
  ];
}

/** Runs `dig +short NAME` under `resolvConf` (a check that the private resolv.conf is in use). */
export async function digUnder(resolvConf: string, name: string): Promise<string> {
  const result = await run(
    withResolvConf(resolvConf, ["dig", "+time=2", "+tries=1", "+short", name]),
    {
      timeoutMs: 10_000,
    },
  );
  if (!result.success) throw new Error(`dig under ${resolvConf} failed: ${describeResult(result)}`);
  return result.stdout.trim();
}
