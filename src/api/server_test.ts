import assert from "node:assert/strict";
import { EAGAIN } from "../ffi/errno.ts";
import { cString, loadShim, type Shim } from "../ffi/shim.ts";
import { EPOLLIN, EPOLLOUT, SHUT_WR } from "../ffi/sockaddr.ts";
import { Reactor } from "../host/reactor.ts";
import {
  apiRequest,
  connect,
  pathExists,
  readAll,
  sendAll,
  tempSocketPath,
  waitFor,
} from "./_test_utils.ts";
import type { ForwardListeners } from "./host_listener.ts";
import { ApiService } from "./mod.ts";
import type { ForwardSpec } from "./protocol.ts";
import { ApiServer, ApiSocketError, splitSocketPath } from "./server.ts";

const GUEST = 0x0a000264;
const ECONNRESET = 104;
const encoder = new TextEncoder();

/** Listeners that open nothing: the upstream test forwards 0.0.0.0:8080, and tests stay on loopback. */
class FakeListeners implements ForwardListeners {
  readonly open_ = new Map<number, ForwardSpec>();
  failWith = 0;
  open(id: number, spec: ForwardSpec): number {
    if (this.failWith) return -this.failWith;
    this.open_.set(id, spec);
    return 0;
  }
  close(id: number): boolean {
    return this.open_.delete(id);
  }
  closeAll(): void {
    this.open_.clear();
  }
}

interface Fixture {
  shim: Shim;
  reactor: Reactor;
  path: string;
  api: ApiService;
  listeners: FakeListeners;
  request(text: string | Uint8Array, options?: { halfClose?: boolean }): Promise<string>;
  stop(): Promise<void>;
}

async function start(
  label: string,
  server: { deadlineMs?: number; lingerMs?: number; maxClients?: number } = {},
  stats?: (connections: boolean) => Promise<unknown>,
): Promise<Fixture> {
  const shim = await loadShim();
  const reactor = Reactor.create(shim);
  const loop = reactor.run();
  const path = tempSocketPath(label);
  const listeners = new FakeListeners();
  const api = ApiService.start(shim, reactor, {
    path,
    guestDefaults: { ipv4: GUEST },
    listeners,
    server,
    stats,
  });
  return {
    shim,
    reactor,
    path,
    api,
    listeners,
    request: (text, options) => apiRequest(shim, reactor, path, text, options),
    stop: async () => {
      api.close();
      await reactor.stop();
      await loop;
    },
  };
}

Deno.test("API socket answers the upstream api-socket test's requests byte for byte", async () => {
  const f = await start("upstream");
  try {
    // The requests of test-slirp4netns-api-socket.sh, as `echo '...' | ncat -U` sends them.
    assert.equal(
      await f.request("badjson\n"),
      '{"error":{"desc":"bad request: cannot parse JSON"}}',
    );
    assert.equal(
      await f.request('{"unexpectedjson": 42}\n'),
      '{"error":{"desc":"bad request: no execute found"}}',
    );
    assert.equal(
      await f.request('{"execute": "bad"}\n'),
      '{"error":{"desc":"bad request: unknown execute"}}',
    );
    assert.equal(
      await f.request('{"execute": "add_hostfwd", "arguments":{"proto": "bad"}}\n'),
      '{"error":{"desc":"bad request: add_hostfwd: bad arguments.proto"}}',
    );
    assert.equal(
      await f.request(new Uint8Array(65536)), // cat /dev/zero, cut short
      '{"error":{"desc":"bad request: too large message"}}',
    );
    assert.equal(
      await f.request(
        '{"execute": "add_hostfwd", "arguments":{"proto": "tcp","host_port":8080,"guest_port":80}}\n',
      ),
      '{"return":{"id":1}}',
    );
    assert.deepEqual(f.listeners.open_.get(1), {
      proto: "tcp",
      hostAddr: 0,
      hostPort: 8080,
      guestAddr: GUEST,
      guestPort: 80,
    });
    assert.equal(
      await f.request('{"execute": "list_hostfwd"}\n'),
      '{"entries":[{"id":1,"proto":"tcp","host_addr":"0.0.0.0","host_port":8080,' +
        '"guest_addr":"10.0.2.100","guest_port":80}]}',
    );
    assert.equal(
      await f.request('{"execute": "remove_hostfwd", "arguments":{"id": 1}}\n'),
      '{"return":{}}',
    );
    assert.equal(f.listeners.open_.size, 0);
    assert.equal(
      await f.request('{"execute": "remove_hostfwd", "arguments":{"id": 1}}\n'),
      '{"error":{"desc":"bad request: remove_hostfwd: bad arguments.id"}}',
    );
    assert.equal(await f.request('{"execute": "list_hostfwd"}\n'), '{"entries":[]}');
  } finally {
    await f.stop();
  }
});

Deno.test("API socket: a missing proto is answered, and the server keeps serving", async () => {
  const f = await start("noproto");
  try {
    assert.equal(
      await f.request('{"execute":"add_hostfwd"}'),
      '{"error":{"desc":"bad request: add_hostfwd: bad arguments.proto"}}',
    );
    assert.equal(await f.request('{"execute":"list_hostfwd"}'), '{"entries":[]}');
  } finally {
    await f.stop();
  }
});

Deno.test("API socket: ids grow only on success and duplicates say why", async () => {
  const f = await start("ids");
  const add = (port: number, addr = "127.0.0.1") =>
    f.request(JSON.stringify({
      execute: "add_hostfwd",
      arguments: { proto: "tcp", host_addr: addr, host_port: port, guest_port: 80 },
    }));
  try {
    assert.equal(await add(18080), '{"return":{"id":1}}');
    assert.equal(
      await add(18080),
      '{"error":{"desc":"bad request: add_hostfwd: slirp_add_hostfwd failed: Address already in use"}}',
    );
    assert.equal(
      await add(18080, "0.0.0.0"),
      '{"error":{"desc":"bad request: add_hostfwd: slirp_add_hostfwd failed: Address already in use"}}',
    );
    f.listeners.failWith = 13; // EACCES, as for a port < 1024 without CAP_NET_BIND_SERVICE
    assert.equal(
      await add(80),
      '{"error":{"desc":"bad request: add_hostfwd: slirp_add_hostfwd failed: Permission denied"}}',
    );
    f.listeners.failWith = 0;
    assert.equal(await add(18081), '{"return":{"id":2}}');
  } finally {
    await f.stop();
  }
});

Deno.test("API socket answers a complete request without waiting for end of input", async () => {
  const f = await start("nohalfclose");
  try {
    const started = performance.now();
    const reply = await f.request('{"execute":"list_hostfwd"}', { halfClose: false });
    assert.equal(reply, '{"entries":[]}');
    assert.ok(performance.now() - started < 1000, "answered at once, not at the deadline");
  } finally {
    await f.stop();
  }
});

Deno.test("API socket runs only the first of two requests in one connection", async () => {
  const f = await start("two");
  try {
    const reply = await f.request(
      '{"execute":"add_hostfwd","arguments":{"proto":"udp","host_port":5353,"guest_port":53}}' +
        '{"execute":"remove_hostfwd","arguments":{"id":1}}',
    );
    assert.equal(reply, '{"return":{"id":1}}');
    assert.equal(f.api.table.size, 1);
  } finally {
    await f.stop();
  }
});

Deno.test("API socket: 4095 bytes is a request, 4096 is too large", async () => {
  const f = await start("size");
  const padded = (total: number) => {
    const head = '{"execute":"list_hostfwd","pad":"';
    const tail = '"}';
    return head + "x".repeat(total - head.length - tail.length) + tail;
  };
  try {
    assert.equal(encoder.encode(padded(4095)).length, 4095);
    assert.equal(await f.request(padded(4095)), '{"entries":[]}');
    assert.equal(
      await f.request(padded(4096)),
      '{"error":{"desc":"bad request: too large message"}}',
    );
    assert.equal(
      await f.request(" ".repeat(4096)),
      '{"error":{"desc":"bad request: too large message"}}',
    );
  } finally {
    await f.stop();
  }
});

Deno.test("API socket: a client still writing (cat /dev/zero | ncat -U) reads the reply", async () => {
  const f = await start("zero");
  try {
    const fd = await connect(f.shim, f.reactor, f.path);
    try {
      // Keep writing zeros while reading, as ncat does; the reply must arrive, not a reset.
      const zeros = new Uint8Array(8192);
      const buffer = new Uint8Array(4096);
      let reply = "";
      let written = 0;
      for (let turn = 0; turn < 1000; turn++) {
        const sent = f.shim.shim_send(fd, zeros, zeros.length, 0);
        if (sent > 0) written += sent;
        const n = f.shim.shim_recv(fd, buffer, buffer.length, 0);
        if (n === 0) break; // the server closed after the reply
        if (n > 0) reply += new TextDecoder().decode(buffer.subarray(0, n));
        if (n === -ECONNRESET) break; // fails the test below
        if (n < 0 && n !== -EAGAIN) throw new Error(`recv: ${-n}`);
        if (n === -EAGAIN) await waitFor(f.reactor, fd, EPOLLIN | EPOLLOUT, 2000);
      }
      assert.ok(written > 4096);
      assert.equal(reply, '{"error":{"desc":"bad request: too large message"}}');
    } finally {
      f.shim.shim_close(fd);
    }
  } finally {
    await f.stop();
  }
});

Deno.test("API socket serves 100 clients at once", async () => {
  const f = await start("many");
  try {
    const replies = await Promise.all(
      Array.from({ length: 100 }, (_, i) =>
        f.request(
          i % 2 === 0 ? '{"execute":"list_hostfwd"}\n' : `{"execute":"nothing${i}"}\n`,
          { halfClose: i % 3 !== 0 },
        )),
    );
    replies.forEach((reply, i) =>
      assert.equal(
        reply,
        i % 2 === 0 ? '{"entries":[]}' : '{"error":{"desc":"bad request: unknown execute"}}',
      )
    );
    assert.equal(f.api.server?.answered, 100);
  } finally {
    await f.stop();
  }
});

Deno.test("API socket serves more clients than its slots, the rest waiting in the backlog", async () => {
  const f = await start("slots", { maxClients: 4 });
  try {
    const replies = await Promise.all(
      Array.from({ length: 40 }, () => f.request('{"execute":"list_hostfwd"}')),
    );
    assert.deepEqual(new Set(replies), new Set(['{"entries":[]}']));
  } finally {
    await f.stop();
  }
});

Deno.test("API socket: a stuck client blocks nobody and is answered at its deadline", async () => {
  const f = await start("stuck", { deadlineMs: 400 });
  try {
    const stuck = await connect(f.shim, f.reactor, f.path);
    const partial = await connect(f.shim, f.reactor, f.path);
    await sendAll(f.shim, f.reactor, partial, encoder.encode('{"execute":"list_hostfwd"'));
    try {
      const started = performance.now();
      assert.equal(await f.request('{"execute":"list_hostfwd"}'), '{"entries":[]}');
      assert.ok(performance.now() - started < 300, "served while the others hang");
      // At the deadline, what arrived is the request (slirp4netns answers its one read).
      const [stuckReply, partialReply] = await Promise.all([
        readAll(f.shim, f.reactor, stuck),
        readAll(f.shim, f.reactor, partial),
      ]);
      const cannotParse = '{"error":{"desc":"bad request: cannot parse JSON"}}';
      assert.equal(new TextDecoder().decode(stuckReply), cannotParse);
      assert.equal(new TextDecoder().decode(partialReply), cannotParse);
    } finally {
      f.shim.shim_close(stuck);
      f.shim.shim_close(partial);
    }
  } finally {
    await f.stop();
  }
});

Deno.test("API socket: a slow client sending byte by byte gets its answer", async () => {
  const f = await start("slow");
  try {
    const fd = await connect(f.shim, f.reactor, f.path);
    try {
      const request = encoder.encode('{"execute": "list_hostfwd"}');
      for (let i = 0; i < request.length; i++) {
        await sendAll(f.shim, f.reactor, fd, request.subarray(i, i + 1));
        await new Promise((resolve) => setTimeout(resolve, 2));
      }
      assert.equal(
        new TextDecoder().decode(await readAll(f.shim, f.reactor, fd)),
        '{"entries":[]}',
      );
    } finally {
      f.shim.shim_close(fd);
    }
  } finally {
    await f.stop();
  }
});

Deno.test("API socket: a client that leaves without reading does no harm", async () => {
  const f = await start("leaver");
  try {
    for (let i = 0; i < 20; i++) {
      const fd = await connect(f.shim, f.reactor, f.path);
      await sendAll(f.shim, f.reactor, fd, encoder.encode('{"execute":"list_hostfwd"}'));
      f.shim.shim_shutdown(fd, SHUT_WR);
      f.shim.shim_close(fd);
    }
    assert.equal(await f.request('{"execute":"list_hostfwd"}'), '{"entries":[]}');
  } finally {
    await f.stop();
  }
});

Deno.test("ApiServer.listen() refuses a path of 108 bytes or more with slirp4netns's message", async () => {
  const shim = await loadShim();
  const reactor = Reactor.create(shim);
  const base = "/tmp/s4n-" + crypto.randomUUID().slice(0, 8) + "-";
  const long = base + "A".repeat(108 - base.length - 5) + ".sock";
  assert.equal(encoder.encode(long).length, 108);
  try {
    assert.throws(
      () => ApiServer.listen(shim, reactor, long, { handle: () => "" }),
      (error: Error) =>
        error instanceof ApiSocketError &&
        error.message === "the specified API socket path is too long (>= 108)",
    );
    assert.equal(pathExists(shim, long), false);
    // The upstream test's too-long path, under a mktemp -d directory.
    const upstream = "/tmp/slirp4netns-bench.XXXXXXXXXX/slirp4netns-TOO-LONG-" + "A".repeat(90) +
      ".sock";
    assert.throws(
      () => ApiServer.listen(shim, reactor, upstream, { handle: () => "" }),
      ApiSocketError,
    );
    // 107 bytes fit.
    const fits = long.slice(0, 102) + ".sock";
    assert.equal(encoder.encode(fits).length, 107);
    const server = ApiServer.listen(shim, reactor, fits, { handle: () => "" });
    assert.ok(pathExists(shim, fits));
    server.close();
    assert.equal(pathExists(shim, fits), false);
  } finally {
    await reactor.stop();
  }
});

Deno.test("ApiServer.listen() replaces a stale socket but never deletes anything else", async () => {
  const shim = await loadShim();
  const reactor = Reactor.create(shim);
  const loop = reactor.run();
  const path = tempSocketPath("stale");
  try {
    const first = ApiServer.listen(shim, reactor, path, { handle: () => "first" });
    const second = ApiServer.listen(shim, reactor, path, { handle: () => "second" });
    assert.equal(await apiRequest(shim, reactor, path, "{}"), "second");
    first.close(); // not its file any more: left alone
    assert.ok(pathExists(shim, path));
    assert.equal(await apiRequest(shim, reactor, path, "{}"), "second");
    second.close();
    assert.equal(pathExists(shim, path), false);
    second.close(); // idempotent
    assert.throws(
      () => ApiServer.listen(shim, reactor, "/tmp", { handle: () => "" }),
      (error: Error) => error instanceof ApiSocketError && /not a socket/.test(error.message),
    );
    assert.ok(pathExists(shim, "/tmp"));
    assert.throws(
      () => ApiServer.listen(shim, reactor, "/nonexistent-dir/api.sock", { handle: () => "" }),
      (error: Error) =>
        error instanceof ApiSocketError &&
        error.message === "api_bindlisten: bind: No such file or directory",
    );
  } finally {
    shim.shim_unlink(cString(path));
    await reactor.stop();
    await loop;
  }
});

Deno.test("ApiService.close() unlinks the socket and closes the listeners", async () => {
  const f = await start("close");
  await f.request(
    '{"execute":"add_hostfwd","arguments":{"proto":"tcp","host_addr":"127.0.0.1","host_port":18080,"guest_port":80}}',
  );
  assert.equal(f.listeners.open_.size, 1);
  assert.ok(pathExists(f.shim, f.path));
  await f.stop();
  assert.equal(pathExists(f.shim, f.path), false);
  assert.equal(f.listeners.open_.size, 0);
  f.api.close(); // idempotent
});

Deno.test("API socket: connecting after close() is refused", async () => {
  const f = await start("refused");
  const path = f.path;
  f.api.close();
  try {
    await assert.rejects(() => connect(f.shim, f.reactor, path));
  } finally {
    await f.stop();
  }
});

Deno.test("splitSocketPath() names the directory to hold and the file in it", () => {
  assert.deepEqual(splitSocketPath("/run/user/1000/api.sock"), {
    dir: "/run/user/1000",
    name: "api.sock",
  });
  assert.deepEqual(splitSocketPath("/api.sock"), { dir: "/", name: "api.sock" });
  assert.deepEqual(splitSocketPath("api.sock"), { dir: ".", name: "api.sock" });
  assert.deepEqual(splitSocketPath("a/b.sock"), { dir: "a", name: "b.sock" });
});

Deno.test("API socket answers get_stats once its figures are in, and errors for bad arguments", async () => {
  const asked: boolean[] = [];
  const f = await start("stats", {}, async (connections) => {
    asked.push(connections);
    await new Promise((resolve) => setTimeout(resolve, 20));
    return { link: { frames_from_guest: 7 }, ...(connections ? { connections: [] } : {}) };
  });
  try {
    assert.equal(
      await f.request('{"execute":"get_stats"}'),
      '{"return":{"link":{"frames_from_guest":7}}}',
    );
    assert.equal(
      await f.request('{"execute":"get_stats","arguments":{"connections":true}}'),
      '{"return":{"link":{"frames_from_guest":7},"connections":[]}}',
    );
    assert.deepEqual(asked, [false, true]);
    assert.equal(
      await f.request('{"execute":"get_stats","arguments":{"verbose":1}}'),
      '{"error":{"desc":"bad request: get_stats: unknown argument: \\"verbose\\""}}',
    );
    // The other requests still answer at once.
    assert.equal(await f.request('{"execute":"list_hostfwd"}'), '{"entries":[]}');
  } finally {
    await f.stop();
  }
});

Deno.test("API socket: a get_stats whose figures fail gets an error object, and serving goes on", async () => {
  const f = await start("stats-fail", {}, () => Promise.reject(new Error("worker gone")));
  try {
    assert.equal(
      await f.request('{"execute":"get_stats"}'),
      '{"error":{"desc":"bad request: internal error"}}',
    );
    assert.equal(await f.request('{"execute":"list_hostfwd"}'), '{"entries":[]}');
  } finally {
    await f.stop();
  }
});

Deno.test("API socket: get_stats without a network behind it is an error", async () => {
  const f = await start("stats-none");
  try {
    assert.equal(
      await f.request('{"execute":"get_stats"}'),
      '{"error":{"desc":"bad request: get_stats: not available"}}',
    );
  } finally {
    await f.stop();
  }
});
