import assert from "node:assert/strict";
import { C, Counters } from "../stack/counters.ts";
import {
  DnsForwarder,
  DOWN_MS,
  GRACE_MS,
  type GuestEndpoint,
  MAX_IN_FLIGHT,
  MAX_PENDING,
  QUERIES_PER_SOCKET,
  type UpstreamSockets,
} from "./forwarder.ts";
import { type Nameserver, parseResolvConf, type ResolvConf } from "./resolv_conf.ts";
import { buildAnswer, buildQuery } from "./testdata/messages.ts";

const GUEST: GuestEndpoint = {
  mac: new Uint8Array([2, 0, 0, 0, 0, 1]),
  ip: 0x0a000264,
  port: 40000,
};

class FakeSockets implements UpstreamSockets {
  next = 10;
  open_: Map<number, string> = new Map();
  sent: { handle: number; server: string; message: Uint8Array }[] = [];
  closed: number[] = [];
  failOpen = new Set<string>();
  failSend = new Set<string>();

  open(nameserver: Nameserver): number {
    if (this.failOpen.has(nameserver.text)) return -24; // EMFILE
    const handle = this.next++;
    this.open_.set(handle, nameserver.text);
    return handle;
  }
  send(handle: number, message: Uint8Array): number {
    const server = this.open_.get(handle);
    assert.ok(server !== undefined, `send on closed handle ${handle}`);
    if (this.failSend.has(server)) return -111; // ECONNREFUSED
    this.sent.push({ handle, server, message: message.slice() });
    return message.length;
  }
  close(handle: number): void {
    assert.ok(this.open_.delete(handle), `double close of ${handle}`);
    this.closed.push(handle);
  }
  /** The last query sent, for building its answer. */
  last(): { handle: number; server: string; message: Uint8Array } {
    const last = this.sent.at(-1);
    assert.ok(last, "nothing sent");
    return last;
  }
}

function setup(conf = "nameserver 127.0.0.1\nnameserver 127.0.0.2\n") {
  let resolv: ResolvConf = parseResolvConf(conf);
  const sockets = new FakeSockets();
  const answers: { to: GuestEndpoint; message: Uint8Array }[] = [];
  const counters = new Counters();
  let seed = 1;
  const forwarder = new DnsForwarder(
    () => resolv,
    sockets,
    { answer: (to, message) => answers.push({ to, message: message.slice() }) },
    counters,
    () => (seed = (seed * 1103515245 + 12345) >>> 0) >>> 16,
  );
  return {
    forwarder,
    sockets,
    answers,
    counters,
    setConf: (text: string) => (resolv = parseResolvConf(text)),
  };
}

const idOf = (m: Uint8Array) => (m[0] << 8) | m[1];

Deno.test("DnsForwarder sends to the first nameserver with a new ID and restores the guest's", () => {
  const { forwarder, sockets, answers, counters } = setup();
  const query = buildQuery(0x1234, "web.test", { edns: 1232 });
  forwarder.query(GUEST, query, 0);
  const sent = sockets.last();
  assert.equal(sent.server, "127.0.0.1");
  assert.deepEqual(sent.message.subarray(2), query.subarray(2));
  forwarder.answer(sent.handle, buildAnswer(sent.message, [0xc6336402]), 5);
  assert.equal(answers.length, 1);
  assert.equal(idOf(answers[0].message), 0x1234);
  assert.deepEqual(answers[0].to, GUEST);
  assert.equal(forwarder.pending, 0);
  assert.equal(counters.get("dns.answer"), 1);
});

Deno.test("DnsForwarder drops answers with a wrong ID, wrong question, or without QR", () => {
  const { forwarder, sockets, answers, counters } = setup();
  forwarder.query(GUEST, buildQuery(7, "a.test"), 0);
  const sent = sockets.last();
  const id = idOf(sent.message);
  forwarder.answer(sent.handle, buildAnswer(sent.message, [1], { id: (id + 1) & 0xffff }), 1);
  assert.equal(counters.get("dns.answer_unknown_id"), 1);
  const other = buildQuery(id, "b.test");
  forwarder.answer(sent.handle, buildAnswer(other, [1]), 1);
  assert.equal(counters.get("dns.answer_question_mismatch"), 1);
  const notResponse = sent.message.slice();
  forwarder.answer(sent.handle, notResponse, 1);
  forwarder.answer(sent.handle, sent.message.subarray(0, 11), 1);
  forwarder.answer(999, buildAnswer(sent.message, [1]), 1);
  assert.equal(counters.get("dns.answer_malformed"), 3);
  assert.equal(answers.length, 0);
  assert.equal(forwarder.pending, 1);
  // Same name in another case: accepted (RFC 4343).
  const upper = buildAnswer(sent.message, [1]);
  upper[13] ^= 0x20;
  forwarder.answer(sent.handle, upper, 2);
  assert.equal(answers.length, 1);
});

Deno.test("DnsForwarder fails over to the next nameserver on timeout and takes a late answer", () => {
  const { forwarder, sockets, answers, counters } = setup();
  forwarder.query(GUEST, buildQuery(1, "a.test"), 0);
  const first = sockets.last();
  assert.equal(forwarder.nextDeadline, 2000);
  forwarder.poll(1999);
  assert.equal(sockets.sent.length, 1);
  forwarder.poll(2000);
  assert.equal(counters.get("dns.upstream_timeout"), 1);
  const second = sockets.last();
  assert.equal(second.server, "127.0.0.2");
  // The first server answers late: still taken.
  forwarder.answer(first.handle, buildAnswer(first.message, [5]), 2500);
  assert.equal(answers.length, 1);
  // The second one's answer now has no query.
  forwarder.answer(second.handle, buildAnswer(second.message, [6]), 2600);
  assert.equal(answers.length, 1);
  assert.equal(counters.get("dns.answer_unknown_id"), 1);
});

Deno.test("DnsForwarder tries a server that timed out only after the others for DOWN_MS", () => {
  const { forwarder, sockets } = setup();
  forwarder.query(GUEST, buildQuery(1, "a.test"), 0);
  forwarder.poll(2000); // 127.0.0.1 timed out
  forwarder.query(GUEST, buildQuery(2, "b.test"), 3000);
  assert.equal(sockets.last().server, "127.0.0.2");
  forwarder.query(GUEST, buildQuery(3, "c.test"), 2000 + DOWN_MS);
  assert.equal(sockets.last().server, "127.0.0.1");
});

Deno.test("DnsForwarder moves on at once when a socket reports ECONNREFUSED", () => {
  const { forwarder, sockets, counters } = setup();
  forwarder.query(GUEST, buildQuery(1, "a.test"), 0);
  forwarder.query(GUEST, buildQuery(2, "b.test"), 0);
  const handle = sockets.last().handle;
  forwarder.socketError(handle, 10);
  assert.equal(counters.get("dns.upstream_error"), 1);
  assert.deepEqual(sockets.sent.slice(2).map((s) => s.server), ["127.0.0.2", "127.0.0.2"]);
  assert.ok(!sockets.open_.has(handle) || forwarder.openSockets === 2);
  // Both queries answered by the second: the first socket is closed.
  for (const s of sockets.sent.slice(2)) {
    forwarder.answer(s.handle, buildAnswer(s.message, [1]), 20);
  }
  assert.equal(forwarder.pending, 0);
  assert.ok(sockets.closed.includes(handle));
});

Deno.test("DnsForwarder skips servers whose socket cannot be opened or sent on", () => {
  const { forwarder, sockets, answers, counters } = setup(
    "nameserver 127.0.0.1\nnameserver 127.0.0.2\nnameserver 127.0.0.3\n",
  );
  sockets.failOpen.add("127.0.0.1");
  sockets.failSend.add("127.0.0.2");
  forwarder.query(GUEST, buildQuery(1, "a.test"), 0);
  assert.equal(sockets.last().server, "127.0.0.3");
  assert.equal(counters.get("dns.upstream_error"), 2);
  sockets.failSend.add("127.0.0.3");
  forwarder.query(GUEST, buildQuery(2, "b.test"), 1);
  // Nothing could be sent for the second one: SERVFAIL at once.
  assert.equal(answers.length, 1);
  assert.equal(answers[0].message[3] & 0xf, 2);
  assert.equal(idOf(answers[0].message), 2);
});

Deno.test("DnsForwarder answers SERVFAIL after every server timed out and the grace period", () => {
  const { forwarder, answers, counters, sockets } = setup(
    "options attempts:1\nnameserver 127.0.0.1\nnameserver 127.0.0.2\n",
  );
  const query = buildQuery(0x4242, "slow.test");
  forwarder.query(GUEST, query, 0);
  forwarder.poll(2000);
  forwarder.poll(4000);
  assert.equal(answers.length, 0);
  assert.equal(forwarder.nextDeadline, 4000 + GRACE_MS);
  forwarder.poll(4000 + GRACE_MS);
  assert.equal(answers.length, 1);
  const reply = answers[0].message;
  assert.equal(idOf(reply), 0x4242);
  assert.equal(reply[2] & 0x80, 0x80);
  assert.equal(reply[3] & 0xf, 2);
  assert.deepEqual(reply.subarray(12), query.subarray(12));
  assert.equal(counters.get("dns.servfail"), 1);
  assert.equal(counters.get("dns.upstream_timeout"), 2);
  assert.equal(forwarder.pending, 0);
  assert.equal(forwarder.nextDeadline, Infinity);
  // Nothing leaks: the sockets stay as current sockets of their servers, with no IDs.
  assert.ok(forwarder.openSockets <= 2);
  assert.equal(sockets.open_.size, forwarder.openSockets);
});

Deno.test("DnsForwarder sends again to the only server after a timeout (attempts: 2, glibc's default)", () => {
  const { forwarder, sockets, answers } = setup("nameserver 127.0.0.1\n");
  forwarder.query(GUEST, buildQuery(1, "lost.test"), 0);
  forwarder.poll(2000);
  assert.equal(sockets.sent.length, 2);
  assert.equal(sockets.sent[1].server, "127.0.0.1");
  assert.notEqual(idOf(sockets.sent[0].message), idOf(sockets.sent[1].message));
  const s = sockets.last();
  forwarder.answer(s.handle, buildAnswer(s.message, [1]), 2100);
  assert.equal(answers.length, 1);
  forwarder.poll(10_000);
  assert.equal(answers.length, 1);
});

Deno.test("DnsForwarder passes REFUSED on to the next server, and the last answer through", () => {
  const { forwarder, sockets, answers, counters } = setup();
  forwarder.query(GUEST, buildQuery(9, "x.test"), 0);
  const first = sockets.last();
  forwarder.answer(first.handle, buildAnswer(first.message, [], { rcode: 5 }), 1);
  assert.equal(counters.get("dns.upstream_rejected"), 1);
  const second = sockets.last();
  assert.equal(second.server, "127.0.0.2");
  forwarder.answer(second.handle, buildAnswer(second.message, [], { rcode: 5 }), 2);
  assert.equal(answers.length, 1);
  assert.equal(answers[0].message[3] & 0xf, 5);
});

Deno.test("DnsForwarder passes NXDOMAIN and truncated (TC) answers through unchanged", () => {
  const { forwarder, sockets, answers } = setup();
  forwarder.query(GUEST, buildQuery(1, "nx.test"), 0);
  let s = sockets.last();
  forwarder.answer(s.handle, buildAnswer(s.message, [], { rcode: 3 }), 1);
  forwarder.query(GUEST, buildQuery(2, "big.test"), 2);
  s = sockets.last();
  const tc = buildAnswer(s.message, [], { tc: true });
  forwarder.answer(s.handle, tc, 3);
  assert.equal(answers.length, 2);
  assert.equal(answers[0].message[3] & 0xf, 3);
  assert.equal(answers[1].message[2] & 0x02, 0x02);
  assert.equal(sockets.sent.length, 2, "no failover for NXDOMAIN or TC");
});

Deno.test("DnsForwarder answers malformed queries with FORMERR and drops runts and responses", () => {
  const { forwarder, sockets, answers, counters } = setup();
  const loop = new Uint8Array([0, 5, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1]);
  forwarder.query(GUEST, loop, 0);
  const truncated = buildQuery(6, "a.test").subarray(0, 20);
  forwarder.query(GUEST, truncated, 0);
  assert.equal(counters.get("dns.query_malformed"), 2);
  assert.equal(answers.length, 2);
  for (const a of answers) {
    assert.equal(a.message.length, 12);
    assert.equal(a.message[3] & 0xf, 1);
    assert.equal(a.message[2] & 0x80, 0x80);
  }
  assert.equal(idOf(answers[0].message), 5);
  forwarder.query(GUEST, new Uint8Array(11), 0);
  assert.equal(counters.get("dns.query_truncated"), 1);
  forwarder.query(GUEST, buildQuery(1, "a.test", { flags: 0x8100 }), 0);
  assert.equal(counters.get("dns.query_not_query"), 1);
  assert.equal(answers.length, 2);
  assert.equal(sockets.sent.length, 0);
  assert.equal(forwarder.pending, 0);
});

Deno.test("DnsForwarder retires a socket after QUERIES_PER_SOCKET and closes it when idle", () => {
  const { forwarder, sockets } = setup("nameserver 127.0.0.1\n");
  for (let i = 0; i < QUERIES_PER_SOCKET + 1; i++) {
    forwarder.query(GUEST, buildQuery(i, `n${i}.test`), 0);
  }
  const handles = new Set(sockets.sent.map((s) => s.handle));
  assert.equal(handles.size, 2);
  const ids = new Set(sockets.sent.slice(0, QUERIES_PER_SOCKET).map((s) => idOf(s.message)));
  assert.equal(ids.size, QUERIES_PER_SOCKET, "IDs unique on one socket");
  for (const s of sockets.sent) forwarder.answer(s.handle, buildAnswer(s.message, [1]), 1);
  assert.equal(forwarder.pending, 0);
  assert.equal(sockets.closed.length, 1);
  assert.equal(forwarder.openSockets, 1);
});

Deno.test("DnsForwarder keeps at most MAX_PENDING queries and every one settles in bounded time", () => {
  const { forwarder, answers, counters, sockets } = setup();
  for (let i = 0; i < MAX_PENDING + 10; i++) {
    forwarder.query(GUEST, buildQuery(i & 0xffff, `q${i}.test`), 0);
  }
  assert.equal(forwarder.pending, MAX_PENDING);
  assert.equal(counters.get("dns.too_many_pending"), 10);
  // Two rounds (attempts: 2) over two servers, each at most 2 s queued and 2 s sent, then the
  // grace period.
  for (let t = 0; t <= 2 * 2 * 2 * 2000 + GRACE_MS; t += 500) forwarder.poll(t);
  assert.equal(forwarder.pending, 0);
  assert.equal(answers.length, MAX_PENDING);
  assert.equal(counters.get("dns.servfail"), MAX_PENDING);
  forwarder.close();
  assert.equal(sockets.open_.size, 0);
});

Deno.test("DnsForwarder follows resolv.conf changes and closes sockets of removed servers", () => {
  const { forwarder, sockets, setConf } = setup("nameserver 127.0.0.1\n");
  forwarder.query(GUEST, buildQuery(1, "a.test"), 0);
  const old = sockets.last();
  setConf("nameserver 127.0.0.9\n");
  forwarder.query(GUEST, buildQuery(2, "b.test"), 10);
  assert.equal(sockets.last().server, "127.0.0.9");
  assert.ok(sockets.open_.has(old.handle), "still waited on");
  forwarder.answer(old.handle, buildAnswer(old.message, [1]), 11);
  assert.ok(!sockets.open_.has(old.handle));
});

Deno.test("DnsForwarder with rotate starts each query at the next server", () => {
  const { forwarder, sockets } = setup(
    "options rotate\nnameserver 127.0.0.1\nnameserver 127.0.0.2\n",
  );
  for (let i = 0; i < 4; i++) forwarder.query(GUEST, buildQuery(i, `r${i}.test`), 0);
  assert.deepEqual(sockets.sent.map((s) => s.server), [
    "127.0.0.1",
    "127.0.0.2",
    "127.0.0.1",
    "127.0.0.2",
  ]);
});

Deno.test("DnsForwarder keeps at most MAX_IN_FLIGHT on a server and sends the rest as it answers", () => {
  const { forwarder, sockets, answers, counters } = setup("nameserver 127.0.0.1\n");
  for (let i = 0; i < MAX_IN_FLIGHT + 50; i++) {
    forwarder.query(GUEST, buildQuery(i, `b${i}.test`), 0);
  }
  assert.equal(sockets.sent.length, MAX_IN_FLIGHT);
  for (let i = 0; i < 50; i++) {
    const s = sockets.sent[i];
    forwarder.answer(s.handle, buildAnswer(s.message, [1]), 1);
  }
  assert.equal(sockets.sent.length, MAX_IN_FLIGHT + 50);
  for (const s of sockets.sent.slice(50)) {
    forwarder.answer(s.handle, buildAnswer(s.message, [1]), 2);
  }
  assert.equal(answers.length, MAX_IN_FLIGHT + 50);
  assert.equal(new Set(answers.map((a) => idOf(a.message))).size, MAX_IN_FLIGHT + 50);
  assert.equal(forwarder.pending, 0);
  assert.equal(counters.get("dns.upstream_timeout"), 0);
  assert.equal(typeof C["dns.forwarded"], "number");
});

Deno.test("DnsForwarder moves a query that waited too long for a busy server on to the next", () => {
  const { forwarder, sockets } = setup();
  for (let i = 0; i <= MAX_IN_FLIGHT; i++) forwarder.query(GUEST, buildQuery(i, `w${i}.test`), 0);
  assert.equal(sockets.sent.length, MAX_IN_FLIGHT);
  forwarder.poll(1999);
  assert.equal(sockets.sent.length, MAX_IN_FLIGHT);
  forwarder.poll(2000);
  // Every attempt timed out (server 1 is down now) and moved to server 2, the queued one too.
  assert.equal(sockets.sent.filter((s) => s.server === "127.0.0.2").length, MAX_IN_FLIGHT);
});

Deno.test("DnsForwarder answers an IPv6 guest through IPv4 and IPv6 nameservers alike, with failover", () => {
  const { forwarder, sockets, answers } = setup("nameserver 127.0.0.1\nnameserver ::1\n");
  const guest6: GuestEndpoint = { ...GUEST, ip: 0xfd00n << 112n | 0x100n, port: 40001 };
  // The family of the query does not pick the nameservers: an IPv4 one goes first.
  forwarder.query(guest6, buildQuery(0x6666, "v6.test"), 0);
  const first = sockets.last();
  assert.equal(first.server, "127.0.0.1");
  forwarder.socketError(first.handle, 1);
  const second = sockets.last();
  assert.equal(second.server, "::1");
  forwarder.answer(second.handle, buildAnswer(second.message, [0xc6336402]), 2);
  assert.equal(answers.length, 1);
  assert.deepEqual(answers[0].to, guest6);
  assert.equal(idOf(answers[0].message), 0x6666);
});
