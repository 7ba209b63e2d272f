/**
 * IPv6 frames captured from a real Linux 6.18 kernel, read from a tap device (IFF_TAP, IFF_NO_PI)
 * in a fresh network namespace right after `ip link set tap0 up`: tap0 has MAC 0e:d4:18:d9:38:fb,
 * hence the link-local address fe80::cd4:18ff:fed9:38fb. As the tap delivers them: no padding.
 */
import { hex } from "./captured.ts";

/** MLDv2 report from :: to ff02::16 (joining ff02::1:ffd9:38fb), behind a hop-by-hop header
 * with the router alert option (90 bytes). */
export const MLDV2_REPORT_FROM_UNSPECIFIED = hex(`
  333300000016 0ed418d938fb 86dd
  6000000000240001 00000000000000000000000000000000 ff020000000000000000000000000016
  3a00 0502 0000 0100
  8f0035b6 00000001 04000000 ff0200000000000000000001ffd938fb
`);

/** Neighbour solicitation for duplicate address detection of the link-local address, from ::
 * to its solicited-node address, with a nonce option (RFC 7527) (86 bytes). */
export const DAD_NEIGHBOR_SOLICITATION = hex(`
  3333ffd938fb 0ed418d938fb 86dd
  6000000000203aff 00000000000000000000000000000000 ff0200000000000000000001ffd938fb
  8700ced500000000 fe800000000000000cd418fffed938fb 0e0173cc9efff4ff
`);

/** Router solicitation from the link-local address to ff02::2, with the source link-layer
 * address option (70 bytes). */
export const ROUTER_SOLICITATION = hex(`
  333300000002 0ed418d938fb 86dd
  6000000000103aff fe800000000000000cd418fffed938fb ff020000000000000000000000000002
  8500bddd00000000 01010ed418d938fb
`);

/** The guest's link-local address in the frames above. */
export const GUEST_LINK_LOCAL = 0xfe80_0000_0000_0000_0cd4_18ff_fed9_38fbn;
