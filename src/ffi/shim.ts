/**
 * The native shim's symbol table and its loading. The only module that calls Deno.dlopen.
 *
 * Where the library comes from is src/ffi/locate.ts's business: a file (a local build, or
 * `SLIRP4NETNS_SHIM`), or the bytes the package ships for this architecture, loaded through a
 * memfd (so a registry run or a compiled binary needs neither a compiler nor a file on disk).
 *
 * Symbols are bound lazily, each on its first use in a thread: Deno compiles a call trampoline
 * per bound symbol (about 0.12 ms each here, 6.5 ms for all of them), and a thread uses only some
 * of them; the program's start-up up to the tap uses five.
 */
import { LOCAL_BUILD, locateShim } from "./locate.ts";

/** shim_open_tap's parameters (its prototype is in SHIM_SYMBOLS). */
const OPEN_TAP_PARAMETERS = [
  "buffer",
  "buffer",
  "buffer",
  "i32",
  "i32",
  "u32",
  "u32",
  "u32",
  "buffer",
  "i32",
  "buffer",
] as const;

/** The shim's symbol table, as given to `Deno.dlopen` (the C prototypes are in the comments). */
export const SHIM_SYMBOLS = {
  // int shim_open_tap(const char *userns_path, const char *netns_path, const char *tapname,
  //                   int flags, int mtu, uint32_t address, uint32_t netmask, uint32_t gateway,
  //                   const uint8_t *mac, int mac_len, int32_t *child_fd)
  shim_open_tap: { parameters: OPEN_TAP_PARAMETERS, result: "i32" },
  // the same, on a thread of Deno's blocking pool: the caller goes on (creating the Workers) while
  // the child makes the tap (src/cli/command.ts)
  shim_open_tap_async: {
    name: "shim_open_tap",
    parameters: OPEN_TAP_PARAMETERS,
    result: "i32",
    nonblocking: true,
  },
  // int shim_tap_name(int fd, char name[IFNAMSIZ])
  shim_tap_name: { parameters: ["i32", "buffer"], result: "i32" },
  // int shim_read(int fd, void *buf, int len)
  shim_read: { parameters: ["i32", "buffer", "i32"], result: "i32" },
  // int shim_read_at(int fd, uint8_t *buf, int offset, int len)
  shim_read_at: { parameters: ["i32", "buffer", "i32", "i32"], result: "i32" },
  // int shim_write(int fd, const void *buf, int len)
  shim_write: { parameters: ["i32", "buffer", "i32"], result: "i32" },
  // int shim_tap_offload(int fd)
  shim_tap_offload: { parameters: ["i32"], result: "i32" },
  // int shim_write_vnet(int fd, const void *frame, int len, int csum_start, int csum_offset,
  //                     int gso_type, int gso_size)
  shim_write_vnet: {
    parameters: ["i32", "buffer", "i32", "i32", "i32", "i32", "i32"],
    result: "i32",
  },
  // int shim_poll(struct pollfd *fds, int count, int timeout_ms)
  shim_poll: { parameters: ["buffer", "i32", "i32"], result: "i32" },
  // the same, on a thread of Deno's blocking pool: for a rare wait that must not block a thread
  shim_poll_async: {
    name: "shim_poll",
    parameters: ["buffer", "i32", "i32"],
    result: "i32",
    nonblocking: true,
  },
  // int shim_close(int fd)
  shim_close: { parameters: ["i32"], result: "i32" },
  // int shim_eventfd(void)
  shim_eventfd: { parameters: [], result: "i32" },
  // int shim_set_nonblocking(int fd, int on)
  shim_set_nonblocking: { parameters: ["i32", "i32"], result: "i32" },
  // int shim_access(const char *path)
  shim_access: { parameters: ["buffer"], result: "i32" },
  // int shim_fd_inherited(int fd)
  shim_fd_inherited: { parameters: ["i32"], result: "i32" },
  // int shim_strerror(int err, char *buf, int len)
  shim_strerror: { parameters: ["i32", "buffer", "i32"], result: "i32" },
  // --- native/socket.c: addresses are struct sockaddr bytes (see sockaddr.ts) ---
  // int shim_socket(int domain, int type, int protocol)
  shim_socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
  // int shim_connect(int fd, const void *sa, int salen)
  shim_connect: { parameters: ["i32", "buffer", "i32"], result: "i32" },
  // int shim_bind(int fd, const void *sa, int salen)
  shim_bind: { parameters: ["i32", "buffer", "i32"], result: "i32" },
  // int shim_listen(int fd, int backlog)
  shim_listen: { parameters: ["i32", "i32"], result: "i32" },
  // int shim_accept(int fd, void *sa, int32_t *salen)
  shim_accept: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  // int shim_send(int fd, const void *buf, int len, int flags)
  shim_send: { parameters: ["i32", "buffer", "i32", "i32"], result: "i32" },
  // int shim_recv(int fd, void *buf, int len, int flags)
  shim_recv: { parameters: ["i32", "buffer", "i32", "i32"], result: "i32" },
  // int shim_sendto(int fd, const void *buf, int len, int flags, const void *sa, int salen)
  shim_sendto: { parameters: ["i32", "buffer", "i32", "i32", "buffer", "i32"], result: "i32" },
  // int shim_recvfrom(int fd, void *buf, int len, int flags, void *sa, int32_t *salen)
  shim_recvfrom: { parameters: ["i32", "buffer", "i32", "i32", "buffer", "buffer"], result: "i32" },
  // int shim_shutdown(int fd, int how)
  shim_shutdown: { parameters: ["i32", "i32"], result: "i32" },
  // int shim_setsockopt_int(int fd, int level, int name, int value)
  shim_setsockopt_int: { parameters: ["i32", "i32", "i32", "i32"], result: "i32" },
  // int shim_getsockopt_int(int fd, int level, int name)
  shim_getsockopt_int: { parameters: ["i32", "i32", "i32"], result: "i32" },
  // int shim_getsockopt(int fd, int level, int name, void *buf, int len)
  shim_getsockopt: { parameters: ["i32", "i32", "i32", "buffer", "i32"], result: "i32" },
  // int shim_getsockname(int fd, void *sa, int32_t *salen)
  shim_getsockname: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  // int shim_epoll_create(void)
  shim_epoll_create: { parameters: [], result: "i32" },
  // int shim_epoll_ctl(int ep, int op, int fd, uint32_t events, uint32_t token)
  shim_epoll_ctl: { parameters: ["i32", "i32", "i32", "u32", "u32"], result: "i32" },
  // int shim_epoll_wait(int ep, uint32_t *out, int max, int timeout_ms)
  shim_epoll_wait: { parameters: ["i32", "buffer", "i32", "i32"], result: "i32" },
  // the same, on a thread of Deno's blocking pool, for the main thread's event loop
  shim_epoll_wait_async: {
    name: "shim_epoll_wait",
    parameters: ["i32", "buffer", "i32", "i32"],
    result: "i32",
    nonblocking: true,
  },
  // int shim_epoll_poll_yield(int ep, uint32_t *out, int max): sched_yield, then epoll_wait(0)
  shim_epoll_poll_yield: { parameters: ["i32", "buffer", "i32"], result: "i32" },
  // int shim_eventfd_signal(int fd)
  shim_eventfd_signal: { parameters: ["i32"], result: "i32" },
  // int shim_eventfd_drain(int fd)
  shim_eventfd_drain: { parameters: ["i32"], result: "i32" },
  // --- native/file.c ---
  // int shim_stat(const char *path, uint64_t out[4])
  shim_stat: { parameters: ["buffer", "buffer"], result: "i32" },
  // int shim_read_file(const char *path, void *buf, int len)
  shim_read_file: { parameters: ["buffer", "buffer", "i32"], result: "i32" },
  // --- native/ifaddr.c ---
  // int shim_interface_ipv4(const char *name, uint8_t out[4])
  shim_interface_ipv4: { parameters: ["buffer", "buffer"], result: "i32" },
  // int shim_interface_ipv6(const char *name, uint8_t out[16])
  shim_interface_ipv6: { parameters: ["buffer", "buffer"], result: "i32" },
  // --- native/unix_path.c ---
  // int shim_lstat(const char *path, uint64_t out[3])
  shim_lstat: { parameters: ["buffer", "buffer"], result: "i32" },
  // int shim_unlink(const char *path)
  shim_unlink: { parameters: ["buffer"], result: "i32" },
  // --- native/tcp_host.c ---
  // int shim_tcp_connect(const void *sa, int salen, const void *bind_sa, int bind_salen)
  shim_tcp_connect: { parameters: ["buffer", "i32", "buffer", "i32"], result: "i32" },
  // int shim_close_reset(int fd)
  shim_close_reset: { parameters: ["i32"], result: "i32" },
  // int shim_raise_nofile(void)
  shim_raise_nofile: { parameters: [], result: "i32" },
  // int shim_send_at(int fd, const uint8_t *buf, int offset, int len)
  shim_send_at: { parameters: ["i32", "buffer", "i32", "i32"], result: "i32" },
  // int shim_recv_at(int fd, uint8_t *buf, int offset, int len)
  shim_recv_at: { parameters: ["i32", "buffer", "i32", "i32"], result: "i32" },
  // --- native/csum.c ---
  // uint32_t shim_csum(const uint8_t *buf, int offset, int len, uint32_t initial)
  shim_csum: { parameters: ["buffer", "i32", "i32", "u32"], result: "u32" },
  // int shim_copy(uint8_t *dst, int dst_offset, const uint8_t *src, int src_offset, int len)
  shim_copy: { parameters: ["buffer", "i32", "buffer", "i32", "i32"], result: "i32" },
  // --- native/udp_host.c ---
  // int shim_dgram_socket(int protocol, uint32_t bind_addr)
  shim_dgram_socket: { parameters: ["i32", "u32"], result: "i32" },
  // int shim_sendto4(int fd, const uint8_t *buf, int offset, int len, uint32_t addr, int port)
  shim_sendto4: { parameters: ["i32", "buffer", "i32", "i32", "u32", "i32"], result: "i32" },
  // int shim_recvfrom4(int fd, uint8_t *buf, int offset, int len, uint32_t from[2])
  shim_recvfrom4: { parameters: ["i32", "buffer", "i32", "i32", "buffer"], result: "i32" },
  // int shim_recv_error4(int fd, uint8_t *buf, int offset, int len, uint32_t info[8])
  shim_recv_error4: { parameters: ["i32", "buffer", "i32", "i32", "buffer"], result: "i32" },
  // int shim_dgram_socket6(int protocol, const uint8_t bind_addr[16])
  shim_dgram_socket6: { parameters: ["i32", "buffer"], result: "i32" },
  // int shim_sendto6(int fd, const uint8_t *buf, int offset, int len, const uint8_t addr[16],
  //                  int port)
  shim_sendto6: { parameters: ["i32", "buffer", "i32", "i32", "buffer", "i32"], result: "i32" },
  // int shim_recvfrom6(int fd, uint8_t *buf, int offset, int len, uint8_t from[18])
  shim_recvfrom6: { parameters: ["i32", "buffer", "i32", "i32", "buffer"], result: "i32" },
  // int shim_recv_error6(int fd, uint8_t *buf, int offset, int len, uint32_t info[8],
  //                      uint8_t addrs[32])
  shim_recv_error6: {
    parameters: ["i32", "buffer", "i32", "i32", "buffer", "buffer"],
    result: "i32",
  },
  // --- native/sandbox.c ---
  // int shim_set_cloexec(int fd, int on)
  shim_set_cloexec: { parameters: ["i32", "i32"], result: "i32" },
  // int shim_readlink(const char *path, char *buf, int len)
  shim_readlink: { parameters: ["buffer", "buffer", "i32"], result: "i32" },
  // int shim_open_dir(const char *path)
  shim_open_dir: { parameters: ["buffer"], result: "i32" },
  // int shim_lstat_at(int dirfd, const char *name, uint64_t out[3])
  shim_lstat_at: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  // int shim_unlink_at(int dirfd, const char *name)
  shim_unlink_at: { parameters: ["i32", "buffer"], result: "i32" },
  // int shim_hold_stop_signals(void)
  shim_hold_stop_signals: { parameters: [], result: "i32" },
  // int shim_exec(const char *path, const char *args, int count)
  shim_exec: { parameters: ["buffer", "buffer", "i32"], result: "i32" },
  // int shim_unblock_stop_signals(void)
  shim_unblock_stop_signals: { parameters: [], result: "i32" },
  // int shim_sandbox_state(uint32_t out[11])
  shim_sandbox_state: { parameters: ["buffer"], result: "i32" },
  // int shim_seccomp_action_available(uint32_t action)
  shim_seccomp_action_available: { parameters: ["u32"], result: "i32" },
  // int shim_seccomp_install(const void *filter, int count)
  shim_seccomp_install: { parameters: ["buffer", "i32"], result: "i32" },
  // --- native/pcap.c ---
  // int shim_pcap_open(const char *path)
  shim_pcap_open: { parameters: ["buffer"], result: "i32" },
  // int shim_pcap_append(int fd, const void *frame, int len, int snaplen)
  shim_pcap_append: { parameters: ["i32", "buffer", "i32", "i32"], result: "i32" },
} as const satisfies Deno.ForeignLibraryInterface;

/** The shim's functions. */
export type Shim = Deno.DynamicLibrary<typeof SHIM_SYMBOLS>["symbols"];
const SYMBOLS = SHIM_SYMBOLS;

const LIBC = {
  // int memfd_create(const char *name, unsigned int flags)
  memfd_create: { parameters: ["buffer", "u32"], result: "i32" },
  // ssize_t write(int fd, const void *buf, size_t count)
  write: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  // int fcntl(int fd, int cmd, int arg)  (F_ADD_SEALS)
  fcntl: { parameters: ["i32", "i32", "i32"], result: "i32" },
  // int close(int fd)
  close: { parameters: ["i32"], result: "i32" },
  // char *getenv(const char *name)
  getenv: { parameters: ["buffer"], result: "pointer" },
  // int ioctl(int fd, unsigned long request, int *count)  (FIONREAD)
  ioctl: { parameters: ["i32", "usize", "buffer"], result: "i32" },
} as const satisfies Deno.ForeignLibraryInterface;

/** Runs `use` with libc bound to LIBC, closed again after: for calls made once or rarely. */
function withLibc<T>(use: (libc: Deno.DynamicLibrary<typeof LIBC>["symbols"]) => T): T {
  const libc = Deno.dlopen("libc.so.6", LIBC);
  try {
    return use(libc.symbols);
  } finally {
    libc.close();
  }
}

const MFD_CLOEXEC = 0x1;
const MFD_ALLOW_SEALING = 0x2;
/** Linux 6.3: executable even where vm.memfd_noexec makes memfds non-executable by default. */
const MFD_EXEC = 0x10;
const F_ADD_SEALS = 1033;
/** F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE: the contents are final. */
const SEALS_FINAL = 0x1 | 0x2 | 0x4 | 0x8;

/** NUL-terminated bytes of a string, for `buffer` parameters. */
export function cString(text: string): Uint8Array {
  return new TextEncoder().encode(text + "\0");
}

/**
 * Writes a file's bytes into a sealed memfd (close-on-exec, its contents final) and returns the
 * path that opens it, `/proc/self/fd/N`: the route a registry run and a compiled binary take for
 * the shim (dlopen) and the sandbox launcher (execve), which needs only FFI permission. The memfd
 * stays open for the life of this image, so that the path keeps naming it; execve of the path
 * opens the file before the close-on-exec fds are closed.
 *
 * @param bytes The file's contents.
 * @param name The memfd's name (shown in /proc/PID/fd and maps).
 * @param executable True for a program to execute (MFD_EXEC where the kernel knows it).
 */
export function memfdPath(
  bytes: Uint8Array,
  name = "slirp4netns_shim",
  executable = false,
): string {
  return withLibc((libc) => {
    const flags = MFD_CLOEXEC | MFD_ALLOW_SEALING;
    let fd = libc.memfd_create(cString(name), flags | (executable ? MFD_EXEC : 0));
    // EINVAL before Linux 6.3, which has no MFD_EXEC (and no non-executable memfds either).
    if (fd < 0 && executable) fd = libc.memfd_create(cString(name), flags);
    if (fd < 0) throw new Error(`Cannot create a memfd for ${name}`);
    let done = 0;
    while (done < bytes.length) {
      const n = Number(libc.write(fd, bytes.subarray(done), BigInt(bytes.length - done)));
      if (n <= 0) {
        libc.close(fd);
        throw new Error(`Cannot write ${name} into a memfd`);
      }
      done += n;
    }
    if (libc.fcntl(fd, F_ADD_SEALS, SEALS_FINAL) < 0) {
      libc.close(fd);
      throw new Error(`Cannot seal the memfd of ${name}`);
    }
    return `/proc/self/fd/${fd}`;
  });
}

/**
 * An environment variable of this process, with or without env permission (`--allow-ffi` alone
 * amounts to all of them): undefined when unset.
 */
export function environmentVariable(name: string): string | undefined {
  const permission = Deno.permissions.querySync({ name: "env", variable: name });
  if (permission.state === "granted") return Deno.env.get(name);
  return withLibc((libc) => {
    const value = libc.getenv(cString(name));
    return value === null ? undefined : Deno.UnsafePointerView.getCString(value);
  });
}

const FIONREAD = 0x541bn;

/**
 * The bytes waiting to be read on socket `fd` (FIONREAD: for a SOCK_SEQPACKET socket, the sum of
 * its queued packets, empty ones adding nothing); 0 when the ioctl fails. For rare moments (libc
 * is bound for the call).
 */
export function bytesQueued(fd: number): number {
  const count = new Int32Array(1);
  const rc = withLibc((libc) => libc.ioctl(fd, FIONREAD, new Uint8Array(count.buffer)));
  return rc === 0 ? count[0] : 0;
}

/**
 * The shim's functions at `path`, each bound on first use. The library is opened at once (a
 * missing or wrong file fails here), with no symbols bound.
 */
export function bindShim(path: string): Shim {
  Deno.dlopen(path, {});
  const symbols = {} as Record<string, unknown>;
  for (const name of Object.keys(SYMBOLS) as (keyof typeof SYMBOLS)[]) {
    Object.defineProperty(symbols, name, {
      configurable: true,
      enumerable: true,
      get() {
        // Another handle on the same library (dlopen counts references): only this symbol.
        const library = Deno.dlopen(
          path,
          { [name]: SYMBOLS[name] } as Pick<typeof SYMBOLS, typeof name>,
        );
        const bound = library.symbols[name];
        // From now on a plain data property: the object keeps fast properties.
        Object.defineProperty(symbols, name, { value: bound, enumerable: true });
        return bound;
      },
    });
  }
  return symbols as Shim;
}

let loaded: Promise<Shim> | undefined;
let loadedFrom: string | null = null;

/**
 * The file the shim was loaded from when it is not the local build beside the sources (e.g.
 * `SLIRP4NETNS_SHIM`); null for that build or the shipped bytes. The sandbox makes that file
 * visible to its continuation.
 */
export function shimOverridePath(): string | null {
  return loadedFrom;
}

/** Loads the shim once per thread (each Worker loads its own). */
export function loadShim(): Promise<Shim> {
  loaded ??= locateShim().then((location) => {
    if (location.kind === "bytes") return bindShim(memfdPath(location.bytes));
    if (location.path !== decodeURIComponent(LOCAL_BUILD.pathname)) loadedFrom = location.path;
    return bindShim(location.path);
  });
  return loaded;
}
