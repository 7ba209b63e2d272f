/**
 * The DNS forwarder behind 10.0.2.3:53 and fd00::3:53 (UDP): each guest query, over IPv4 or IPv6,
 * goes to the host's nameservers (of either family, whatever the query's) in
 * resolv.conf order, one after the other, until one answers. Pure logic: the clock, the upstream
 * sockets and the path back to the guest are injected, so it is tested without threads or a
 * kernel. The resolver worker (src/workers/dns_resolver.ts) wires it to real sockets and the tap.
 *
 * # Theory of operation
 *
 * A *query* is a guest message (checked with `checkDnsMessage`: malformed ones get FORMERR,
 * responses and runts are dropped). It is copied and gets an *order*: the nameservers, healthy ones
 * first (a server is unhealthy for {@link DOWN_MS} after a timeout or an error), rotated when
 * resolv.conf says `rotate`, repeated `attempts` times. Each *attempt* sends the copy, with a fresh
 * random ID unique on its socket, to the next server of the order and arms a timer of
 * `timeoutMs`; on a timer, a send error or an ICMP error on the socket, the next server is tried.
 * Earlier attempts stay valid: a slow server's late answer is still taken. The first answer that
 * matches (ID on that socket — the socket is connected, so the kernel already checked the source
 * address and port — QR set, same opcode, same question) settles the query: its ID becomes the
 * guest's again and it goes to the guest. An upstream REFUSED/SERVFAIL/NOTIMP moves on to the next
 * server while there is one. When the order is exhausted, the query waits {@link GRACE_MS} for late
 * answers if any attempt may still answer, then the guest gets SERVFAIL.
 *
 * Upstream sockets are UDP, connected to one nameserver, with a kernel-chosen random port; a
 * socket carries at most {@link QUERIES_PER_SOCKET} queries and is then retired (closed when its
 * last query settles), so source ports keep changing (RFC 5452 §9.2: ID and port randomness).
 *
 * At most {@link MAX_IN_FLIGHT} attempts wait on one server at a time; further queries queue for
 * it (FIFO) and are sent as answers come back, so a burst from the guest does not overflow the
 * server's socket buffer (dnsmasq drops about half of a 900-query burst sent at once). A queued
 * query that waits `timeoutMs` moves on to its next server.
 *
 * Invariants, which the tests check: every query settles (answer or SERVFAIL) within
 * `attempts × servers × 2 × timeoutMs + GRACE_MS` (each server of the order: at most `timeoutMs`
 * waiting for a slot, then `timeoutMs` for the answer); settling removes all its IDs from their sockets;
 * a retired socket is closed as soon as no query uses it; at most {@link MAX_PENDING} queries.
 */

import {
  checkDnsMessage,
  DNS,
  DNS_HEADER_LEN,
  DnsFlag,
  dnsFlags,
  dnsOpcode,
  DnsRcode,
  emitDnsErrorReply,
  sameQuestion,
} from "../wire/dns.ts";
import type { IpAddress } from "../wire/address.ts";
import { readU16, writeU16 } from "../wire/view.ts";
import { C, type Counters } from "../stack/counters.ts";
import type { Nameserver, ResolvConf } from "./resolv_conf.ts";

/** Queries in flight at once; further ones are dropped (the guest retries). */
export const MAX_PENDING = 1024;
/** Queries sent over one upstream socket before it is replaced by one with a new port. */
export const QUERIES_PER_SOCKET = 64;
/** How long a server that timed out or failed is tried only after the others. */
export const DOWN_MS = 10_000;
/** Extra wait for late answers once every server was tried. */
export const GRACE_MS = 3000;
/** Attempts outstanding on one server at once (dnsmasq's own default limit is 150). */
export const MAX_IN_FLIGHT = 128;

/** Where a query came from: the reply goes back there. */
export interface GuestEndpoint {
  /** The guest's MAC (6 bytes, a copy). */
  mac: Uint8Array;
  /** IPv4 or IPv6: the answer goes back in the family the query came in. */
  ip: IpAddress;
  port: number;
}

/** Upstream UDP sockets, each connected to one nameserver's port 53. Handles are small integers. */
export interface UpstreamSockets {
  /** Opens a socket connected to `nameserver`; a handle ≥ 0, or -errno. */
  open(nameserver: Nameserver): number;
  /** Sends one datagram; the byte count or -errno (e.g. -ECONNREFUSED after an ICMP error). */
  send(handle: number, message: Uint8Array): number;
  close(handle: number): void;
}

/** The path back to the guest: one DNS message from the DNS address, port 53. */
export interface GuestAnswers {
  answer(to: GuestEndpoint, message: Uint8Array): void;
}

/** What one nameserver did so far (get_stats), kept while the forwarder lives. */
export interface NameserverStats {
  /** The address as resolv.conf gives it (with `%scope` for a scoped one). */
  address: string;
  /** Queries sent to it (every attempt). */
  forwarded: number;
  /** Answers from it given to the guest. */
  answered: number;
  /** Attempts that timed out. */
  timeouts: number;
  /** Socket errors (ICMP unreachable, send or socket failures). */
  errors: number;
  /** SERVFAIL, REFUSED or NOTIMP answers when another server was left to ask. */
  rejected: number;
}

interface Server {
  readonly key: string;
  readonly stats: NameserverStats;
  nameserver: Nameserver;
  downUntil: number;
  socket: UpstreamSocket | null;
  /** Attempts sent and neither answered nor timed out. */
  inFlight: number;
  /** Queries waiting for a free slot (some may have moved on: check `waitingOn`). */
  readonly waiting: Query[];
}

interface UpstreamSocket {
  readonly handle: number;
  readonly server: Server;
  readonly ids: Map<number, Query>;
  uses: number;
  retired: boolean;
}

interface Attempt {
  readonly socket: UpstreamSocket;
  readonly id: number;
  /** Still able to answer: sent, and no error reported on its socket since. */
  live: boolean;
  /** Counted in its server's `inFlight`. */
  counted: boolean;
}

interface Query {
  readonly from: GuestEndpoint;
  readonly guestId: number;
  /** The query as received; its ID is rewritten for each attempt. */
  readonly message: Uint8Array;
  readonly questionEnd: number;
  readonly opcode: number;
  readonly order: Server[];
  next: number;
  readonly attempts: Attempt[];
  /** Timer of the current attempt (or of the grace period); compared on expiry. */
  deadline: number;
  /** Every server was tried; waiting for late answers only. */
  inGrace: boolean;
  /** The server whose queue this query waits in, if any. */
  waitingOn: Server | null;
  /** Servers that answered REFUSED, SERVFAIL or NOTIMP: not asked again. */
  rejectedBy?: Set<Server>;
  settled: boolean;
}

/** A min-heap of (deadline, query) with lazy deletion: stale entries are skipped on pop. */
class Timers {
  readonly #deadlines: number[] = [];
  readonly #queries: Query[] = [];

  get size(): number {
    return this.#deadlines.length;
  }

  push(deadline: number, query: Query): void {
    const d = this.#deadlines;
    const q = this.#queries;
    let i = d.length;
    d.push(deadline);
    q.push(query);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (d[parent] <= deadline) break;
      d[i] = d[parent];
      q[i] = q[parent];
      i = parent;
    }
    d[i] = deadline;
    q[i] = query;
  }

  peek(): number {
    return this.#deadlines.length > 0 ? this.#deadlines[0] : Infinity;
  }

  pop(): [number, Query] {
    const d = this.#deadlines;
    const q = this.#queries;
    const top: [number, Query] = [d[0], q[0]];
    const lastD = d.pop()!;
    const lastQ = q.pop()!;
    const n = d.length;
    if (n > 0) {
      let i = 0;
      for (;;) {
        let child = 2 * i + 1;
        if (child >= n) break;
        if (child + 1 < n && d[child + 1] < d[child]) child++;
        if (d[child] >= lastD) break;
        d[i] = d[child];
        q[i] = q[child];
        i = child;
      }
      d[i] = lastD;
      q[i] = lastQ;
    }
    return top;
  }
}

function serverKey(nameserver: Nameserver): string {
  return nameserver.scopeId ? `${nameserver.text}%${nameserver.scopeId}` : nameserver.text;
}

/** 16-bit random numbers from the platform CSPRNG, drawn 256 at a time. */
export function cryptoRandom16(): () => number {
  const pool = new Uint16Array(256);
  let used = pool.length;
  return () => {
    if (used === pool.length) {
      crypto.getRandomValues(pool);
      used = 0;
    }
    return pool[used++];
  };
}

/**
 * Forwards guest DNS queries over UDP to the host's nameservers, with failover.
 *
 * @example
 * ```ts
 * import { Counters } from "../stack/counters.ts";
 * import { DnsForwarder } from "./forwarder.ts";
 * import { parseResolvConf } from "./resolv_conf.ts";
 * const sent: Uint8Array[] = [];
 * const forwarder = new DnsForwarder(
 *   () => parseResolvConf("nameserver 127.0.0.1\n"),
 *   { open: () => 3, send: (_h, m) => (sent.push(m.slice()), m.length), close: () => {} },
 *   { answer: () => {} },
 *   new Counters(),
 * );
 * const q = new Uint8Array([0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0x61, 0, 0, 1, 0, 1]);
 * forwarder.query({ mac: new Uint8Array(6), ip: 0x0a000264, port: 5353 }, q, 0);
 * if (sent.length !== 1) throw new Error("not forwarded");
 * ```
 */
export class DnsForwarder {
  readonly #conf: (now: number) => ResolvConf;
  readonly #sockets: UpstreamSockets;
  readonly #guest: GuestAnswers;
  readonly #counters: Counters;
  readonly #random16: () => number;
  readonly #servers = new Map<string, Server>();
  /** Per nameserver ever asked, by key; survives a server leaving resolv.conf. */
  readonly #stats = new Map<string, NameserverStats>();
  readonly #byHandle = new Map<number, UpstreamSocket>();
  readonly #timers = new Timers();
  readonly #scratch = new Uint8Array(512);
  #pending = 0;
  #rotation = 0;

  constructor(
    conf: (now: number) => ResolvConf,
    sockets: UpstreamSockets,
    guest: GuestAnswers,
    counters: Counters,
    random16: () => number = cryptoRandom16(),
  ) {
    this.#conf = conf;
    this.#sockets = sockets;
    this.#guest = guest;
    this.#counters = counters;
    this.#random16 = random16;
  }

  /** Queries not yet settled. */
  get pending(): number {
    return this.#pending;
  }

  /** Upstream sockets open now (current and retired ones still in use). */
  get openSockets(): number {
    return this.#byHandle.size;
  }

  /** The next timer, in the clock of `now`; Infinity when nothing waits. */
  get nextDeadline(): number {
    return this.#timers.peek();
  }

  /**
   * Handles one DNS message from the guest (the UDP payload `message`, which may be a view into
   * a ring: it is copied when kept).
   */
  query(from: GuestEndpoint, message: Uint8Array, now: number): void {
    const counters = this.#counters;
    counters.bump(C["dns.query"]);
    if (message.length < DNS_HEADER_LEN) {
      counters.bump(C["dns.query_truncated"]);
      return;
    }
    const flags = dnsFlags(message, 0);
    if (flags & DnsFlag.QR) {
      // A response sent to a server: answering could start a loop (RFC 1035 §4.1.1, QR).
      counters.bump(C["dns.query_not_query"]);
      return;
    }
    const layout = checkDnsMessage(message, 0, message.length);
    if (layout.check !== "ok") {
      counters.bump(C["dns.query_malformed"]);
      const n = emitDnsErrorReply(
        this.#scratch,
        0,
        message,
        0,
        DNS_HEADER_LEN,
        DnsRcode.FORMERR,
      );
      this.#guest.answer(from, this.#scratch.subarray(0, n));
      return;
    }
    if (this.#pending >= MAX_PENDING) {
      counters.bump(C["dns.too_many_pending"]);
      return;
    }
    const query: Query = {
      from: { mac: from.mac.slice(0, 6), ip: from.ip, port: from.port },
      guestId: readU16(message, DNS.ID),
      message: message.slice(),
      questionEnd: layout.questionEnd,
      opcode: dnsOpcode(flags),
      order: this.#order(now),
      next: 0,
      attempts: [],
      deadline: Infinity,
      inGrace: false,
      waitingOn: null,
      settled: false,
    };
    this.#pending++;
    this.#tryNext(query, now);
  }

  /** Handles one datagram received on the upstream socket `handle`. */
  answer(handle: number, message: Uint8Array, now: number): void {
    const counters = this.#counters;
    const socket = this.#byHandle.get(handle);
    if (socket === undefined || message.length < DNS_HEADER_LEN) {
      counters.bump(C["dns.answer_malformed"]);
      return;
    }
    const query = socket.ids.get(readU16(message, DNS.ID));
    if (query === undefined) {
      counters.bump(C["dns.answer_unknown_id"]);
      return;
    }
    const flags = dnsFlags(message, 0);
    const layout = checkDnsMessage(message, 0, message.length, true);
    if (!(flags & DnsFlag.QR) || dnsOpcode(flags) !== query.opcode || layout.check !== "ok") {
      counters.bump(C["dns.answer_malformed"]);
      return;
    }
    if (
      !sameQuestion(message, 0, layout.questionEnd, query.message, 0, query.questionEnd)
    ) {
      counters.bump(C["dns.answer_question_mismatch"]);
      return;
    }
    const server = socket.server;
    server.downUntil = 0;
    const rcode = flags & DnsFlag.RCODE_MASK;
    const rejected = rcode === DnsRcode.SERVFAIL || rcode === DnsRcode.REFUSED ||
      rcode === DnsRcode.NOTIMP;
    if (rejected) (query.rejectedBy ??= new Set()).add(server);
    if (rejected && query.order.slice(query.next).some((s) => !query.rejectedBy!.has(s))) {
      // glibc's stub does the same: another server may know better.
      counters.bump(C["dns.upstream_rejected"]);
      server.stats.rejected++;
      for (const attempt of query.attempts) {
        if (attempt.socket === socket && attempt.id === readU16(message, DNS.ID)) {
          attempt.live = false;
          this.#release(attempt, now);
        }
      }
      this.#tryNext(query, now);
      return;
    }
    writeU16(message, DNS.ID, query.guestId);
    counters.bump(C["dns.answer"]);
    server.stats.answered++;
    this.#settle(query, now);
    this.#guest.answer(query.from, message);
  }

  /**
   * Reports an error on an upstream socket (ICMP port or host unreachable turned into
   * ECONNREFUSED/EHOSTUNREACH by the kernel): the socket is retired and every query waiting on it
   * moves on to its next server.
   */
  socketError(handle: number, now: number): void {
    const socket = this.#byHandle.get(handle);
    if (socket === undefined) return;
    this.#counters.bump(C["dns.upstream_error"]);
    socket.server.stats.errors++;
    this.#retire(socket);
    socket.server.downUntil = now + DOWN_MS;
    const waiting = new Set(socket.ids.values());
    for (const query of waiting) {
      for (const attempt of query.attempts) {
        if (attempt.socket !== socket) continue;
        attempt.live = false;
        this.#release(attempt, now);
      }
      // Move on only if this socket carried the newest attempt; otherwise one is under way.
      const last = query.attempts[query.attempts.length - 1];
      if (last.socket === socket || query.next >= query.order.length) this.#tryNext(query, now);
    }
  }

  /** What each nameserver asked so far did, in the order they were first asked (copies). */
  nameserverStats(): NameserverStats[] {
    return [...this.#stats.values()].map((stats) => ({ ...stats }));
  }

  /** Runs the timers due at `now`. */
  poll(now: number): void {
    const timers = this.#timers;
    while (timers.peek() <= now) {
      const [deadline, query] = timers.pop();
      if (query.settled || deadline !== query.deadline) continue;
      if (query.inGrace) {
        this.#fail(query, now);
        continue;
      }
      if (query.waitingOn !== null) {
        // Waited for a slot too long: the server is busy, not down.
        query.waitingOn = null;
        this.#tryNext(query, now);
        continue;
      }
      this.#counters.bump(C["dns.upstream_timeout"]);
      const last = query.attempts[query.attempts.length - 1];
      last.socket.server.stats.timeouts++;
      last.socket.server.downUntil = now + DOWN_MS;
      this.#release(last, now);
      this.#tryNext(query, now);
    }
  }

  /** Closes every upstream socket and forgets every query (at stop). */
  close(): void {
    for (const socket of this.#byHandle.values()) this.#sockets.close(socket.handle);
    this.#byHandle.clear();
    this.#servers.clear();
    this.#pending = 0;
  }

  /** The servers to try for a new query, in order. */
  #order(now: number): Server[] {
    const conf = this.#conf(now);
    const listed: Server[] = [];
    const keep = new Set<string>();
    for (const nameserver of conf.nameservers) {
      const key = serverKey(nameserver);
      if (keep.has(key)) continue;
      keep.add(key);
      let server = this.#servers.get(key);
      if (server === undefined) {
        const stats = this.#stats.get(key) ?? {
          address: key,
          forwarded: 0,
          answered: 0,
          timeouts: 0,
          errors: 0,
          rejected: 0,
        };
        this.#stats.set(key, stats);
        server = {
          key,
          stats,
          nameserver,
          downUntil: 0,
          socket: null,
          inFlight: 0,
          waiting: [],
        };
        this.#servers.set(key, server);
      }
      listed.push(server);
    }
    // Servers gone from resolv.conf: no new queries; their sockets close when idle.
    for (const [key, server] of this.#servers) {
      if (keep.has(key)) continue;
      if (server.socket) this.#retire(server.socket);
      this.#servers.delete(key);
    }
    if (conf.rotate && listed.length > 1) {
      const shift = this.#rotation++ % listed.length;
      listed.push(...listed.splice(0, shift));
    }
    const healthy = listed.filter((s) => s.downUntil <= now);
    const round = healthy.length === listed.length
      ? listed
      : [...healthy, ...listed.filter((s) => s.downUntil > now)];
    const order: Server[] = [];
    for (let i = 0; i < conf.attempts; i++) order.push(...round);
    return order;
  }

  /**
   * Sends the query to the next server that takes it (queueing it when that server is busy), or
   * ends it. `first`, when given, is tried before the order goes on: a server that just freed a
   * slot for this query.
   */
  #tryNext(query: Query, now: number, first: Server | null = null): void {
    const timeoutMs = this.#conf(now).timeoutMs;
    if (first !== null && this.#send(query, first, now, timeoutMs)) return;
    while (query.next < query.order.length) {
      const server = query.order[query.next++];
      if (query.rejectedBy?.has(server)) continue;
      if (server.inFlight >= MAX_IN_FLIGHT) {
        query.waitingOn = server;
        server.waiting.push(query);
        query.deadline = now + timeoutMs;
        this.#timers.push(query.deadline, query);
        return;
      }
      if (this.#send(query, server, now, timeoutMs)) return;
    }
    if (query.attempts.some((a) => a.live)) {
      query.inGrace = true;
      query.deadline = now + GRACE_MS;
      this.#timers.push(query.deadline, query);
    } else {
      this.#fail(query, now);
    }
  }

  /** One attempt at `server`; false when it could not be sent (the server is then down). */
  #send(query: Query, server: Server, now: number, timeoutMs: number): boolean {
    const socket = this.#socketFor(server);
    if (socket === null) return false;
    const id = this.#freeId(socket);
    writeU16(query.message, DNS.ID, id);
    socket.uses++;
    const sent = this.#sockets.send(socket.handle, query.message);
    if (sent < 0) {
      this.#counters.bump(C["dns.upstream_error"]);
      server.stats.errors++;
      server.downUntil = now + DOWN_MS;
      this.#retire(socket);
      return false;
    }
    socket.ids.set(id, query);
    query.attempts.push({ socket, id, live: true, counted: true });
    server.inFlight++;
    server.stats.forwarded++;
    this.#counters.bump(C["dns.forwarded"]);
    query.deadline = now + timeoutMs;
    this.#timers.push(query.deadline, query);
    if (socket.uses >= QUERIES_PER_SOCKET) this.#retire(socket);
    return true;
  }

  /** An attempt no longer occupies its server: let a queued query have the slot. */
  #release(attempt: Attempt, now: number): void {
    if (!attempt.counted) return;
    attempt.counted = false;
    const server = attempt.socket.server;
    server.inFlight--;
    while (server.inFlight < MAX_IN_FLIGHT && server.waiting.length > 0) {
      const query = server.waiting.shift()!;
      if (query.settled || query.waitingOn !== server) continue;
      query.waitingOn = null;
      this.#tryNext(query, now, server);
    }
  }

  /** The server's current socket, opening one when needed; null if that failed. */
  #socketFor(server: Server): UpstreamSocket | null {
    if (server.socket !== null && !server.socket.retired) return server.socket;
    const handle = this.#sockets.open(server.nameserver);
    if (handle < 0) {
      this.#counters.bump(C["dns.upstream_error"]);
      server.stats.errors++;
      return null;
    }
    const socket: UpstreamSocket = { handle, server, ids: new Map(), uses: 0, retired: false };
    server.socket = socket;
    this.#byHandle.set(handle, socket);
    return socket;
  }

  /** A random ID not in use on the socket (it carries at most QUERIES_PER_SOCKET). */
  #freeId(socket: UpstreamSocket): number {
    for (;;) {
      const id = this.#random16() & 0xffff;
      if (!socket.ids.has(id)) return id;
    }
  }

  #retire(socket: UpstreamSocket): void {
    socket.retired = true;
    if (socket.server.socket === socket) socket.server.socket = null;
    if (socket.ids.size === 0) this.#closeSocket(socket);
  }

  #closeSocket(socket: UpstreamSocket): void {
    if (!this.#byHandle.delete(socket.handle)) return;
    this.#sockets.close(socket.handle);
  }

  #settle(query: Query, now: number): void {
    query.settled = true;
    query.waitingOn = null;
    this.#pending--;
    for (const attempt of query.attempts) {
      const socket = attempt.socket;
      socket.ids.delete(attempt.id);
      if (socket.retired && socket.ids.size === 0) this.#closeSocket(socket);
    }
    for (const attempt of query.attempts) this.#release(attempt, now);
  }

  /** Every server failed: SERVFAIL with the question, so the guest's stub moves on at once. */
  #fail(query: Query, now: number): void {
    if (query.settled) return;
    this.#settle(query, now);
    this.#counters.bump(C["dns.servfail"]);
    writeU16(query.message, DNS.ID, query.guestId);
    const n = emitDnsErrorReply(
      query.message,
      0,
      query.message,
      0,
      query.questionEnd,
      DnsRcode.SERVFAIL,
    );
    this.#guest.answer(query.from, query.message.subarray(0, n));
  }
}
