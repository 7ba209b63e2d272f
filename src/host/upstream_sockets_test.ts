import assert from "node:assert/strict";
import { parseNameserver } from "../dns/resolv_conf.ts";
import { loadShim } from "../ffi/shim.ts";
import { UpstreamUdpSockets } from "./upstream_sockets.ts";

Deno.test("UpstreamUdpSockets connect to port 53 and report ECONNREFUSED from a closed one", async () => {
  const shim = await loadShim();
  const epoll = shim.shim_epoll_create();
  const sockets = new UpstreamUdpSockets(shim, epoll, { ipv4: 0, ipv6: 0n });
  try {
    // Nothing listens on 127.0.0.253 (loopback, never the machine's resolver): the kernel
    // answers with ICMP port unreachable, which the connected socket reports once.
    const fd = sockets.open(parseNameserver("127.0.0.253")!);
    assert.ok(fd >= 0, String(fd));
    assert.equal(sockets.send(fd, new Uint8Array(12)), 12);
    const events = new Uint32Array(2);
    assert.equal(shim.shim_epoll_wait(epoll, events, 1, 1000), 1);
    assert.equal(events[1], fd);
    assert.equal(shim.shim_recv(fd, new Uint8Array(64), 64, 0), -111);
    const v6 = sockets.open(parseNameserver("::1")!);
    // No IPv6 on the test machine is possible: then the connect fails with -errno.
    if (v6 >= 0) sockets.close(v6);
    assert.equal(sockets.size, 1);
  } finally {
    sockets.closeAll();
    shim.shim_close(epoll);
  }
});
