/**
 * The registry of port forwards behind `add_hostfwd`, `list_hostfwd` and `remove_hostfwd`: ids
 * start at 1, grow by one on each successful add and are never reused (slirp4netns numbering);
 * the list keeps the order of adding. Pure bookkeeping: the listeners live in HostForwards.
 */
import type { IpAddress } from "../wire/address.ts";
import type { ForwardSpec, ListedForward } from "./protocol.ts";

/** A registered forward. */
export type Forward = Readonly<ListedForward>;

/**
 * Whether two forwards would need the same host socket: the same protocol, port and family, and
 * the same address or either one the family's wildcard, 0.0.0.0 or :: (the kernel refuses those
 * binds as well). IPv6 listeners are IPv6-only, so `0.0.0.0` and `::` of one port coexist.
 */
export function sameHostSocket(a: ForwardSpec, b: ForwardSpec): boolean {
  return a.proto === b.proto && a.hostPort === b.hostPort &&
    typeof a.hostAddr === typeof b.hostAddr &&
    (a.hostAddr === b.hostAddr || isWildcard(a.hostAddr) || isWildcard(b.hostAddr));
}

function isWildcard(address: IpAddress): boolean {
  return address === 0 || address === 0n;
}

/**
 * The forwards, by id.
 *
 * @example
 * ```ts
 * import { ForwardTable } from "./forward_table.ts";
 * const table = new ForwardTable();
 * const spec = { proto: "tcp" as const, hostAddr: 0, hostPort: 8080, guestAddr: 0x0a000264, guestPort: 80 };
 * table.add(spec).id; // 1
 * table.conflict(spec)?.id; // 1: a second 0.0.0.0:8080/tcp would clash
 * table.remove(1); // true
 * table.add(spec).id; // 2: ids are never reused
 * ```
 */
export class ForwardTable {
  readonly #forwards = new Map<number, Forward>();
  #nextId = 1;

  /** The id the next successful `add` gets. */
  get nextId(): number {
    return this.#nextId;
  }

  /** Forwards registered now. */
  get size(): number {
    return this.#forwards.size;
  }

  /** Registers a forward under the next id and returns it. */
  add(spec: ForwardSpec): Forward {
    const forward: Forward = Object.freeze({ id: this.#nextId++, ...spec });
    this.#forwards.set(forward.id, forward);
    return forward;
  }

  get(id: number): Forward | undefined {
    return this.#forwards.get(id);
  }

  /** Unregisters a forward; false when there is none with that id. */
  remove(id: number): boolean {
    return this.#forwards.delete(id);
  }

  /** The registered forward that would need the same host socket as `spec`, if any. */
  conflict(spec: ForwardSpec): Forward | undefined {
    for (const forward of this.#forwards.values()) {
      if (sameHostSocket(forward, spec)) return forward;
    }
    return undefined;
  }

  /** The forwards in the order they were added. */
  list(): Forward[] {
    return [...this.#forwards.values()];
  }
}
