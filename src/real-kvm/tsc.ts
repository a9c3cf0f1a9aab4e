import { checkMap, MAP_ANONYMOUS, MAP_PRIVATE, PROT_EXEC, PROT_READ, PROT_WRITE, check, type Libc, type Pointer } from './libc.ts';

/**
 * The TSC from JavaScript. The real-KVM guest timestamps with RDTSC and its TSC is the host's
 * (offset 0, set when the vCPU is created), so the host side of a latency must be a TSC reading
 * too; Node has no RDTSC, so each thread maps two tiny functions of its own (a few x86-64 bytes in
 * an executable page) and calls them through koffi, about 0.2 us a call.
 */

// rdtsc; shl $32, %rdx; or %rdx, %rax; ret
const RDTSC = [0x0f, 0x31, 0x48, 0xc1, 0xe2, 0x20, 0x48, 0x09, 0xd0, 0xc3];
// rdtsc; mov %eax, (%rdi); mov %edx, 4(%rdi); ret  -- stores the TSC where the pointer says
const RDTSC_STORE = [0x0f, 0x31, 0x89, 0x07, 0x89, 0x57, 0x04, 0xc3];
const PAGE = 4096;

export interface Tsc {
  /** The TSC now (exact while below 2^53 cycles: about 40 days of uptime at 2.6 GHz). */
  read(): number;
  /** Store the TSC now at `dst` (a u64 in guest memory), with no JavaScript between the read and the store. */
  store(dst: Pointer): void;
  unmap(): void;
}

export function mapTsc(c: Libc): Tsc {
  const page = checkMap(c, 'mmap(TSC stub)', c.mmap(null, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  const bytes = new Uint8Array(c.view(page, PAGE));
  bytes.set(RDTSC, 0);
  bytes.set(RDTSC_STORE, 16);
  check(c, 'mprotect(TSC stub)', c.mprotect(page, PAGE, PROT_READ | PROT_EXEC));
  const k = c.koffi;
  // Unnamed prototypes: koffi keeps named types for the life of the process, once per name.
  const read = k.decode(page, k.proto('uint64_t', [])) as () => number | bigint;
  const store = k.decode(page + 16n, k.proto('void', ['void *'])) as (dst: Pointer) => void;
  return {
    read: () => Number(read()),
    store,
    unmap: () => void c.munmap(page, PAGE),
  };
}
