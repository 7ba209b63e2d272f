/** DNS messages for tests, built byte by byte (RFC 1035 §4.1). */

/** Encodes a dotted name as labels ("a.b" → 1 a 1 b 0). */
export function encodeName(name: string): number[] {
  const out: number[] = [];
  for (const label of name.split(".").filter((l) => l !== "")) {
    out.push(label.length, ...new TextEncoder().encode(label));
  }
  out.push(0);
  return out;
}

/** A query: header with RD, one question, optional OPT record (EDNS, RFC 6891). */
export function buildQuery(
  id: number,
  name: string,
  options: { type?: number; edns?: number; flags?: number } = {},
): Uint8Array {
  const flags = options.flags ?? 0x0100;
  const arcount = options.edns === undefined ? 0 : 1;
  const bytes = [
    id >> 8,
    id & 0xff,
    flags >> 8,
    flags & 0xff,
    0,
    1,
    0,
    0,
    0,
    0,
    0,
    arcount,
    ...encodeName(name),
    0,
    options.type ?? 1,
    0,
    1,
  ];
  if (options.edns !== undefined) {
    // Root name, TYPE 41, CLASS = UDP payload size, TTL 0, RDLENGTH 0.
    bytes.push(0, 0, 41, options.edns >> 8, options.edns & 0xff, 0, 0, 0, 0, 0, 0);
  }
  return new Uint8Array(bytes);
}

/**
 * An answer to `query`: QR RD RA, the given RCODE, the query's question, and one A record per
 * address (owner name compressed to the question, pointer 0xc00c).
 */
export function buildAnswer(
  query: Uint8Array,
  addresses: number[],
  options: { rcode?: number; id?: number; tc?: boolean; padTo?: number } = {},
): Uint8Array {
  let questionEnd = 12;
  while (query[questionEnd] !== 0) questionEnd += query[questionEnd] + 1;
  questionEnd += 5;
  const out: number[] = Array.from(query.subarray(0, questionEnd));
  const id = options.id ?? ((query[0] << 8) | query[1]);
  out[0] = id >> 8;
  out[1] = id & 0xff;
  out[2] = 0x81 | (options.tc ? 0x02 : 0);
  out[3] = 0x80 | (options.rcode ?? 0);
  out[6] = addresses.length >> 8;
  out[7] = addresses.length & 0xff;
  out[10] = 0;
  out[11] = 0;
  for (const a of addresses) {
    out.push(
      0xc0,
      0x0c,
      0,
      1,
      0,
      1,
      0,
      0,
      0,
      60,
      0,
      4,
      a >>> 24,
      (a >> 16) & 0xff,
      (a >> 8) & 0xff,
      a & 0xff,
    );
  }
  if (options.padTo !== undefined && out.length < options.padTo) {
    // A TXT-ish filler record so the answer reaches a given size: owner pointer, TYPE 16.
    const rdlength = Math.max(0, options.padTo - out.length - 12);
    out.push(0xc0, 0x0c, 0, 16, 0, 1, 0, 0, 0, 60, rdlength >> 8, rdlength & 0xff);
    for (let i = 0; i < rdlength; i++) {
      out.push(i % 200 === 0 ? Math.min(199, rdlength - i - 1) : 0x61);
    }
    out[7] += 1;
  }
  return new Uint8Array(out);
}
