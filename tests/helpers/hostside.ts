/**
 * A private "host side" for the command under test: a root-owned network namespace in which the
 * command runs instead of the machine's own, with only loopback and veths to test hosts the test
 * made. Traffic the guest sends out can then reach nothing but those, whatever the stack does,
 * and per-namespace sysctls (net.ipv4.ping_group_range for ping sockets) can be set without
 * touching the machine. Test hosts (e.g. 198.51.100.2 behind 198.51.100.1/24) live in their own
 * namespaces. Everything is removed when the test ends (the holders are killed; veths and
 * addresses go with their namespaces). Needs root.
 */
import { withResolvConf } from "./dns.ts";
import type { Variant } from "./matrix.ts";
import type { Netns } from "./netns.ts";
import {
  describeResult,
  type Proc,
  run,
  type RunOptions,
  type RunResult,
  spawn,
} from "./process.ts";
import { isRoot } from "./users.ts";

/** ping_group_range that lets every group open ping sockets. */
export const ALL_GROUPS = "0 2147483647";

/** A network namespace held by a sleeping root process. */
export class PrivateNetns {
  readonly pid: number;

  constructor(pid: number) {
    this.pid = pid;
  }

  /** Argv that runs `argv` in this namespace (as root). */
  enter(argv: string[]): string[] {
    return ["nsenter", `--net=/proc/${this.pid}/ns/net`, "--", ...argv];
  }

  run(argv: string[], options: RunOptions = {}): Promise<RunResult> {
    return run(this.enter(argv), { cwd: "/", ...options });
  }

  /** Runs a shell script in the namespace; throws with its output unless it exits 0. */
  async shOk(script: string, args: string[] = [], options: RunOptions = {}): Promise<RunResult> {
    const result = await this.run(["sh", "-c", script, "sh", ...args], options);
    if (!result.success) throw new Error(`in namespace ${this.pid}: ${describeResult(result)}`);
    return result;
  }

  /** Starts a program in the namespace (as root); it is killed when the test ends. */
  spawn(v: Variant, argv: string[], name: string): Proc {
    const proc = spawn(this.enter(argv), { name, cwd: "/" });
    v.defer(() => proc.stop());
    return proc;
  }

  /**
   * Starts a server like `spawn`, then waits until a socket of `protocol` is bound to `port` in
   * the namespace, so that the first datagram or connection of a test cannot beat it.
   */
  async spawnServer(
    v: Variant,
    argv: string[],
    name: string,
    listening: { protocol: "udp" | "tcp"; port: number },
  ): Promise<Proc> {
    const proc = this.spawn(v, argv, name);
    const flag = listening.protocol === "udp" ? "-Hlun" : "-Hltn";
    for (const deadline = Date.now() + 10_000; Date.now() < deadline;) {
      const bound = await this.run(["ss", flag, `sport = :${listening.port}`]);
      if (bound.stdout.trim() !== "") return proc;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    throw new Error(`${name}: nothing bound to ${listening.protocol} port ${listening.port}`);
  }
}

async function holdNetns(v: Variant, name: string): Promise<PrivateNetns> {
  if (!isRoot()) throw new Error("a private host side needs the tests to run as root");
  const holder = spawn(["unshare", "--net", "--", "sh", "-c", "echo ready; exec sleep infinity"], {
    name,
    cwd: "/",
  });
  v.defer(() => holder.stop());
  await holder.waitOutput("stdout", "ready", 10_000);
  const ns = new PrivateNetns(holder.pid);
  await ns.shOk("ip link set lo up");
  return ns;
}

/** The host side: where the command under test runs. */
export class HostSide extends PrivateNetns {
  #veths = 0;

  /**
   * Makes the namespace; `pingGroupRange` sets net.ipv4.ping_group_range in it (the kernel's
   * default, "1 0", forbids ping sockets to everyone).
   */
  static async create(v: Variant, options: { pingGroupRange?: string } = {}): Promise<HostSide> {
    const ns = await holdNetns(v, "host side holder");
    const side = new HostSide(ns.pid);
    if (options.pingGroupRange !== undefined) {
      await side.shOk('echo "$1" > /proc/sys/net/ipv4/ping_group_range', [options.pingGroupRange]);
    }
    return side;
  }

  /**
   * Adds a test host in its own namespace behind a veth: `hostAddress` (e.g. "198.51.100.1/24")
   * on this side, `address` (e.g. "198.51.100.2/24") on the test host, plus `extra` addresses
   * (e.g. "10.0.2.3/32", routed from this side through the veth). `ipv6` gives both ends IPv6
   * addresses too (e.g. "2001:db8:1::1/64" here, "2001:db8:1::2/64" there, without duplicate
   * address detection, so they are usable at once), the test host's default route via this side.
   */
  async addTestHost(
    v: Variant,
    hostAddress: string,
    address: string,
    extra: string[] = [],
    ipv6?: { hostAddress: string; address: string },
  ): Promise<PrivateNetns> {
    const host = await holdNetns(v, "test host holder");
    const veth = `vt${this.#veths++}`;
    await this.shOk(
      'ip link add "$1" type veth peer name eth0 netns "$2" && ip addr add "$3" dev "$1" && ' +
        'ip link set "$1" up',
      [veth, String(host.pid), hostAddress],
    );
    const gateway = hostAddress.split("/")[0];
    await host.shOk(
      'ip addr add "$1" dev eth0 && ip link set eth0 up && ip route add default via "$2"',
      [address, gateway],
    );
    for (const a of extra) {
      await host.shOk('ip addr add "$1" dev eth0', [a]);
      await this.shOk('ip route add "$1" dev "$2"', [a, veth]);
    }
    if (ipv6 !== undefined) {
      await this.shOk('ip -6 addr add "$1" dev "$2" nodad', [ipv6.hostAddress, veth]);
      await host.shOk(
        'ip -6 addr add "$1" dev eth0 nodad && ip -6 route add default via "$2" dev eth0',
        [ipv6.address, ipv6.hostAddress.split("/")[0]],
      );
    }
    return host;
  }

  /**
   * Starts the command under test here, as the variant's user, for `guest` (`OPTIONS PID tap0`),
   * under the private `resolvConf`.
   */
  startCommand(v: Variant, guest: Netns, resolvConf: string, args: string[] = []): Proc {
    const argv = this.enter(
      withResolvConf(resolvConf, v.as(v.commandArgv([...args, String(guest.pid), "tap0"]))),
    );
    const proc = spawn(argv, { ...v.processOptions, name: "command under test" });
    v.defer(() => proc.stop());
    return proc;
  }

  /** Like `startCommand` with `-c`, then waits until the gateway answers a ping. */
  async startConfigured(
    v: Variant,
    guest: Netns,
    resolvConf: string,
    args: string[] = [],
  ): Promise<Proc> {
    const proc = this.startCommand(v, guest, resolvConf, ["-c", ...args]);
    await guest.waitForLink("tap0", { proc });
    await guest.waitForPing("10.0.2.2", { proc });
    return proc;
  }
}
