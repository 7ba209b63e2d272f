/**
 * The API socket with its port forwards, ready to wire into a running network: the server
 * (server.ts) answers each request by parsing it (protocol.ts), keeping the registry
 * (forward_table.ts) and opening or closing host listeners (host_listener.ts, whose traffic goes
 * to the `ForwardSink` the network provides).
 */
import { EADDRINUSE, errnoText } from "../ffi/errno.ts";
import type { Shim } from "../ffi/shim.ts";
import { log } from "../log.ts";
import { ForwardTable } from "./forward_table.ts";
import type { ForwardListeners } from "./host_listener.ts";
import {
  addedReply,
  addFailedReply,
  type ApiCommand,
  errorReply,
  ERRORS,
  type GuestDefaults,
  listReply,
  parseRequest,
  REMOVED_REPLY,
} from "./protocol.ts";
import type { Readiness } from "./readiness.ts";
import { ApiServer, type ApiServerOptions, type ApiSocketFile } from "./server.ts";

export { ApiSocketError, type ApiSocketFile, bindApiSocket, closeApiSocket } from "./server.ts";
export {
  addressForGuest,
  type ForwardClient,
  type ForwardListeners,
  type ForwardSink,
  HostForwards,
  type HostForwardsOptions,
  type UdpForwardFlow,
} from "./host_listener.ts";
export type { Readiness } from "./readiness.ts";
export type { ForwardSpec, GuestDefaults } from "./protocol.ts";

/** What the API needs from the network. */
export interface ApiServiceOptions {
  /** The `--api-socket` path. */
  path: string;
  /** The socket already bound and listening at `path` (see `bindApiSocket`); else it is bound. */
  socket?: ApiSocketFile;
  /** The default guest_addr of each family (IPv4: network + 100). */
  guestDefaults: GuestDefaults;
  /** The host listeners (a HostForwards with the network's ForwardSink). */
  listeners: ForwardListeners;
  /**
   * The `return` object of `get_stats` (src/api/stats.ts), with the open flows when
   * `connections`; without it get_stats answers an error.
   */
  stats?: (connections: boolean) => Promise<unknown>;
  /** Server tuning, for tests. */
  server?: Omit<ApiServerOptions, "handle">;
}

/**
 * A running API socket and its forwards.
 *
 * @example
 * ```ts
 * import { loadShim } from "../ffi/shim.ts";
 * import { Reactor } from "../host/reactor.ts";
 * import { ApiService, HostForwards } from "./mod.ts";
 * const shim = await loadShim();
 * const reactor = Reactor.create(shim);
 * const loop = reactor.run();
 * const sink = {
 *   acceptedTcp: (fd: number) => shim.shim_close(fd),
 *   udpBuffer: new Uint8Array(2048), udpOffset: 0, udpRoom: 2048, udpDatagram: () => {},
 * };
 * const listeners = new HostForwards(shim, reactor, sink, {
 *   gateway: 0x0a000202,
 *   dhcpStart: 0x0a00020f,
 * });
 * // Throws ApiSocketError("the specified API socket path is too long (>= 108)") and the like.
 * const api = ApiService.start(shim, reactor, {
 *   path: "/tmp/example-api.sock",
 *   guestDefaults: { ipv4: 0x0a000264 },
 *   listeners,
 * });
 * api.handle(new TextEncoder().encode('{"execute":"list_hostfwd"}')); // '{"entries":[]}'
 * api.close(); // unlinks the socket, closes every forward's listener
 * await reactor.stop();
 * await loop;
 * ```
 */
export class ApiService {
  readonly table = new ForwardTable();
  readonly #shim: Shim;
  readonly #guestDefaults: GuestDefaults;
  readonly #listeners: ForwardListeners;
  readonly #stats: ((connections: boolean) => Promise<unknown>) | undefined;
  #server: ApiServer | null = null;

  private constructor(shim: Shim, options: ApiServiceOptions) {
    this.#shim = shim;
    this.#guestDefaults = options.guestDefaults;
    this.#listeners = options.listeners;
    this.#stats = options.stats;
  }

  /**
   * Creates the socket and serves it on `readiness` (the main thread's Reactor). Throws
   * `ApiSocketError` with slirp4netns's message when the socket cannot be created.
   */
  static start(shim: Shim, readiness: Readiness, options: ApiServiceOptions): ApiService {
    const service = new ApiService(shim, options);
    const serverOptions = { ...options.server, handle: (r: Uint8Array) => service.handle(r) };
    service.#server = options.socket
      ? ApiServer.serve(shim, readiness, options.socket, serverOptions)
      : ApiServer.listen(shim, readiness, options.path, serverOptions);
    return service;
  }

  /** The server (for its counters); null after `close()`. */
  get server(): ApiServer | null {
    return this.#server;
  }

  /**
   * Answers one request (the bytes of one connection), running its command; get_stats answers
   * later (a Promise), once the workers' snapshots are in.
   */
  handle(request: Uint8Array): string | Promise<string> {
    const parsed = parseRequest(request, this.#guestDefaults);
    return parsed.ok ? this.execute(parsed.command) : parsed.reply;
  }

  /** Runs a validated command and returns the reply. */
  execute(command: ApiCommand): string | Promise<string> {
    switch (command.execute) {
      case "get_stats": {
        if (this.#stats === undefined) return errorReply(ERRORS.statsUnavailable);
        return this.#stats(command.connections).then((stats) => JSON.stringify({ return: stats }));
      }
      case "add_hostfwd": {
        const spec = command.forward;
        // The registry first: a clash gets the kernel's word for it even where the kernel would
        // let two sockets share the port.
        if (this.table.conflict(spec) !== undefined) {
          return addFailedReply(errnoText(this.#shim, EADDRINUSE));
        }
        const id = this.table.nextId;
        const opened = this.#listeners.open(id, spec);
        if (opened < 0) return addFailedReply(errnoText(this.#shim, -opened));
        this.table.add(spec);
        log.debug(`api: forward ${id} added`);
        return addedReply(id);
      }
      case "list_hostfwd":
        return listReply(this.table.list());
      case "remove_hostfwd": {
        if (!this.table.remove(command.id)) return errorReply(ERRORS.id);
        this.#listeners.close(command.id);
        log.debug(`api: forward ${command.id} removed`);
        return REMOVED_REPLY;
      }
    }
  }

  /** Stops serving, unlinks the socket and closes every forward's listener. Idempotent. */
  close(): void {
    this.#server?.close();
    this.#server = null;
    this.#listeners.closeAll();
  }
}
