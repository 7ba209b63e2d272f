import assert from "node:assert/strict";
import {
  AF_INET6,
  AF_UNIX,
  decodeSockaddr,
  encodeSockaddr,
  encodeSockaddrUn,
  SOCKADDR_IN6_SIZE,
  SOCKADDR_IN_SIZE,
  SOCKADDR_UN_SIZE,
  SUN_PATH_SIZE,
} from "./sockaddr.ts";

Deno.test("encodeSockaddrUn() writes family, path and NUL, and returns their length", () => {
  const sa = new Uint8Array(SOCKADDR_UN_SIZE).fill(0xa5);
  const length = encodeSockaddrUn(sa, "/run/api.sock");
  assert.equal(length, 2 + 13 + 1);
  assert.deepEqual([...sa.subarray(0, 2)], [AF_UNIX, 0]);
  assert.equal(new TextDecoder().decode(sa.subarray(2, 15)), "/run/api.sock");
  assert.ok(sa.subarray(15).every((b) => b === 0), "the rest is zeroed");
});

Deno.test("encodeSockaddrUn() takes 107 bytes and refuses 108 (sun_path needs the NUL)", () => {
  const sa = new Uint8Array(SOCKADDR_UN_SIZE);
  assert.equal(SUN_PATH_SIZE, 108);
  assert.equal(encodeSockaddrUn(sa, "/" + "a".repeat(106)), 110);
  assert.equal(encodeSockaddrUn(sa, "/" + "a".repeat(107)), -1);
  // The limit is in bytes, not characters: 54 two-byte characters are 108 bytes.
  assert.equal(encodeSockaddrUn(sa, "\u00e9".repeat(54)), -1);
  assert.equal(encodeSockaddrUn(sa, "/tmp/a\0b"), -1);
});

Deno.test("encodeSockaddr() and decodeSockaddr() carry either family", () => {
  const sa = new Uint8Array(SOCKADDR_IN6_SIZE).fill(0xa5);
  assert.equal(encodeSockaddr(sa, 0x7f000001, 8080), SOCKADDR_IN_SIZE);
  assert.deepEqual(decodeSockaddr(sa), { address: 0x7f000001, port: 8080 });
  const address = (0x2001n << 112n) | (0xdb8n << 96n) | 0x1234n;
  assert.equal(encodeSockaddr(sa, address, 53, 7), SOCKADDR_IN6_SIZE);
  assert.deepEqual(Array.from(sa.subarray(0, 8)), [AF_INET6, 0, 0, 53, 0, 0, 0, 0]);
  assert.deepEqual(Array.from(sa.subarray(8, 10)), [0x20, 0x01]);
  assert.equal(new DataView(sa.buffer).getUint32(24, true), 7);
  assert.deepEqual(decodeSockaddr(sa), { address, port: 53 });
  sa[0] = AF_UNIX;
  assert.equal(decodeSockaddr(sa), null);
});
