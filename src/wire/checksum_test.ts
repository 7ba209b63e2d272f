import assert from "node:assert/strict";
import {
  finishChecksum,
  foldSum,
  internetChecksum,
  pseudoHeaderSum,
  pseudoHeaderSumAt,
  sumBytes,
  updateChecksum16,
  updateChecksum32,
} from "./checksum.ts";
import { parseIpv6, writeIpv6 } from "./address.ts";
import { emitIpv6Header } from "./ipv6.ts";
import { ICMP_ECHO_REQUEST_TO_GATEWAY } from "./testdata/captured.ts";

/** Reference: RFC 1071 §4.1 word by word. */
function slowChecksum(bytes: Uint8Array, offset: number, length: number): number {
  let sum = 0;
  for (let i = 0; i < length; i += 2) {
    sum += (bytes[offset + i] << 8) | (i + 1 < length ? bytes[offset + i + 1] : 0);
    while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  }
  return ~sum & 0xffff;
}

function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s;
  };
}

Deno.test("internetChecksum() matches the RFC 1071 §3 example", () => {
  const data = new Uint8Array([0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]);
  assert.equal(sumBytes(data, 0, 8), 0xddf2);
  assert.equal(internetChecksum(data, 0, 8), 0x220d);
});

Deno.test("internetChecksum() verifies the captured IPv4 and ICMP checksums to 0", () => {
  assert.equal(internetChecksum(ICMP_ECHO_REQUEST_TO_GATEWAY, 14, 20), 0);
  assert.equal(internetChecksum(ICMP_ECHO_REQUEST_TO_GATEWAY, 34, 64), 0);
});

Deno.test("sumBytes() agrees with a byte-by-byte sum at every offset and length", () => {
  const next = seeded(1);
  const buffers = [new Uint8Array(300), new Uint8Array(new SharedArrayBuffer(300))];
  for (const bytes of buffers) {
    for (let i = 0; i < bytes.length; i++) bytes[i] = next() & 0xff;
    for (let offset = 0; offset < 8; offset++) {
      for (let length = 0; length <= 290; length++) {
        assert.equal(internetChecksum(bytes, offset, length), slowChecksum(bytes, offset, length));
      }
    }
  }
});

Deno.test("sumBytes() works on a subarray with a non-zero byteOffset", () => {
  const whole = new Uint8Array(100);
  for (let i = 0; i < whole.length; i++) whole[i] = i * 37;
  const part = whole.subarray(13, 77);
  assert.equal(internetChecksum(part, 3, 50), slowChecksum(whole, 16, 50));
});

Deno.test("sumBytes() chains even-length pieces like one sum", () => {
  const bytes = new Uint8Array(64).map((_, i) => i * 11);
  assert.equal(sumBytes(bytes, 20, 44, sumBytes(bytes, 0, 20)), sumBytes(bytes, 0, 64));
});

Deno.test("sumBytes() clamps ranges outside the buffer instead of reading past it", () => {
  const bytes = new Uint8Array([1, 2, 3, 4]);
  assert.equal(sumBytes(bytes, 2, 100), 0x0304);
  assert.equal(sumBytes(bytes, 10, 4), 0);
  assert.equal(sumBytes(bytes, -5, 2), 0x0102);
  assert.equal(sumBytes(bytes, 0, Number.NaN), 0);
});

Deno.test("checksums of all-zero and all-ones data: 0xffff and 0", () => {
  assert.equal(internetChecksum(new Uint8Array(20), 0, 20), 0xffff);
  assert.equal(internetChecksum(new Uint8Array(20).fill(0xff), 0, 20), 0);
  assert.equal(finishChecksum(0xffff), 0);
  assert.equal(finishChecksum(0), 0xffff);
  assert.equal(foldSum(0x1fffe), 0xffff);
  assert.equal(foldSum(2 ** 52 + 5), foldSum(foldSum(2 ** 52) + 5));
});

Deno.test("large inputs (64 KiB) sum without precision loss", () => {
  const bytes = new Uint8Array(65536).fill(0xff);
  assert.equal(sumBytes(bytes, 0, 65536), 0xffff);
  const next = seeded(7);
  for (let i = 0; i < bytes.length; i++) bytes[i] = next() & 0xff;
  assert.equal(internetChecksum(bytes, 1, 65535), slowChecksum(bytes, 1, 65535));
});

Deno.test("pseudoHeaderSum() sums addresses, protocol and length", () => {
  const sum = pseudoHeaderSum(0x0a000264, 0x01010101, 17, 0x25);
  assert.equal(sum, foldSum(0x0a00 + 0x0264 + 0x0101 + 0x0101 + 17 + 0x25));
});

Deno.test("pseudoHeaderSum() of IPv6 addresses matches the RFC 8200 §8.1 pseudo-header bytes", () => {
  const cases: [string, string, number, number][] = [
    ["fd00::100", "2001:db8::1", 6, 0x5dc],
    ["fe80::2", "ff02::1", 58, 0x40],
    ["ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "::", 17, 0x1_0008],
  ];
  for (const [srcText, dstText, protocol, length] of cases) {
    const src = parseIpv6(srcText)!;
    const dst = parseIpv6(dstText)!;
    // Source, destination, 32-bit upper-layer length, three zero bytes, next header.
    const bytes = new Uint8Array(40);
    writeIpv6(bytes, 0, src);
    writeIpv6(bytes, 16, dst);
    bytes.set([length >>> 24, (length >>> 16) & 0xff, (length >>> 8) & 0xff, length & 0xff], 32);
    bytes[39] = protocol;
    const expected = ~slowChecksum(bytes, 0, 40) & 0xffff;
    assert.equal(pseudoHeaderSum(src, dst, protocol, length), expected, srcText);
    const header = new Uint8Array(40);
    emitIpv6Header(header, 0, 0, protocol, 64, src, dst);
    assert.equal(pseudoHeaderSumAt(header, 0, protocol, length), expected, `${srcText} at`);
  }
});

Deno.test("updateChecksum16() matches recomputation (RFC 1624)", () => {
  const next = seeded(3);
  const bytes = new Uint8Array(40);
  for (let round = 0; round < 2000; round++) {
    for (let i = 0; i < bytes.length; i++) bytes[i] = next() & 0xff;
    bytes[2] = bytes[3] = 0;
    const checksum = internetChecksum(bytes, 0, 40);
    const at = 4 + 2 * (next() % 18);
    const oldWord = (bytes[at] << 8) | bytes[at + 1];
    const newWord = next() & 0xffff;
    bytes[at] = newWord >>> 8;
    bytes[at + 1] = newWord & 0xff;
    const updated = updateChecksum16(checksum, oldWord, newWord);
    bytes[2] = updated >>> 8;
    bytes[3] = updated & 0xff;
    assert.equal(internetChecksum(bytes, 0, 40), 0, `round ${round}`);
  }
});

Deno.test("updateChecksum32() matches recomputation after an address change", () => {
  const bytes = new Uint8Array(20).map((_, i) => i * 29);
  bytes[10] = bytes[11] = 0;
  const checksum = internetChecksum(bytes, 0, 20);
  const oldAddress = ((bytes[12] << 24) | (bytes[13] << 16) | (bytes[14] << 8) | bytes[15]) >>> 0;
  const newAddress = 0x7f000001;
  bytes.set([127, 0, 0, 1], 12);
  const updated = updateChecksum32(checksum, oldAddress, newAddress);
  bytes[10] = updated >>> 8;
  bytes[11] = updated & 0xff;
  assert.equal(internetChecksum(bytes, 0, 20), 0);
});

Deno.test("updateChecksum16() gives 0x0000 for all-zero data, where recomputation gives 0xffff", () => {
  // An echo request with id 0, seq 0 and no data: only the type word 0x0800 is non-zero.
  const bytes = new Uint8Array([8, 0, 0, 0, 0, 0, 0, 0]);
  const checksum = internetChecksum(bytes, 0, 8);
  assert.equal(checksum, 0xf7ff);
  assert.equal(updateChecksum16(checksum, 0x0800, 0), 0x0000);
  assert.equal(internetChecksum(new Uint8Array(8), 0, 8), 0xffff);
});
