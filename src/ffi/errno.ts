/** errno values and their text, through the shim's strerror. */
import type { Shim } from "./shim.ts";

export const EADDRINUSE = 98;
export const ECONNABORTED = 103;
export const EINTR = 4;
export const EBADF = 9;
export const EAGAIN = 11;
export const ENOENT = 2;
export const EPERM = 1;
export const EACCES = 13;
export const EMSGSIZE = 90;
export const EPROTONOSUPPORT = 93;
export const EAFNOSUPPORT = 97;
export const ENETUNREACH = 101;
export const ENOBUFS = 105;
export const ECONNREFUSED = 111;
export const EHOSTUNREACH = 113;

/** The text of an errno value ("Operation not permitted"), as strerror gives it. */
export function errnoText(shim: Shim, err: number): string {
  const buf = new Uint8Array(256);
  shim.shim_strerror(err, buf, buf.length);
  const end = buf.indexOf(0);
  return new TextDecoder().decode(buf.subarray(0, end < 0 ? buf.length : end));
}
