/**
 * BOOTP/DHCP messages (RFC 951, RFC 2131 §2) and their options (RFC 2132): the fixed 236-byte
 * header, the magic cookie, and a bounded option walk. Read RFC 2131 §2–§4.1 and RFC 2132 §2–§3
 * before editing. Option overloading (option 52: options in `sname`/`file`) is not followed.
 */

import { readIpv4, writeIpv4 } from "./address.ts";
import { ByteView, copyBytes, writeU16, writeU32 } from "./view.ts";

/*
 * DHCP message (RFC 2131 §2, Figure 1):
 *
 *   0                   1                   2                   3
 *   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *  +---------------+---------------+---------------+---------------+
 *  |     op (1)    |   htype (1)   |   hlen (1)    |   hops (1)    |
 *  +---------------+---------------+---------------+---------------+
 *  |                            xid (4)                            |
 *  +-------------------------------+-------------------------------+
 *  |           secs (2)            |           flags (2)           |
 *  +-------------------------------+-------------------------------+
 *  |                          ciaddr  (4)                          |
 *  +---------------------------------------------------------------+
 *  |                          yiaddr  (4)                          |
 *  +---------------------------------------------------------------+
 *  |                          siaddr  (4)                          |
 *  +---------------------------------------------------------------+
 *  |                          giaddr  (4)                          |
 *  +---------------------------------------------------------------+
 *  |                          chaddr  (16)                         |
 *  +---------------------------------------------------------------+
 *  |                          sname   (64)                         |
 *  +---------------------------------------------------------------+
 *  |                          file    (128)                        |
 *  +---------------------------------------------------------------+
 *  |                          options (variable)                   |
 *  +---------------------------------------------------------------+
 *
 * The options field starts with the magic cookie 99.130.83.99 (RFC 2131 §3; RFC 2132 §2).
 */
/** Field offsets of the BOOTP/DHCP message. */
export const DHCP = {
  OP: 0,
  HTYPE: 1,
  HLEN: 2,
  HOPS: 3,
  XID: 4,
  SECS: 8,
  FLAGS: 10,
  CIADDR: 12,
  YIADDR: 16,
  SIADDR: 20,
  GIADDR: 24,
  CHADDR: 28,
  SNAME: 44,
  FILE: 108,
  COOKIE: 236,
  OPTIONS: 240,
} as const;

/** Length of the fixed BOOTP header, before the options field. */
export const BOOTP_HEADER_LEN = 236;
/** Length of the fixed header plus the magic cookie: the shortest DHCP message. */
export const DHCP_MIN_LEN = 240;
/** Length of the `chaddr` field. */
export const DHCP_CHADDR_LEN = 16;
/** The options field every client must accept (RFC 2131 §2: 312 octets), cookie included. */
export const DHCP_OPTIONS_MIN_LEN = 312;
/** 99.130.83.99 (RFC 2132 §2). */
export const DHCP_MAGIC_COOKIE = 0x63825363;
/** The broadcast bit of `flags` (RFC 2131 §2, Figure 2). */
export const DHCP_FLAG_BROADCAST = 0x8000;
/** UDP port of the server (RFC 2131 §4.1). */
export const DHCP_SERVER_PORT = 67;
/** UDP port of the client (RFC 2131 §4.1). */
export const DHCP_CLIENT_PORT = 68;

/** `op` values (RFC 951). */
export const BootpOp = {
  REQUEST: 1,
  REPLY: 2,
} as const;

/** Option codes used here (RFC 2132). */
export const DhcpOption = {
  PAD: 0,
  SUBNET_MASK: 1,
  ROUTER: 3,
  DNS: 6,
  HOSTNAME: 12,
  REQUESTED_IP: 50,
  LEASE_TIME: 51,
  OVERLOAD: 52,
  MESSAGE_TYPE: 53,
  SERVER_ID: 54,
  PARAMETER_REQUEST_LIST: 55,
  MESSAGE: 56,
  MAX_MESSAGE_SIZE: 57,
  CLIENT_ID: 61,
  END: 255,
} as const;

/** DHCP message types, the value of option 53 (RFC 2132 §9.6). */
export const DhcpMessageType = {
  DISCOVER: 1,
  OFFER: 2,
  REQUEST: 3,
  DECLINE: 4,
  ACK: 5,
  NAK: 6,
  RELEASE: 7,
  INFORM: 8,
} as const;

/** What `DhcpMessage.check()` reports. */
export type DhcpCheck = "ok" | "truncated" | "bad_cookie";

/**
 * A view of a BOOTP/DHCP message; wrap it over the UDP payload. After `check()` returned
 * `"ok"`, the fixed header and the cookie lie inside the view.
 *
 * @example
 * ```ts
 * import { BootpOp, DhcpMessage, emitDhcpHeader } from "./dhcp.ts";
 * const bytes = new Uint8Array(300);
 * emitDhcpHeader(bytes, 0, BootpOp.REQUEST, 0x44dcd749, 0, 0, 0, 0, 0, new Uint8Array(6), 0);
 * const dhcp = new DhcpMessage().wrap(bytes);
 * if (dhcp.check() !== "ok" || dhcp.xid !== 0x44dcd749) throw new Error("bad DHCP");
 * ```
 */
export class DhcpMessage extends ByteView {
  /** `"truncated"` below 240 bytes; `"bad_cookie"` without the magic cookie (plain BOOTP). */
  check(): DhcpCheck {
    if (this.length < DHCP_MIN_LEN) return "truncated";
    if (this.u32(DHCP.COOKIE) !== DHCP_MAGIC_COOKIE) return "bad_cookie";
    return "ok";
  }

  get op(): number {
    return this.bytes[this.offset + DHCP.OP];
  }

  get htype(): number {
    return this.bytes[this.offset + DHCP.HTYPE];
  }

  get hlen(): number {
    return this.bytes[this.offset + DHCP.HLEN];
  }

  get hops(): number {
    return this.bytes[this.offset + DHCP.HOPS];
  }

  get xid(): number {
    return this.u32(DHCP.XID);
  }

  get secs(): number {
    return this.u16(DHCP.SECS);
  }

  get flags(): number {
    return this.u16(DHCP.FLAGS);
  }

  /** Whether the client asked for broadcast replies (RFC 2131 §4.1). */
  get broadcast(): boolean {
    return (this.u16(DHCP.FLAGS) & DHCP_FLAG_BROADCAST) !== 0;
  }

  get ciaddr(): number {
    return readIpv4(this.bytes, this.offset + DHCP.CIADDR);
  }

  get yiaddr(): number {
    return readIpv4(this.bytes, this.offset + DHCP.YIADDR);
  }

  get siaddr(): number {
    return readIpv4(this.bytes, this.offset + DHCP.SIADDR);
  }

  get giaddr(): number {
    return readIpv4(this.bytes, this.offset + DHCP.GIADDR);
  }

  /** Absolute offset of `chaddr` (the client MAC for htype 1, hlen 6). */
  get chaddrOffset(): number {
    return this.offset + DHCP.CHADDR;
  }

  /** Absolute offset of the first option after the cookie. */
  get optionsOffset(): number {
    return this.offset + DHCP.OPTIONS;
  }
}

/** How an option walk ended. */
export type DhcpOptionsEnd =
  /** Still walking. */
  | "walking"
  /** The End option (255) was reached. */
  | "end"
  /** The buffer ended without an End option; everything before it was well formed. */
  | "unterminated"
  /** An option's length octet is missing or its value runs past the buffer. */
  | "overrun";

/**
 * Walks the options of a checked message without allocating: reuse one walker, call `start()`
 * then `next()` until it returns false; then `status` says how the walk ended. Pad options are
 * skipped. The walk never reads outside the message view.
 *
 * @example
 * ```ts
 * import { DhcpMessage, DhcpOption, DhcpOptionWalker } from "./dhcp.ts";
 * const bytes = new Uint8Array(244);
 * bytes.set([99, 130, 83, 99, 53, 1, 1, 255], 236);
 * const walker = new DhcpOptionWalker();
 * walker.start(new DhcpMessage().wrap(bytes));
 * while (walker.next()) {
 *   if (walker.code === DhcpOption.MESSAGE_TYPE) console.log(bytes[walker.valueOffset]);
 * }
 * if (walker.status !== "end") throw new Error("malformed options");
 * ```
 */
export class DhcpOptionWalker {
  /** Code of the current option. */
  code = 0;
  /** Absolute offset of the current option's value in the message's `bytes`. */
  valueOffset = 0;
  /** Length of the current option's value. */
  valueLength = 0;
  /** How the walk ended, once `next()` returned false. */
  status: DhcpOptionsEnd = "walking";
  #bytes: Uint8Array = new Uint8Array(0);
  #position = 0;
  #end = 0;

  /** Starts walking the options of `message` (which must have passed `check()`). */
  start(message: DhcpMessage): void {
    this.#bytes = message.bytes;
    this.#position = message.optionsOffset;
    this.#end = message.offset + message.length;
    this.status = "walking";
  }

  /** Advances to the next option; false at the end of the list (see `status`). */
  next(): boolean {
    if (this.status !== "walking") return false;
    const bytes = this.#bytes;
    const end = this.#end;
    let i = this.#position;
    while (i < end && bytes[i] === DhcpOption.PAD) i++;
    if (i >= end) {
      this.status = "unterminated";
      return false;
    }
    const code = bytes[i];
    if (code === DhcpOption.END) {
      this.status = "end";
      return false;
    }
    // RFC 2132 §2: every option other than Pad and End has a length octet, then that many bytes.
    if (i + 1 >= end) {
      this.status = "overrun";
      return false;
    }
    const length = bytes[i + 1];
    if (i + 2 + length > end) {
      this.status = "overrun";
      return false;
    }
    this.code = code;
    this.valueOffset = i + 2;
    this.valueLength = length;
    this.#position = i + 2 + length;
    return true;
  }
}

/**
 * Writes the fixed header and the magic cookie of a message at `offset`: zero `hops`, `secs`,
 * `sname` and `file`, htype 1, hlen 6, and `chaddr` copied from `mac[macOffset..]` (6 bytes,
 * padded with zeros to 16; it must not lie inside the 240 bytes written). Returns the absolute
 * offset where the options go.
 */
export function emitDhcpHeader(
  bytes: Uint8Array,
  offset: number,
  op: number,
  xid: number,
  flags: number,
  ciaddr: number,
  yiaddr: number,
  siaddr: number,
  giaddr: number,
  mac: Uint8Array,
  macOffset: number,
): number {
  bytes.fill(0, offset, offset + DHCP_MIN_LEN);
  bytes[offset + DHCP.OP] = op;
  bytes[offset + DHCP.HTYPE] = 1;
  bytes[offset + DHCP.HLEN] = 6;
  writeU32(bytes, offset + DHCP.XID, xid);
  writeU16(bytes, offset + DHCP.FLAGS, flags);
  writeIpv4(bytes, offset + DHCP.CIADDR, ciaddr);
  writeIpv4(bytes, offset + DHCP.YIADDR, yiaddr);
  writeIpv4(bytes, offset + DHCP.SIADDR, siaddr);
  writeIpv4(bytes, offset + DHCP.GIADDR, giaddr);
  copyBytes(bytes, offset + DHCP.CHADDR, mac, macOffset, 6);
  writeU32(bytes, offset + DHCP.COOKIE, DHCP_MAGIC_COOKIE);
  return offset + DHCP.OPTIONS;
}

/** Writes a one-byte option (e.g. the message type) at `position`; returns the position after. */
export function emitDhcpOptionU8(
  bytes: Uint8Array,
  position: number,
  code: number,
  value: number,
): number {
  bytes[position] = code;
  bytes[position + 1] = 1;
  bytes[position + 2] = value;
  return position + 3;
}

/**
 * Writes a four-byte option (an address or a 32-bit number such as the lease time) at
 * `position`; returns the position after.
 */
export function emitDhcpOptionU32(
  bytes: Uint8Array,
  position: number,
  code: number,
  value: number,
): number {
  bytes[position] = code;
  bytes[position + 1] = 4;
  writeU32(bytes, position + 2, value);
  return position + 6;
}

/**
 * Writes an option with an ASCII text value (at most 255 characters are written) at `position`;
 * returns the position after.
 */
export function emitDhcpOptionText(
  bytes: Uint8Array,
  position: number,
  code: number,
  text: string,
): number {
  const length = Math.min(text.length, 255);
  bytes[position] = code;
  bytes[position + 1] = length;
  for (let i = 0; i < length; i++) bytes[position + 2 + i] = text.charCodeAt(i) & 0x7f;
  return position + 2 + length;
}
