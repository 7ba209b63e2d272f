/** struct pollfd arrays for shim_poll(): 8 bytes each, i32 fd, i16 events, i16 revents. */

export const POLLIN = 0x001;
export const POLLERR = 0x008;
export const POLLHUP = 0x010;
export const POLLNVAL = 0x020;

/** A reusable array of struct pollfd. */
export class PollSet {
  readonly bytes: Uint8Array;
  readonly #view: DataView;

  constructor(entries: { fd: number; events: number }[]) {
    this.bytes = new Uint8Array(entries.length * 8);
    this.#view = new DataView(this.bytes.buffer);
    entries.forEach(({ fd, events }, i) => {
      this.#view.setInt32(i * 8, fd, true);
      this.#view.setInt16(i * 8 + 4, events, true);
    });
  }

  get count(): number {
    return this.bytes.length / 8;
  }

  /** The revents of entry `i` from the last poll. */
  revents(i: number): number {
    return this.#view.getUint16(i * 8 + 6, true);
  }
}
