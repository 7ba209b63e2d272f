/**
 * The DNS-resolver Worker: answers the guest's UDP queries to the DNS address (10.0.2.3, and
 * fd00::3 with `-6`), each in the family it came in, by forwarding them
 * to the host's nameservers (logic: src/dns/forwarder.ts). Query frames arrive through a
 * FrameRing fed by the tap reader (src/host/ring_feed.ts: an eventfd signal per batch, only while
 * this worker sleeps); answers are written to the tap by this worker itself, with the DNS address
 * as source. It sleeps in epoll_wait on the signal eventfd, the stop eventfd and the upstream
 * sockets, with the forwarder's next timer as the timeout.
 *
 * Messages: in, one {@link DnsResolverStart}; out, WorkerEvents (lifecycle.ts), among them the
 * nameservers' figures for get_stats, asked for through shared memory (src/host/snapshot.ts).
 */
import { report, serveWorker } from "./lifecycle.ts";
import { deriveAddresses } from "../config.ts";
import { DnsAnswerTx } from "../dns/answer_tx.ts";
import { DnsForwarder, type GuestEndpoint } from "../dns/forwarder.ts";
import { RESOLV_CONF_PATH, ResolvConfWatcher } from "../dns/resolv_conf.ts";
import { EAGAIN, EINTR, errnoText } from "../ffi/errno.ts";
import { shimFiles } from "../ffi/files.ts";
import { loadShim } from "../ffi/shim.ts";
import { EPOLL_CTL_ADD, EPOLLIN } from "../ffi/sockaddr.ts";
import { BUSY_POLL_MS, EarlyWakes, waitForFeeds } from "../host/ring_feed.ts";
import { SnapshotServer } from "../host/snapshot.ts";
import type { RingWorkerChannel } from "../host/ring_worker.ts";
import { UpstreamUdpSockets } from "../host/upstream_sockets.ts";
import { type Tap, tapWriter } from "../link/tap_writer.ts";
import { FrameRing } from "../ring/frame_ring.ts";
import { Counters } from "../stack/counters.ts";
import { GuestTx } from "../stack/guest_tx.ts";
import { parseIpv4 } from "../wire/address.ts";
import { EthernetFrame } from "../wire/ethernet.ts";
import { IpPacket } from "../wire/ip.ts";
import { IpProtocol } from "../wire/ipv4.ts";
import { UdpDatagram } from "../wire/udp.ts";

/** The start message: the ring of query frames and its eventfds, and the rest. */
export interface DnsResolverStart extends RingWorkerChannel {
  /** The tap, for answers. */
  tap: Tap;
  mtu: number;
  network: number;
  prefix: number;
  /** IPv6 is on (`-6`). */
  ipv6: boolean;
  /** Counter table (Counters.BYTE_LENGTH bytes) this worker bumps; the main thread reads it. */
  counters: SharedArrayBuffer;
  /** `--outbound-addr` as an IPv4 literal. */
  outboundAddr?: string;
  /** `--outbound-addr6`. */
  outboundAddr6?: bigint;
  /** resolv.conf to read; default /etc/resolv.conf. */
  resolvConfPath?: string;
}

const STOP_TOKEN = 0xffffffff;
const SIGNAL_TOKEN = 0xfffffffe;
const MAX_EVENTS = 64;
/** Longest sleep without a timer due: resolv.conf is still looked at on the next query. */
const IDLE_WAIT_MS = 1000;
/** Largest DNS message over UDP. */
const MAX_MESSAGE = 65535;

async function run(start: DnsResolverStart): Promise<void> {
  const shim = await loadShim();
  const ring = FrameRing.attach(start.ring);
  const rings = [ring];
  const sleeping = new Int32Array(start.sleeping);
  const counters = new Counters(start.counters);
  const addresses = deriveAddresses(start.network, start.prefix, start.ipv6);
  const tx = new GuestTx(
    tapWriter(shim, start.tap, "DNS", counters),
    start.mtu,
    addresses,
    counters,
  );
  const epoll = shim.shim_epoll_create();
  if (epoll < 0) throw new Error(`epoll_create: ${errnoText(shim, -epoll)}`);
  shim.shim_epoll_ctl(epoll, EPOLL_CTL_ADD, start.stopFd, EPOLLIN, STOP_TOKEN);
  shim.shim_epoll_ctl(epoll, EPOLL_CTL_ADD, start.signalFd, EPOLLIN, SIGNAL_TOKEN);
  const sockets = new UpstreamUdpSockets(shim, epoll, {
    ipv4: start.outboundAddr ? parseIpv4(start.outboundAddr) ?? 0 : 0,
    ipv6: start.outboundAddr6 ?? 0n,
  });
  const watcher = new ResolvConfWatcher(shimFiles(shim), start.resolvConfPath ?? RESOLV_CONF_PATH);
  const forwarder = new DnsForwarder(
    (now) => watcher.current(now),
    sockets,
    new DnsAnswerTx(tx, addresses, counters),
    counters,
  );
  const eth = new EthernetFrame();
  const ip = new IpPacket();
  const udp = new UdpDatagram();
  // A query over IPv4 or IPv6 (the dispatcher strips IPv6 extension headers).
  const query = (frame: Uint8Array, now: number) => {
    eth.wrap(frame);
    if (eth.check() !== "ok" || !ip.read(frame, eth.payloadOffset, eth.payloadLength)) return;
    if (ip.protocol !== IpProtocol.UDP) return;
    udp.wrap(frame, ip.payloadOffset, ip.payloadLength);
    if (udp.check() !== "ok") return;
    const from: GuestEndpoint = {
      mac: frame.subarray(eth.srcOffset, eth.srcOffset + 6),
      ip: ip.src,
      port: udp.srcPort,
    };
    forwarder.query(
      from,
      frame.subarray(udp.payloadOffset, udp.payloadOffset + udp.payloadLength),
      now,
    );
  };
  const events = new Uint32Array(2 * MAX_EVENTS);
  const answer = new Uint8Array(MAX_MESSAGE);
  const snapshots = new SnapshotServer(
    start.snapshot,
    () => ({ nameservers: forwarder.nameserverStats() }),
    report,
  );
  // Early wakes (ring_feed.ts) once a query came: they stop by themselves when the guest's
  // frames are for others.
  const early = new EarlyWakes(start.sleeping);
  report({ kind: "started" });

  let running = true;
  let busyUntil = 0;
  while (running) {
    const before = performance.now();
    const due = forwarder.nextDeadline - before;
    const timeout = Math.max(0, Math.min(IDLE_WAIT_MS, Math.ceil(due)));
    const n = waitForFeeds(shim, sleeping, rings, epoll, events, MAX_EVENTS, timeout, busyUntil);
    if (n === -EINTR) continue;
    if (n < 0) {
      report({ kind: "error", message: `epoll_wait: ${errnoText(shim, -n)}` });
      break;
    }
    const now = performance.now();
    let signalled = false;
    for (let i = 0; i < n; i++) {
      const token = events[2 * i + 1];
      if (token === STOP_TOKEN) {
        running = false;
        break;
      }
      if (token === SIGNAL_TOKEN) {
        shim.shim_eventfd_drain(start.signalFd);
        signalled = true;
        continue;
      }
      const fd = token;
      for (let budget = 0; budget < 64; budget++) {
        const got = shim.shim_recv(fd, answer, answer.length, 0);
        if (got === -EAGAIN) break;
        if (got < 0) {
          if (got === -EINTR) continue;
          // ECONNREFUSED, EHOSTUNREACH...: the socket's pending error, once.
          forwarder.socketError(fd, now);
          break;
        }
        forwarder.answer(fd, answer.subarray(0, got), now);
      }
    }
    const queries = ring.drain((frame) => query(frame, now));
    if (queries > 0 && !early.requested) early.request(true);
    early.afterTurn(signalled, queries);
    if (n > 0 || queries > 0) busyUntil = performance.now() + BUSY_POLL_MS;
    forwarder.poll(performance.now());
    snapshots.serve();
  }
  forwarder.close();
  sockets.closeAll();
  shim.shim_close(epoll);
}

serveWorker(run);
