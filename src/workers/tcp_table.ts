/**
 * The TCP connection-table Worker: runs the TCP relay (src/stack/tcp/) over FFI host sockets.
 * Segments from the guest arrive through a FrameRing from the dispatcher, which signals an eventfd
 * once per batch, and only while this worker sleeps (a Dekker flag in `control`); segments for the
 * guest are written to the tap by this worker itself (tun writes are atomic per frame, so it shares
 * the fd with the main thread). One synchronous loop: epoll_wait over the signal and stop eventfds
 * and the host sockets, with the relay's next timer as the timeout; then host events, the frames
 * of the ring, due timers, and one flush per turn.
 *
 * Messages: in, one {@link TcpTableStart}; out, {@link TcpTableEvent}s.
 */
/// <reference lib="deno.worker" />
import { deriveAddresses } from "../config.ts";
import { RESOLV_CONF_PATH, ResolvConfWatcher } from "../dns/resolv_conf.ts";
import { EINTR, errnoText } from "../ffi/errno.ts";
import { shimFiles } from "../ffi/files.ts";
import { loadShim } from "../ffi/shim.ts";
import { EPOLL_CTL_ADD, EPOLLIN } from "../ffi/sockaddr.ts";
import type { RingWorkerChannel, RingWorkerEvent } from "../host/ring_worker.ts";
import { FfiTcpSockets } from "../host/tcp_sockets.ts";
import { log, type LogLevel, setLogLevel } from "../log.ts";
import { FrameRing } from "../ring/frame_ring.ts";
import { Counters } from "../stack/counters.ts";
import type { GuestLink } from "../stack/guest_link.ts";
import { tcpRoutes } from "../stack/tcp/routes.ts";
import { TcpRelay } from "../stack/tcp/relay.ts";
import { parseIpv4 } from "../wire/address.ts";
import { readU16, readU32 } from "../wire/view.ts";

/**
 * The start message: the ring of segment frames and the two eventfds (the dispatcher signals
 * `signalFd` after pushing a batch while this worker sleeps), and the rest.
 */
export interface TcpTableStart extends RingWorkerChannel {
  /** `Int32Array` words, see {@link TCP_CONTROL}. */
  control: SharedArrayBuffer;
  /** The tap, for segments to the guest. */
  tapFd: number;
  mtu: number;
  network: number;
  prefix: number;
  disableHostLoopback: boolean;
  disableDns: boolean;
  /** `--outbound-addr` as an IPv4 literal. */
  outboundAddr?: string;
  /** Counter table (Counters.BYTE_LENGTH bytes) this worker bumps; the main thread reads it. */
  counters: SharedArrayBuffer;
  logLevel: LogLevel;
  /** resolv.conf to read; default /etc/resolv.conf. */
  resolvConfPath?: string;
}

/** What the worker reports. */
export type TcpTableEvent = RingWorkerEvent;

/** Word indices of the control buffer. */
export const TCP_CONTROL = {
  /** 1 while the worker is (about to be) asleep in epoll_wait: the dispatcher must signal. */
  SLEEPING: 0,
  /** Number of words. */
  LENGTH: 1,
} as const;

/**
 * A port forward's accepted client, handed over in the segment ring (so it stays in order with
 * the guest's segments, and the worker needs no message loop): an Ethernet-shaped record with
 * the IEEE local experimental EtherType, which the dispatcher never forwards from the guest.
 *
 * ```
 *  0      6      12    14   18         22        24         28        30        36
 *  | zero | zero | type | fd | peerAddr | peerPort | guestAddr | guestPort | guestMac |
 * ```
 */
export const FORWARD_RECORD = {
  ETHERTYPE: 0x88b5,
  FD: 14,
  PEER_ADDR: 18,
  PEER_PORT: 22,
  GUEST_ADDR: 24,
  GUEST_PORT: 28,
  GUEST_MAC: 30,
  LENGTH: 36,
} as const;

const STOP_TOKEN = 0;
const SIGNAL_TOKEN = 0xffffffff;
const MAX_EVENTS = 256;
/** Frames taken from the ring per turn, so host sockets and timers get their turn too. */
const FRAMES_PER_TURN = 1024;

async function run(start: TcpTableStart): Promise<void> {
  setLogLevel(start.logLevel);
  const shim = await loadShim();
  const ring = FrameRing.attach(start.ring);
  const control = new Int32Array(start.control);
  const counters = new Counters(start.counters);
  const addresses = deriveAddresses(start.network, start.prefix);
  const tapFd = start.tapFd;
  let writeErrors = 0;
  const link: GuestLink = {
    sendFrame(frame: Uint8Array): void {
      const n = shim.shim_write(tapFd, frame, frame.length);
      if (n < 0 && writeErrors++ === 0) log.warn(`TCP: write to the tap: ${errnoText(shim, -n)}`);
    },
  };
  const epoll = shim.shim_epoll_create();
  if (epoll < 0) throw new Error(`epoll_create: ${errnoText(shim, -epoll)}`);
  shim.shim_epoll_ctl(epoll, EPOLL_CTL_ADD, start.stopFd, EPOLLIN, STOP_TOKEN);
  shim.shim_epoll_ctl(epoll, EPOLL_CTL_ADD, start.signalFd, EPOLLIN, SIGNAL_TOKEN);
  const outbound = start.outboundAddr ? parseIpv4(start.outboundAddr) ?? 0 : 0;
  const sockets = new FfiTcpSockets(shim, epoll, outbound);
  const resolv = new ResolvConfWatcher(shimFiles(shim), start.resolvConfPath ?? RESOLV_CONF_PATH);
  const relay = new TcpRelay({
    addresses,
    mtu: start.mtu,
    link,
    sockets,
    counters,
    route: tcpRoutes({
      addresses,
      disableHostLoopback: start.disableHostLoopback,
      disableDns: start.disableDns,
      nameservers: (now) =>
        resolv.current(now).nameservers.filter((n) => n.family === 4).map((n) => n.ipv4),
    }),
    now: performance.now(),
    warn: (message) => log.warn(message),
    checksum: (bytes, offset, length, initial) => shim.shim_csum(bytes, offset, length, initial),
  });
  const events = new Uint32Array(2 * MAX_EVENTS);
  let now = performance.now();
  const handle = (frame: Uint8Array) => {
    if (
      frame.length === FORWARD_RECORD.LENGTH && readU16(frame, 12) === FORWARD_RECORD.ETHERTYPE
    ) {
      const fd = readU32(frame, FORWARD_RECORD.FD);
      const opened = relay.openToGuest(
        fd,
        readU32(frame, FORWARD_RECORD.PEER_ADDR),
        readU16(frame, FORWARD_RECORD.PEER_PORT),
        readU32(frame, FORWARD_RECORD.GUEST_ADDR),
        readU16(frame, FORWARD_RECORD.GUEST_PORT),
        frame,
        FORWARD_RECORD.GUEST_MAC,
        now,
      );
      if (!opened) shim.shim_close_reset(fd);
      return;
    }
    relay.handleFrame(frame, now);
  };
  self.postMessage({ kind: "started" } satisfies TcpTableEvent);

  let running = true;
  while (running) {
    const wake = relay.nextWake(now);
    let timeout = wake === Infinity ? -1 : Math.max(0, Math.ceil(wake - performance.now()));
    // Dekker: announce the sleep, then look at the ring; the dispatcher pushes, then looks at
    // the flag. Either it sees the flag and signals, or this sees its frame.
    Atomics.store(control, TCP_CONTROL.SLEEPING, 1);
    if (ring.peek() !== null) timeout = 0;
    const n = shim.shim_epoll_wait(epoll, events, MAX_EVENTS, timeout);
    Atomics.store(control, TCP_CONTROL.SLEEPING, 0);
    if (n < 0 && n !== -EINTR) {
      self.postMessage({ kind: "error", message: `epoll_wait: ${errnoText(shim, -n)}` });
      break;
    }
    now = performance.now();
    for (let i = 0; i < n; i++) {
      const token = events[2 * i + 1];
      if (token === STOP_TOKEN) {
        running = false;
      } else if (token === SIGNAL_TOKEN) {
        shim.shim_eventfd_drain(start.signalFd);
      } else {
        relay.hostEvent(token, events[2 * i], now);
      }
    }
    ring.drain(handle, FRAMES_PER_TURN);
    relay.advanceTimers(now);
    relay.flush(now);
  }
  relay.closeAll();
  sockets.closeAll();
  shim.shim_close(epoll);
  self.postMessage({ kind: "stopped" } satisfies TcpTableEvent);
  self.close();
}

self.onmessage = (event: MessageEvent<TcpTableStart>) => {
  run(event.data).catch((error) => {
    self.postMessage({ kind: "error", message: String(error) } satisfies TcpTableEvent);
    self.postMessage({ kind: "stopped" } satisfies TcpTableEvent);
  });
};
