import assert from "node:assert/strict";
import { SNAPSHOT, SnapshotClient, SnapshotFlag, SnapshotServer } from "./snapshot.ts";
import type { WorkerEvent } from "./worker_thread.ts";

Deno.test("SnapshotServer answers only when asked, once, with the flags of every pending request", async () => {
  const posted: WorkerEvent[] = [];
  let woken = 0;
  const client = new SnapshotClient(() => woken++);
  const server = new SnapshotServer(client.buffer, (flags) => ({ flags }), (e) => posted.push(e));
  server.serve();
  assert.equal(posted.length, 0, "nothing asked, nothing built");
  const a = client.request(0, 1000);
  const b = client.request(SnapshotFlag.FLOWS, 1000);
  assert.equal(woken, 2);
  server.serve();
  server.serve();
  assert.deepEqual(posted, [{ kind: "snapshot", seq: 2, value: { flags: SnapshotFlag.FLOWS } }]);
  assert.equal(Atomics.load(new Int32Array(client.buffer), SNAPSHOT.FLAGS), 0);
  const event = posted[0] as { seq: number; value: unknown };
  client.received(event.seq, event.value);
  assert.deepEqual(await a, { flags: SnapshotFlag.FLOWS });
  assert.deepEqual(await b, { flags: SnapshotFlag.FLOWS });
});

Deno.test("SnapshotClient resolves null when the worker does not answer in time", async () => {
  const client = new SnapshotClient(() => {});
  assert.equal(await client.request(0, 10), null);
  // A late answer finds nobody waiting.
  client.received(1, "late");
});
