/**
 * The TCP connection-table Worker: runs the TCP relay (src/stack/tcp/) over FFI host sockets.
 * Segments from the guest arrive through a FrameRing fed by the tap reader, port forwards'
 * accepted clients through a second one fed by the main thread (src/host/ring_feed.ts: an eventfd
 * signal per batch, only while this worker sleeps); segments for the guest are written to the tap
 * by this worker itself. One synchronous loop: epoll_wait over the signal and stop eventfds and
 * the host sockets, with the relay's next timer as the timeout; then host events, the frames of
 * the rings, due timers, and one flush per turn. Pure ACKs for a little data may wait until the
 * loop finds nothing to do (`TcpRelayOptions.delayAcks`), so that the host's answer to a request
 * carries them.
 *
 * Messages: in, one {@link TcpTableStart}; out, WorkerEvents (lifecycle.ts), among them the
 * get_stats snapshots asked for through shared memory (src/host/snapshot.ts).
 */
import { report, serveWorker } from "./lifecycle.ts";
import { deriveAddresses } from "../config.ts";
import { type Nameserver, RESOLV_CONF_PATH, ResolvConfWatcher } from "../dns/resolv_conf.ts";
import { EINTR, errnoText } from "../ffi/errno.ts";
import { shimFiles } from "../ffi/files.ts";
import { loadShim } from "../ffi/shim.ts";
import { EPOLL_CTL_ADD, EPOLLIN } from "../ffi/sockaddr.ts";
import { BUSY_POLL_MS, EarlyWakes, waitForFeeds } from "../host/ring_feed.ts";
import { SnapshotFlag, SnapshotServer } from "../host/snapshot.ts";
import type { RingWorkerChannel } from "../host/ring_worker.ts";
import { FfiTcpSockets } from "../host/tcp_sockets.ts";
import { type Tap, tapWriter } from "../link/tap_writer.ts";
import { log, type LogLevel, setLogLevel } from "../log.ts";
import { FrameRing } from "../ring/frame_ring.ts";
import { Counters } from "../stack/counters.ts";
import { tcpRoutes } from "../stack/tcp/routes.ts";
import { TcpRelay } from "../stack/tcp/relay.ts";
import { tcpSnapshot } from "../stack/tcp/stats.ts";
import { type IpAddress, parseIpv4, parseIpv6, readIpv4, readIpv6 } from "../wire/address.ts";
import { readU16, readU32 } from "../wire/view.ts";
import { FORWARD_RECORD, SEGMENT_RECORD } from "./records.ts";

/**
 * The start message: the channel of segment frames from the tap reader, the ring of
 * FORWARD_RECORDs (records.ts; same sleep flag and eventfd), and the rest.
 */
export interface TcpTableStart extends RingWorkerChannel {
  /** A FrameRing of forward records, fed by the main thread. */
  forwards: SharedArrayBuffer;
  /** The tap, for segments to the guest. */
  tap: Tap;
  mtu: number;
  network: number;
  prefix: number;
  /** IPv6 is on (`-6`). */
  ipv6: boolean;
  disableHostLoopback: boolean;
  disableDns: boolean;
  /** `--outbound-addr` as an IPv4 literal. */
  outboundAddr?: string;
  /** `--outbound-addr6`. */
  outboundAddr6?: bigint;
  /** Counter table (Counters.BYTE_LENGTH bytes) this worker bumps; the main thread reads it. */
  counters: SharedArrayBuffer;
  logLevel: LogLevel;
  /** resolv.conf to read; default /etc/resolv.conf. */
  resolvConfPath?: string;
}

/**
 * The nameservers DNS over TCP can connect to: every IPv4 one and every IPv6 one but those with
 * a scope (link-local: a host socket would need the interface), in resolv.conf order.
 */
function tcpNameservers(nameservers: readonly Nameserver[]): IpAddress[] {
  const targets: IpAddress[] = [];
  for (const n of nameservers) {
    if (n.family === 4) targets.push(n.ipv4);
    else if (n.scopeId === 0) targets.push(parseIpv6(n.text)!);
  }
  return targets;
}

/** epoll tokens of this worker's fds; connection ids lie between (TcpRelay's LAST_CONNECTION_ID). */
const STOP_TOKEN = 0;
const SIGNAL_TOKEN = 0xffffffff;
/** A segment record this long or longer is bulk data (see the early wakes below). */
const BULK_SEGMENT = 16 << 10;
const MAX_EVENTS = 256;
/**
 * Longest a pure ACK waits for the host's answer to carry it while the loop is kept busy by
 * other work (an idle loop sends it before it sleeps, after its busy-poll window): much less than
 * a round trip the guest would notice, and far below its retransmission timeout (200 ms).
 */
const MAX_ACK_DELAY_MS = 0.2;
/** Frames taken from the ring per turn, so host sockets and timers get their turn too. */
const FRAMES_PER_TURN = 1024;

async function run(start: TcpTableStart): Promise<void> {
  setLogLevel(start.logLevel);
  const shim = await loadShim();
  const ring = FrameRing.attach(start.ring);
  const forwards = FrameRing.attach(start.forwards);
  const rings = [ring, forwards];
  const sleeping = new Int32Array(start.sleeping);
  const counters = new Counters(start.counters);
  const addresses = deriveAddresses(start.network, start.prefix, start.ipv6);
  const link = tapWriter(shim, start.tap, "TCP", counters);
  const epoll = shim.shim_epoll_create();
  if (epoll < 0) throw new Error(`epoll_create: ${errnoText(shim, -epoll)}`);
  shim.shim_epoll_ctl(epoll, EPOLL_CTL_ADD, start.stopFd, EPOLLIN, STOP_TOKEN);
  shim.shim_epoll_ctl(epoll, EPOLL_CTL_ADD, start.signalFd, EPOLLIN, SIGNAL_TOKEN);
  // Early wakes (ring_feed.ts) while the guest sends small segments: a request 1 ms after the
  // last then finds this worker awake and polling when the tap reader hands the segment over,
  // instead of asleep until the ring's eventfd wakes it after the tap reader's read and dispatch.
  // Not during a bulk upload: there they would wake this worker, and make it poll, once per
  // super-frame before the tap reader has it (measured with the tap fd as the wake-up: 15 % more
  // CPU per GiB), so a turn with a segment of BULK_SEGMENT bytes or more stops them and a turn
  // with only smaller ones asks again.
  const early = new EarlyWakes(start.sleeping);
  early.request(true);
  const sockets = new FfiTcpSockets(shim, epoll, {
    ipv4: start.outboundAddr ? parseIpv4(start.outboundAddr) ?? undefined : undefined,
    ipv6: start.outboundAddr6,
  });
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
      nameservers: (now) => tcpNameservers(resolv.current(now).nameservers),
    }),
    now: performance.now(),
    warn: (message) => log.warn(message),
    checksum: (bytes, offset, length, initial) => shim.shim_csum(bytes, offset, length, initial),
    delayAcks: true,
  });
  const events = new Uint32Array(2 * MAX_EVENTS);
  let now = performance.now();
  const openToGuest = (record: Uint8Array) => {
    const fd = readU32(record, FORWARD_RECORD.FD);
    const readAddress = record[FORWARD_RECORD.IPV6] === 1 ? readIpv6 : readIpv4;
    const opened = relay.openToGuest(
      fd,
      readAddress(record, FORWARD_RECORD.PEER_ADDR),
      readU16(record, FORWARD_RECORD.PEER_PORT),
      readAddress(record, FORWARD_RECORD.GUEST_ADDR),
      readU16(record, FORWARD_RECORD.GUEST_PORT),
      record,
      FORWARD_RECORD.GUEST_MAC,
      now,
      readU32(record, FORWARD_RECORD.FORWARD_ID),
    );
    if (!opened) shim.shim_close_reset(fd);
  };
  let bulk = 0;
  const segment = (record: Uint8Array) => {
    if (record.length >= BULK_SEGMENT) bulk++;
    relay.handleFrame(
      record.subarray(SEGMENT_RECORD.FRAME),
      now,
      record[SEGMENT_RECORD.CHECKSUM_PARTIAL] !== 0,
    );
  };
  // get_stats: answered between two turns, after the turn's work.
  const snapshots = new SnapshotServer(
    start.snapshot,
    (flags) => tcpSnapshot(relay, performance.now(), (flags & SnapshotFlag.FLOWS) !== 0),
    report,
  );
  report({ kind: "started" });

  let running = true;
  let busyUntil = 0;
  while (running) {
    const wake = relay.nextWake(now);
    const timeout = wake === Infinity ? -1 : Math.max(0, Math.ceil(wake - performance.now()));
    // Held-back ACKs: no sleep until they are sent.
    const n = waitForFeeds(
      shim,
      sleeping,
      rings,
      epoll,
      events,
      MAX_EVENTS,
      timeout,
      busyUntil,
      !relay.owesAcks,
    );
    if (n < 0 && n !== -EINTR) {
      report({ kind: "error", message: `epoll_wait: ${errnoText(shim, -n)}` });
      break;
    }
    now = performance.now();
    let signalled = false;
    for (let i = 0; i < n; i++) {
      const token = events[2 * i + 1];
      if (token === STOP_TOKEN) {
        running = false;
      } else if (token === SIGNAL_TOKEN) {
        shim.shim_eventfd_drain(start.signalFd);
        signalled = true;
      } else {
        relay.hostEvent(token, events[2 * i], now);
      }
    }
    bulk = 0;
    const segments = ring.drain(segment, FRAMES_PER_TURN);
    if (segments > 0 && (bulk === 0) !== early.requested) early.request(bulk === 0);
    const frames = forwards.drain(openToGuest) + segments;
    early.afterTurn(signalled, frames);
    const later = performance.now();
    const idle = n <= 0 && frames === 0 && later >= busyUntil;
    if (n > 0 || frames > 0) busyUntil = later + BUSY_POLL_MS;
    relay.advanceTimers(now);
    relay.flush(now);
    // Held-back ACKs go once nothing came within the busy-poll window (the loop is about to
    // sleep), or once the oldest waited MAX_ACK_DELAY_MS while other work kept the loop busy.
    if (relay.owesAcks && (idle || later - relay.delayedSince >= MAX_ACK_DELAY_MS)) {
      relay.sendDelayedAcks();
    }
    snapshots.serve();
  }
  relay.closeAll();
  sockets.closeAll();
  shim.shim_close(epoll);
}

serveWorker(run);
