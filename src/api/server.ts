/**
 * The API socket: a unix stream socket at `--api-socket PATH`, served by the main thread's epoll
 * loop with non-blocking FFI sockets, so it needs only --allow-ffi (Deno.listen would need read and
 * write permission for the path) and never blocks the packet path.
 *
 * Theory of operation (reference §2 "Transport")
 * - Start: a path of 108 bytes or more fails with slirp4netns's message; a stale socket at the path
 *   is unlinked (slirp4netns unlinks whatever is there; we refuse to delete anything that is not a
 *   socket), then bind and listen. Done before the ready-fd is written, so "ready" means accepting.
 * - One request per connection. A client's bytes are read until the first complete JSON object or
 *   array has arrived, or end of input, or `MAX_REQUEST_BYTES` (then "too large message"), or the
 *   read deadline (then what arrived is the request, as slirp4netns takes whatever its one read
 *   returned). Whatever follows the first value is never read as a request: two requests in one
 *   connection run only the first, as with slirp4netns.
 * - The reply goes out in one send (no trailing newline), then shutdown(SHUT_WR). The connection is
 *   kept a short while to discard what the client still sends, so that a client writing more than
 *   we read (`cat /dev/zero | ncat -U`) gets the reply instead of a reset, then closed.
 * - Many clients at once: each is a small state machine; at most `MAX_API_CLIENTS` are served at a
 *   time (4 KiB buffer each), the rest wait in the listen backlog. A stuck client holds its slot
 *   only until its deadline.
 * - close() on every orderly exit removes the file, if it is still our socket, through a handle on
 *   its directory taken at bind time: the path may be out of view by then (the sandbox).
 */
import { EAGAIN, EINTR, ENOENT, errnoText } from "../ffi/errno.ts";
import { cString, type Shim } from "../ffi/shim.ts";
import {
  AF_UNIX,
  encodeSockaddrUn,
  EPOLLIN,
  EPOLLOUT,
  EPOLLRDHUP,
  SHUT_WR,
  SOCK_CLOEXEC,
  SOCK_NONBLOCK,
  SOCK_STREAM,
  SOCKADDR_UN_SIZE,
  SUN_PATH_SIZE,
} from "../ffi/sockaddr.ts";
import { log, logEnabled } from "../log.ts";
import { JsonFramer } from "./json.ts";
import { errorReply, MAX_REQUEST_BYTES, TOO_LARGE_REPLY } from "./protocol.ts";
import type { Readiness } from "./readiness.ts";

/** Clients served at once; more wait in the listen backlog. */
export const MAX_API_CLIENTS = 128;
/** listen(2) backlog of the API socket (slirp4netns: 0). */
export const API_BACKLOG = 128;
/** Time a client has from connecting to delivering its request and taking the reply. */
export const API_DEADLINE_MS = 5000;
/** After the reply: how long, and how many bytes, the client's further input is discarded. */
export const API_LINGER_MS = 1000;
export const API_LINGER_BYTES = 1 << 20;

const S_IFMT = 0o170000;
const S_IFSOCK = 0o140000;

/** A start-up failure of the API socket; the message is what slirp4netns prints. */
export class ApiSocketError extends Error {
  override name = "ApiSocketError";
}

/** How the server answers; the protocol and the forwards live behind it. */
export interface ApiServerOptions {
  /** Answers one request: the bytes of its first JSON value, or all that arrived. */
  handle(request: Uint8Array): string | Promise<string>;
  /** Default `API_DEADLINE_MS`. */
  deadlineMs?: number;
  /** Default `API_LINGER_MS`. */
  lingerMs?: number;
  /** Default `MAX_API_CLIENTS`. */
  maxClients?: number;
}

const encoder = new TextEncoder();
const lossy = new TextDecoder();
/** Where discarded input goes; one thread, one call at a time. */
const discardBuffer = new Uint8Array(4096);

/** The request as slirp4netns logs it, with control characters escaped (one log line). */
function requestForLog(request: Uint8Array): string {
  return lossy.decode(request).trimEnd().replace(
    // deno-lint-ignore no-control-regex -- control characters are what this escapes
    /[\x00-\x1f\x7f]/g,
    (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`,
  );
}

/** lstat(2): [mode, dev, ino], or -errno. */
export function lstat(shim: Shim, path: string): bigint[] | number {
  const out = new BigUint64Array(3);
  const rc = shim.shim_lstat(cString(path), new Uint8Array(out.buffer));
  return rc < 0 ? rc : [...out];
}

export function isSocket(mode: bigint): boolean {
  return (Number(mode) & S_IFMT) === S_IFSOCK;
}

/**
 * A listening API socket and its file. The file is named through a handle on its directory, so
 * that it can be removed once the path is no longer visible (after the sandbox's pivot_root) and
 * by a later image of this process (the fds survive execve; see src/sandbox/mod.ts).
 */
export interface ApiSocketFile {
  /** The `--api-socket` path, for messages. */
  path: string;
  /** The listening socket (non-blocking). */
  fd: number;
  /** An O_PATH handle on the directory that holds the file. */
  dirFd: number;
  /** The file's name in that directory. */
  name: string;
  /** The device of the file bind created: only that file is ever removed. */
  dev: bigint;
  /** The inode of the file bind created. */
  ino: bigint;
}

/** The directory and the last component of a socket path. */
export function splitSocketPath(path: string): { dir: string; name: string } {
  const slash = path.lastIndexOf("/");
  if (slash < 0) return { dir: ".", name: path };
  return { dir: slash === 0 ? "/" : path.slice(0, slash), name: path.slice(slash + 1) };
}

/**
 * Creates the socket at `path`: a path of 108 bytes or more fails with slirp4netns's message; a
 * stale socket there is unlinked (never anything else); then bind and listen. Throws
 * `ApiSocketError` with the message to print.
 */
export function bindApiSocket(shim: Shim, path: string): ApiSocketFile {
  const sa = new Uint8Array(SOCKADDR_UN_SIZE);
  const salen = encodeSockaddrUn(sa, path);
  if (salen < 0) {
    if (path.includes("\0")) throw new ApiSocketError("the API socket path contains a NUL byte");
    throw new ApiSocketError(
      `the specified API socket path is too long (>= ${SUN_PATH_SIZE})`,
    );
  }
  const existing = lstat(shim, path);
  if (typeof existing !== "number") {
    if (!isSocket(existing[0])) {
      throw new ApiSocketError(
        `api_bindlisten: ${path} exists and is not a socket; not removing it`,
      );
    }
    const removed = shim.shim_unlink(cString(path)); // avoid EADDRINUSE, as slirp4netns
    if (removed < 0 && removed !== -ENOENT) {
      throw new ApiSocketError(`api_bindlisten: unlink: ${errnoText(shim, -removed)}`);
    }
  }
  const fd = shim.shim_socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) throw new ApiSocketError(`api_bindlisten: socket: ${errnoText(shim, -fd)}`);
  const fail = (what: string, rc: number): never => {
    shim.shim_close(fd);
    throw new ApiSocketError(`api_bindlisten: ${what}: ${errnoText(shim, -rc)}`);
  };
  const bound = shim.shim_bind(fd, sa, salen);
  if (bound < 0) fail("bind", bound);
  const unlinkAndFail = (what: string, rc: number): never => {
    shim.shim_unlink(cString(path));
    return fail(what, rc);
  };
  const { dir, name } = splitSocketPath(path);
  const dirFd = shim.shim_open_dir(cString(dir));
  if (dirFd < 0) unlinkAndFail(`open ${dir}`, dirFd);
  const created = lstatAt(shim, dirFd, name);
  if (typeof created === "number") {
    shim.shim_close(dirFd);
    unlinkAndFail("stat", created);
  }
  const socket: ApiSocketFile = {
    path,
    fd,
    dirFd,
    name,
    dev: (created as bigint[])[1],
    ino: (created as bigint[])[2],
  };
  const listening = shim.shim_listen(fd, API_BACKLOG);
  if (listening < 0) {
    shim.shim_close(dirFd);
    unlinkAndFail("listen", listening);
  }
  return socket;
}

/** Closes the listening socket and removes its file if it is still the one bound. */
export function closeApiSocket(shim: Shim, socket: ApiSocketFile): void {
  shim.shim_close(socket.fd);
  const now = lstatAt(shim, socket.dirFd, socket.name);
  if (
    typeof now !== "number" && isSocket(now[0]) && now[1] === socket.dev && now[2] === socket.ino
  ) {
    shim.shim_unlink_at(socket.dirFd, cString(socket.name));
  }
  shim.shim_close(socket.dirFd);
}

/** fstatat(dirFd, name, AT_SYMLINK_NOFOLLOW): [mode, dev, ino], or -errno. */
function lstatAt(shim: Shim, dirFd: number, name: string): bigint[] | number {
  const out = new BigUint64Array(3);
  const rc = shim.shim_lstat_at(dirFd, cString(name), new Uint8Array(out.buffer));
  return rc < 0 ? rc : [...out];
}

/**
 * The API socket server.
 *
 * @example
 * ```ts
 * import { loadShim } from "../ffi/shim.ts";
 * import { Reactor } from "../host/reactor.ts";
 * import { ApiServer } from "./server.ts";
 * const shim = await loadShim();
 * const reactor = Reactor.create(shim);
 * const loop = reactor.run();
 * const server = ApiServer.listen(shim, reactor, "/tmp/example-api.sock", {
 *   handle: () => '{"entries":[]}',
 * });
 * // ... clients connect, each gets one reply ...
 * server.close(); // also unlinks /tmp/example-api.sock
 * await reactor.stop();
 * await loop;
 * ```
 */
export class ApiServer {
  readonly path: string;
  readonly #shim: Shim;
  readonly #readiness: Readiness;
  readonly #options: Required<ApiServerOptions>;
  readonly #socket: ApiSocketFile;
  readonly #fd: number;
  #token = -1;
  readonly #clients = new Set<ApiClient>();
  #accepting = true;
  #closed = false;
  readonly #peer = new Uint8Array(SOCKADDR_UN_SIZE);
  readonly #peerLength = new Int32Array(1);
  readonly #peerLengthBytes = new Uint8Array(this.#peerLength.buffer);
  /** Requests answered so far (including error replies). */
  answered = 0;

  private constructor(
    shim: Shim,
    readiness: Readiness,
    socket: ApiSocketFile,
    options: ApiServerOptions,
  ) {
    this.#shim = shim;
    this.#readiness = readiness;
    this.path = socket.path;
    this.#socket = socket;
    this.#fd = socket.fd;
    this.#options = {
      deadlineMs: API_DEADLINE_MS,
      lingerMs: API_LINGER_MS,
      maxClients: MAX_API_CLIENTS,
      ...options,
    };
  }

  /**
   * Creates the socket at `path` and starts serving it on `readiness`. Throws `ApiSocketError`
   * when it cannot: the caller prints the message and exits 1, as slirp4netns does.
   */
  static listen(
    shim: Shim,
    readiness: Readiness,
    path: string,
    options: ApiServerOptions,
  ): ApiServer {
    return ApiServer.serve(shim, readiness, bindApiSocket(shim, path), options);
  }

  /**
   * Serves a bound, listening socket (from `bindApiSocket`, maybe in an earlier image of this
   * process). The server owns it from now on: `close` removes its file.
   */
  static serve(
    shim: Shim,
    readiness: Readiness,
    socket: ApiSocketFile,
    options: ApiServerOptions,
  ): ApiServer {
    const server = new ApiServer(shim, readiness, socket, options);
    const token = readiness.add(socket.fd, EPOLLIN, () => server.#accept());
    if (token < 0) {
      closeApiSocket(shim, socket);
      throw new ApiSocketError(`api_bindlisten: epoll: ${errnoText(shim, -token)}`);
    }
    server.#token = token;
    return server;
  }

  /** Clients connected now. */
  get clients(): number {
    return this.#clients.size;
  }

  #accept(): void {
    const shim = this.#shim;
    while (!this.#closed) {
      if (this.#clients.size >= this.#options.maxClients) {
        this.#setAccepting(false);
        return;
      }
      this.#peerLength[0] = this.#peer.length;
      const fd = shim.shim_accept(this.#fd, this.#peer, this.#peerLengthBytes);
      if (fd === -EAGAIN) return;
      if (fd === -EINTR) continue;
      if (fd < 0) {
        log.warn(`api_handler: accept: ${errnoText(shim, -fd)}`);
        return;
      }
      log.debug("apifd event");
      const client = new ApiClient(this, fd);
      const token = this.#readiness.add(fd, EPOLLIN | EPOLLRDHUP, (events) => client.ready(events));
      if (token < 0) {
        shim.shim_close(fd);
        continue;
      }
      client.token = token;
      this.#clients.add(client);
      client.startTimer(this.#options.deadlineMs);
    }
  }

  #setAccepting(on: boolean): void {
    if (this.#accepting === on || this.#closed) return;
    this.#accepting = on;
    this.#readiness.modify(this.#token, this.#fd, on ? EPOLLIN : 0);
  }

  /** @internal */
  get shim(): Shim {
    return this.#shim;
  }

  /** @internal */
  get options(): Required<ApiServerOptions> {
    return this.#options;
  }

  /** @internal */
  watch(client: ApiClient, events: number): void {
    this.#readiness.modify(client.token, client.fd, events);
  }

  /** @internal Answers a request, never throwing (nor rejecting). */
  answer(request: Uint8Array): string | Promise<string> {
    this.answered++;
    if (logEnabled("debug")) log.debug(`api_handler: got request: ${requestForLog(request)}`);
    const failed = (error: unknown) => {
      log.error(`api_handler: ${error instanceof Error ? error.stack : error}`);
      return errorReply("bad request: internal error");
    };
    try {
      const reply = this.#options.handle(request);
      return typeof reply === "string" ? reply : reply.catch(failed);
    } catch (error) {
      return failed(error);
    }
  }

  /** @internal */
  tooLarge(): string {
    this.answered++;
    log.debug(`api_handler: too large message (>= ${MAX_REQUEST_BYTES} bytes)`);
    return TOO_LARGE_REPLY;
  }

  /** @internal */
  release(client: ApiClient): void {
    if (!this.#clients.delete(client)) return;
    this.#readiness.remove(client.token, client.fd);
    this.#shim.shim_close(client.fd);
    this.#setAccepting(true);
  }

  /**
   * Stops serving: closes the listening socket and every client, and removes the file if it is
   * still the socket this server created (through its directory: the path may be out of view,
   * as in the sandbox). Idempotent.
   */
  close(): void {
    if (this.#closed) return;
    for (const client of [...this.#clients]) client.close();
    this.#closed = true;
    this.#readiness.remove(this.#token, this.#fd);
    closeApiSocket(this.#shim, this.#socket);
  }
}

/** One connection: reading its request, writing the reply, then discarding until it closes. */
class ApiClient {
  token = -1;
  #phase: "reading" | "answering" | "writing" | "lingering" | "closed" = "reading";
  #buffer: Uint8Array | null = new Uint8Array(MAX_REQUEST_BYTES);
  #length = 0;
  readonly #framer = new JsonFramer();
  #reply: Uint8Array | null = null;
  #sent = 0;
  #discarded = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(private readonly server: ApiServer, readonly fd: number) {}

  startTimer(ms: number): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.#expired(), ms);
  }

  #expired(): void {
    this.#timer = undefined;
    if (this.#phase === "reading") {
      // Like slirp4netns's single read: what arrived is the request.
      this.#respond(this.server.answer(this.#buffer!.subarray(0, this.#length)));
    } else {
      this.close();
    }
  }

  ready(_events: number): void {
    switch (this.#phase) {
      case "reading":
        return this.#read();
      case "writing":
        return this.#write();
      case "lingering":
        return this.#discard();
      case "answering":
        // Watched for no event: only a hang-up or an error comes, and nobody is left to answer.
        return this.close();
    }
  }

  #read(): void {
    const shim = this.server.shim;
    const buffer = this.#buffer!;
    for (;;) {
      const room = buffer.length - this.#length;
      const n = shim.shim_recv(this.fd, buffer.subarray(this.#length), room, 0);
      if (n === -EAGAIN) return;
      if (n === -EINTR) continue;
      if (n < 0) return this.close(); // ECONNRESET: nobody to answer
      if (n === 0) {
        // End of input: everything that came is the request (slirp4netns: an empty one is
        // "cannot parse JSON" too).
        return this.#respond(this.server.answer(buffer.subarray(0, this.#length)));
      }
      this.#length += n;
      const end = this.#framer.scan(buffer, this.#length);
      if (end >= 0 && end < MAX_REQUEST_BYTES) {
        return this.#respond(this.server.answer(buffer.subarray(0, end)));
      }
      if (this.#length >= MAX_REQUEST_BYTES) return this.#respond(this.server.tooLarge());
    }
  }

  #respond(reply: string | Promise<string>): void {
    this.#buffer = null;
    if (typeof reply !== "string") {
      // Answered later (get_stats): nothing is read meanwhile; a close in between wins.
      this.#phase = "answering";
      clearTimeout(this.#timer);
      this.#timer = undefined;
      this.server.watch(this, 0);
      reply.then((text) => {
        if (this.#phase === "answering") this.#respond(text);
      });
      return;
    }
    this.#reply = encoder.encode(reply);
    this.#phase = "writing";
    this.#write();
  }

  #write(): void {
    const shim = this.server.shim;
    const reply = this.#reply!;
    while (this.#sent < reply.length) {
      // One send for the whole reply in practice (Podman reads it with a single read).
      const n = shim.shim_send(this.fd, reply.subarray(this.#sent), reply.length - this.#sent, 0);
      if (n === -EINTR) continue;
      if (n === -EAGAIN) {
        this.server.watch(this, EPOLLOUT);
        return;
      }
      if (n < 0) return this.close(); // EPIPE: the client left
      this.#sent += n;
    }
    this.#reply = null;
    shim.shim_shutdown(this.fd, SHUT_WR);
    this.#phase = "lingering";
    this.server.watch(this, EPOLLIN | EPOLLRDHUP);
    this.startTimer(this.server.options.lingerMs);
    this.#discard();
  }

  #discard(): void {
    const shim = this.server.shim;
    for (;;) {
      const n = shim.shim_recv(this.fd, discardBuffer, discardBuffer.length, 0);
      if (n === -EAGAIN) return;
      if (n === -EINTR) continue;
      if (n <= 0) return this.close(); // end of input or error: done
      this.#discarded += n;
      if (this.#discarded >= API_LINGER_BYTES) return this.close();
    }
  }

  close(): void {
    if (this.#phase === "closed") return;
    this.#phase = "closed";
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.server.release(this);
  }
}
