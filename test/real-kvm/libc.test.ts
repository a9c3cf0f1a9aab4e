import { describe, expect, it } from 'vitest';
import { check, checkMap, EFD_CLOEXEC, libc, MAP_ANONYMOUS, MAP_PRIVATE, O_CLOEXEC, O_RDWR, PROT_READ, PROT_WRITE, SyscallError } from '../../src/real-kvm/libc.ts';
import { mapTsc } from '../../src/real-kvm/tsc.ts';
import { now } from '../../src/actors/clock.ts';

// The system calls the kvm backend makes through koffi, on any x86-64 Linux (no /dev/kvm needed):
// errors carry their errno, eventfds poll and read as the device thread uses them, and the TSC
// stubs read a clock that moves with CLOCK_MONOTONIC.

const linuxX64 = process.platform === 'linux' && process.arch === 'x64';

describe.skipIf(!linuxX64)(`libc through koffi${linuxX64 ? '' : ` (not here: ${process.platform}-${process.arch})`}`, () => {
  const c = libc();

  it('a failed call throws a SyscallError naming the call and its errno', () => {
    try {
      check(c, 'open /nonexistent', c.open('/nonexistent/haltlab', O_RDWR | O_CLOEXEC));
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(SyscallError);
      expect((e as SyscallError).message).toBe('open /nonexistent failed: ENOENT');
    }
    expect(() => checkMap(c, 'mmap(bad fd)', c.mmap(null, 4096, PROT_READ, 1, 999_999, 0))).toThrow(/EBADF/);
  });

  it('an eventfd is not readable until written, then poll says so and read drains the count', () => {
    const fd = check(c, 'eventfd', c.eventfd(0, EFD_CLOEXEC));
    try {
      expect(c.pollIn(fd, 0)).toBe(0);
      const v = Buffer.alloc(8);
      v.writeBigUInt64LE(1n);
      c.write(fd, v, 8);
      c.write(fd, v, 8);
      expect(c.pollIn(fd, 0)).toBe(1);
      const out = Buffer.alloc(8);
      expect(c.read(fd, out, 8)).toBe(8);
      expect(out.readBigUInt64LE()).toBe(2n);
      expect(c.pollIn(fd, 0)).toBe(0);
    } finally {
      c.close(fd);
    }
  });

  it('mapped memory is shared between the view and the native side', () => {
    const p = checkMap(c, 'mmap', c.mmap(null, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    const tsc = mapTsc(c);
    try {
      const view = new DataView(c.view(p, 4096));
      tsc.store(p + 64n);
      const stored = Number(view.getBigUint64(64, true));
      expect(stored).toBeGreaterThan(0);
      expect(tsc.read()).toBeGreaterThanOrEqual(stored);
    } finally {
      tsc.unmap();
      c.munmap(p, 4096);
    }
  });

  it('the TSC advances at a steady rate against CLOCK_MONOTONIC', () => {
    const tsc = mapTsc(c);
    try {
      const rate = () => {
        const [a, t0] = [tsc.read(), now()];
        while (now() - t0 < 20e6);
        return (tsc.read() - a) / (now() - t0);
      };
      const [r1, r2] = [rate(), rate()];
      expect(r1).toBeGreaterThan(0.1); // cycles per ns: 0.1 .. 10 GHz
      expect(r1).toBeLessThan(10);
      expect(Math.abs(r1 - r2) / r1).toBeLessThan(0.2);
    } finally {
      tsc.unmap();
    }
  });
});
