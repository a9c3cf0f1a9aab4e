import { createRequire } from 'node:module';
import { constants } from 'node:os';

/**
 * The system calls the real-KVM backend makes, through koffi (an FFI whose prebuilt binary ships
 * in its npm package: nothing to compile). Bound lazily, once per thread: a worker thread loads
 * koffi from the path the main thread resolved (actor bundles live outside node_modules).
 * Every call that can fail returns through check(), which throws a SyscallError naming the call
 * and the errno.
 */

export const O_RDWR = 2;
export const O_CLOEXEC = 0o2000000;
export const PROT_READ = 1;
export const PROT_WRITE = 2;
export const PROT_EXEC = 4;
export const MAP_SHARED = 1;
export const MAP_PRIVATE = 2;
export const MAP_ANONYMOUS = 0x20;
export const EFD_CLOEXEC = 0o2000000;
export const EINTR = 4;
const POLLIN = 1;
/** The signal that kicks a vCPU thread out of KVM_RUN (SIGUSR1 belongs to Node's inspector). */
export const SIG_KICK = 'SIGUSR2';
export const SIG_KICK_NUMBER = constants.signals.SIGUSR2;

let kickHandler = false;
/**
 * A process-wide handler for the kick signal, so that it interrupts KVM_RUN (-EINTR) in the thread
 * it is sent to instead of killing the process. Installed once and kept: a kick delivered late
 * must never meet the default action.
 */
export function installKickHandler(): void {
  if (kickHandler) return;
  process.on(SIG_KICK, () => {});
  kickHandler = true;
}

const ERRNO_NAMES = new Map(Object.entries(constants.errno).map(([name, n]) => [n, name]));
export const errnoName = (errno: number): string => ERRNO_NAMES.get(errno) ?? `errno ${errno}`;

export class SyscallError extends Error {
  constructor(
    readonly call: string,
    readonly errno: number,
  ) {
    super(`${call} failed: ${errnoName(errno)}`);
    this.name = 'SyscallError';
  }
}

/** A pointer as koffi passes it: a BigInt address. */
export type Pointer = bigint;

type Koffi = typeof import('koffi');

export interface Libc {
  readonly koffi: Koffi;
  open(path: string, flags: number): number;
  close(fd: number): number;
  /** ioctl with a pointer argument (a Buffer or an address). */
  ioctl(fd: number, request: number, arg: Buffer | Pointer | null): number;
  /** ioctl with an integer argument. */
  ioctlInt(fd: number, request: number, arg: number): number;
  mmap(addr: null, len: number, prot: number, flags: number, fd: number, off: number): Pointer;
  munmap(addr: Pointer, len: number): number;
  mprotect(addr: Pointer, len: number, prot: number): number;
  eventfd(initval: number, flags: number): number;
  write(fd: number, buf: Buffer, n: number): number;
  read(fd: number, buf: Buffer, n: number): number;
  /** poll(2) on one fd for POLLIN; returns > 0 when readable, 0 on timeout. */
  pollIn(fd: number, timeoutMs: number): number;
  pread(fd: number, buf: Buffer, n: number, off: number): number;
  /** Send a signal to one thread of a process, by its kernel thread id (a stale id fails with ESRCH, never touches freed memory). */
  tgkill(tgid: number, tid: number, sig: number): number;
  errno(): number;
  /** An ArrayBuffer over native memory (valid until it is unmapped). */
  view(ptr: Pointer, len: number): ArrayBuffer;
}

let bound: Libc | null = null;

/** Where koffi is, for worker threads (resolved from this module in the main thread). */
export function koffiPath(): string {
  return createRequire(import.meta.url).resolve('koffi');
}

/** libc through koffi; throws if koffi cannot load (the caller says what that means). */
export function libc(path = koffiPath()): Libc {
  if (bound) return bound;
  const koffi = createRequire(path)(path) as Koffi;
  const lib = koffi.load('libc.so.6');
  // ioctl is variadic; fixed 3-argument prototypes are the same call on x86-64 SysV and skip
  // koffi's slower variadic path.
  const ioctlP = lib.func('ioctl', 'int', ['int', 'unsigned long', 'void *']);
  const ioctlN = lib.func('ioctl', 'int', ['int', 'unsigned long', 'unsigned long']);
  const poll = lib.func('int poll(void *fds, unsigned long nfds, int timeout)');
  const pollfd = Buffer.alloc(8); // struct pollfd { int fd; short events; short revents; }
  bound = {
    koffi,
    open: lib.func('int open(const char *path, int flags)'),
    close: lib.func('int close(int fd)'),
    ioctl: (fd, request, arg) => ioctlP(fd, request, arg),
    ioctlInt: (fd, request, arg) => ioctlN(fd, request, arg),
    mmap: lib.func('void *mmap(void *addr, size_t len, int prot, int flags, int fd, long off)'),
    munmap: lib.func('int munmap(void *addr, size_t len)'),
    mprotect: lib.func('int mprotect(void *addr, size_t len, int prot)'),
    eventfd: lib.func('int eventfd(unsigned int initval, int flags)'),
    write: lib.func('long write(int fd, const void *buf, size_t n)'),
    read: lib.func('long read(int fd, void *buf, size_t n)'),
    pollIn: (fd, timeoutMs) => {
      pollfd.writeInt32LE(fd, 0);
      pollfd.writeInt16LE(POLLIN, 4);
      pollfd.writeInt16LE(0, 6);
      return poll(pollfd, 1, timeoutMs);
    },
    pread: lib.func('long pread(int fd, void *buf, size_t n, long off)'),
    tgkill: lib.func('int tgkill(int tgid, int tid, int sig)'),
    errno: () => koffi.errno(),
    view: (ptr, len) => koffi.view(ptr, len),
  };
  return bound;
}

/** A syscall's result, or a SyscallError with its errno. */
export function check(c: Libc, call: string, r: number): number {
  if (r < 0) throw new SyscallError(call, c.errno());
  return r;
}

/** mmap's MAP_FAILED is (void *)-1. */
export function checkMap(c: Libc, call: string, p: Pointer): Pointer {
  if (p === 0xffffffffffffffffn || p === -1n) throw new SyscallError(call, c.errno());
  return p;
}
