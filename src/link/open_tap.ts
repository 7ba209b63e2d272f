/**
 * Getting the tap fd for a target: through the shim's namespace-joining child (pid and path
 * targets) or from an inherited fd (tapfd targets). Failures carry the lines slirp4netns prints
 * and its exit status.
 */
import { type Config, deriveAddresses } from "../config.ts";
import { errnoText } from "../ffi/errno.ts";
import { cString, type Shim } from "../ffi/shim.ts";

/** The tap is open. `announce` holds the stderr lines slirp4netns prints at this point. */
export interface TapOpened {
  /** Success. */
  ok: true;
  /** The tap's file descriptor. */
  fd: number;
  /** The tap device's name. */
  tapName: string;
  /** Lines to print to stderr now, as slirp4netns does. */
  announce: string[];
}

/** Opening failed: print `lines` to stderr and exit with `exitCode`. */
export interface TapFailed {
  /** Failure. */
  ok: false;
  /** slirp4netns's messages, for stderr. */
  lines: string[];
  /** slirp4netns's exit status for it. */
  exitCode: number;
}

const SHIM_CONFIGURE = 1;

// Steps reported by shim_open_tap(), as in native/shim.c.
const STEP = {
  OPEN_USERNS: 1,
  OPEN_NETNS: 2,
  SETNS_NET: 3,
  OPEN_TUN: 4,
  TUNSETIFF: 5,
  CONFIG_SOCKET: 6,
  LO_UP: 7,
  TAP_UP: 8,
  SET_MTU: 9,
  SET_MAC: 10,
  SET_ADDR: 11,
  SET_NETMASK: 12,
  SET_ROUTE: 13,
  SENDMSG: 14,
  SOCKETPAIR: 20,
  CLONE: 21,
  RECVMSG: 22,
  CHILD_DIED: 23,
} as const;

/** The perror() prefix slirp4netns prints for a failing step. */
function stepMessage(step: number, paths: { userns?: string; netns: string }): string {
  switch (step) {
    case STEP.OPEN_USERNS:
      return paths.userns ?? "userns";
    case STEP.OPEN_NETNS:
      return paths.netns;
    case STEP.SETNS_NET:
      return "setns(CLONE_NEWNET)";
    case STEP.OPEN_TUN:
      return 'open("/dev/net/tun")';
    case STEP.TUNSETIFF:
      return "ioctl(TUNSETIFF)";
    case STEP.CONFIG_SOCKET:
      return "cannot create socket";
    case STEP.LO_UP:
    case STEP.TAP_UP:
      return "cannot set device up";
    case STEP.SET_MTU:
      return "cannot set MTU";
    case STEP.SET_MAC:
      return "cannot set MAC address";
    case STEP.SET_ADDR:
      return "cannot set device address";
    case STEP.SET_NETMASK:
      return "cannot set device netmask";
    case STEP.SET_ROUTE:
      return "set route";
    case STEP.SENDMSG:
      return "sendmsg";
    case STEP.SOCKETPAIR:
      return "socketpair";
    case STEP.CLONE:
      return "fork";
    default:
      return "recvmsg";
  }
}

/** Opens (and with `configure`, configures) the tap device the configuration names. */
export function openTap(shim: Shim, config: Config): TapOpened | TapFailed {
  const call = tapCall(config);
  if ("ok" in call) return call.ok === null ? adoptTapFd(shim, call.fd) : call;
  return tapOutcome(shim, call, shim.shim_open_tap(...call.args));
}

/**
 * {@link openTap} with the namespace-joining child waited for on a thread of Deno's blocking
 * pool, so that this thread can go on meanwhile (the command creates its Workers while the child
 * makes the tap).
 */
export async function openTapAsync(shim: Shim, config: Config): Promise<TapOpened | TapFailed> {
  const call = tapCall(config);
  if ("ok" in call) return call.ok === null ? adoptTapFd(shim, call.fd) : call;
  return tapOutcome(shim, call, await shim.shim_open_tap_async(...call.args));
}

/** The arguments of shim_open_tap for a pid or path target, and what its messages name. */
interface TapCall {
  args: Parameters<Shim["shim_open_tap"]>;
  childFd: Int32Array;
  tapName: string;
  userns: string | undefined;
  netns: string;
}

/** The shim call for `config`'s target; a tapfd target (`ok: null`) or a BESS one (failed). */
function tapCall(config: Config): TapCall | TapFailed | { ok: null; fd: number } {
  const target = config.target;
  if (target.kind === "tapfd") return { ok: null, fd: target.fd };
  if (target.kind === "bess") {
    // A socket, not a tap: src/link/bess.ts makes it (the wait for its client is asynchronous).
    return { ok: false, lines: ["openTap: a BESS target has no tap"], exitCode: 1 };
  }
  const netns = target.kind === "pid" ? `/proc/${target.pid}/ns/net` : target.netnsPath;
  const userns = config.userNsPath ??
    (target.kind === "pid" ? `/proc/${target.pid}/ns/user` : undefined);
  const addresses = deriveAddresses(config.network, config.prefix);
  const mac = config.macAddress ?? new Uint8Array(0);
  const childFd = new Int32Array(1);
  const args: Parameters<Shim["shim_open_tap"]> = [
    userns === undefined ? null : cString(userns),
    cString(netns),
    cString(target.tapName),
    config.configure ? SHIM_CONFIGURE : 0,
    config.mtu,
    addresses.guest,
    addresses.netmask,
    addresses.gateway,
    mac,
    mac.length,
    new Uint8Array(childFd.buffer),
  ];
  return { args, childFd, tapName: target.tapName, userns, netns };
}

/** What shim_open_tap's result `rc` for `call` means. */
function tapOutcome(shim: Shim, call: TapCall, rc: number): TapOpened | TapFailed {
  if (rc >= 0) {
    return {
      ok: true,
      fd: rc,
      tapName: call.tapName,
      announce: [`sent tapfd=${call.childFd[0]} for ${call.tapName}`, `received tapfd=${rc}`],
    };
  }
  const step = Math.floor(-rc / 1000);
  const detail = -rc % 1000;
  if (step === STEP.CHILD_DIED) {
    return { ok: false, lines: [`child failed(wstatus=${detail}, !WIFEXITED)`], exitCode: 1 };
  }
  const line = `${stepMessage(step, { userns: call.userns, netns: call.netns })}: ${
    errnoText(shim, detail)
  }`;
  const inChild = step < STEP.SOCKETPAIR;
  return { ok: false, lines: inChild ? [line, "child failed(1)"] : [line], exitCode: 1 };
}

function adoptTapFd(shim: Shim, fd: number): TapOpened | TapFailed {
  const name = new Uint8Array(16);
  const rc = shim.shim_tap_name(fd, name);
  if (rc < 0) {
    return {
      ok: false,
      lines: [`tapfd ${fd} is not an open tap device: ${errnoText(shim, -rc)}`],
      exitCode: 1,
    };
  }
  const end = name.indexOf(0);
  const tapName = new TextDecoder().decode(name.subarray(0, end < 0 ? name.length : end));
  return { ok: true, fd, tapName, announce: [] };
}
