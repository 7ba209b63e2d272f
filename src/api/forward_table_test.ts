import assert from "node:assert/strict";
import { ForwardTable, sameHostSocket } from "./forward_table.ts";
import type { ForwardSpec } from "./protocol.ts";

const GUEST = 0x0a000264;

function tcp(hostPort: number, hostAddr = 0): ForwardSpec {
  return { proto: "tcp", hostAddr, hostPort, guestAddr: GUEST, guestPort: 80 };
}

Deno.test("ForwardTable numbers forwards from 1 and never reuses an id", () => {
  const table = new ForwardTable();
  assert.equal(table.nextId, 1);
  assert.equal(table.add(tcp(8080)).id, 1);
  assert.equal(table.add(tcp(8081)).id, 2);
  assert.ok(table.remove(2));
  assert.equal(table.nextId, 3);
  assert.equal(table.add(tcp(8081)).id, 3);
  assert.ok(table.remove(1));
  assert.ok(table.remove(3));
  assert.equal(table.size, 0);
  assert.equal(table.add(tcp(8080)).id, 4);
});

Deno.test("ForwardTable lists in the order of adding and removes by id", () => {
  const table = new ForwardTable();
  for (const port of [8083, 8081, 8082]) table.add(tcp(port));
  assert.ok(table.remove(2));
  assert.deepEqual(table.list().map((f) => [f.id, f.hostPort]), [[1, 8083], [3, 8082]]);
  assert.equal(table.get(3)?.hostPort, 8082);
  assert.equal(table.get(2), undefined);
});

Deno.test("ForwardTable.remove() is false for an unknown or already removed id", () => {
  const table = new ForwardTable();
  table.add(tcp(8080));
  assert.ok(table.remove(1));
  assert.equal(table.remove(1), false);
  assert.equal(table.remove(99), false);
});

Deno.test("ForwardTable entries cannot be changed by whoever got them", () => {
  const table = new ForwardTable();
  const forward = table.add(tcp(8080));
  assert.throws(() => (forward as { hostPort: number }).hostPort = 1);
  assert.equal(table.list()[0].hostPort, 8080);
});

Deno.test("sameHostSocket(): same proto and port, and same address or a wildcard", () => {
  assert.ok(sameHostSocket(tcp(8080), tcp(8080)));
  assert.ok(sameHostSocket(tcp(8080, 0x7f000001), tcp(8080)));
  assert.ok(sameHostSocket(tcp(8080), tcp(8080, 0x7f000001)));
  assert.ok(sameHostSocket(tcp(8080, 0x7f000001), tcp(8080, 0x7f000001)));
  assert.equal(sameHostSocket(tcp(8080, 0x7f000001), tcp(8080, 0x7f000002)), false);
  assert.equal(sameHostSocket(tcp(8080), tcp(8081)), false);
  assert.equal(sameHostSocket(tcp(8080), { ...tcp(8080), proto: "udp" }), false);
});

Deno.test("ForwardTable.conflict() finds the forward holding the host socket", () => {
  const table = new ForwardTable();
  table.add(tcp(8080, 0x7f000001));
  assert.equal(table.conflict(tcp(8080))?.id, 1);
  assert.equal(table.conflict(tcp(8080, 0x7f000002)), undefined);
  assert.equal(table.conflict({ ...tcp(8080), proto: "udp" }), undefined);
});
