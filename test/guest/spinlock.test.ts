import { describe, expect, it } from 'vitest';
import { GUEST_EXIT, GuestCpu, type GuestHost } from '../../src/guest/interpreter.ts';
import { GuestMemory } from '../../src/host/guest-memory.ts';
import { GUEST_RAM_WORDS } from '../../src/guest/memory.ts';
import { spinlock, SPINLOCK_RAM as M } from '../../src/guest/workloads/spinlock.ts';

// The spinlock guest on fake vCPUs sharing one guest RAM: it waits with PAUSE while the lock is
// held, takes and releases it, keeps its books, and notices a broken mutual exclusion itself.

function host(ram: Int32Array, cpu: number, stopAfter: number, pauses: { n: number } = { n: 0 }, pleAt = Infinity): GuestHost {
  let steps = 0;
  const m = new GuestMemory(ram, ram.length, []);
  return {
    kicked: () => ++steps > stopAfter,
    timerDue: () => false,
    interruptWindowRequested: () => false,
    eoi: () => {},
    sample: () => {},
    pauseLoopExit: () => ++pauses.n >= pleAt,
    wfxTrapped: () => true,
    hltInGuest: false,
    mwaitInGuest: false,
    idleInGuest: (): 0 => {
      throw new Error('no native idle on this fake host');
    },
    monitor: () => {},
    store: (a, v) => m.store(a, v),
    load: (a) => m.load(a),
    cmpxchg: (a, e, v) => m.cmpxchg(a, e, v),
    xadd: (a, d) => m.xadd(a, d),
    cpuId: () => cpu,
  };
}

describe('the spinlock guest', () => {
  it('spins with PAUSE while another vCPU holds the lock, then takes and releases it in turn', () => {
    const ram = new Int32Array(GUEST_RAM_WORDS);
    const program = spinlock({ hold_ns: 0, think_ns: 0 });
    const cpu0 = new GuestCpu(program);
    Atomics.store(ram, M.LOCK, 2); // vCPU 1 holds it
    const pauses = { n: 0 };
    expect(cpu0.run(host(ram, 0, 10_000, pauses, 5))).toBe(GUEST_EXIT.PAUSE_INSTRUCTION);
    expect(pauses.n).toBe(5);
    expect(Atomics.load(ram, M.ACQUIRED)).toBe(0);
    Atomics.store(ram, M.LOCK, 0); // released
    // Two vCPUs, run in turns of a few hundred instructions each (a kick ends each turn).
    const cpu1 = new GuestCpu(program);
    for (let turn = 0; turn < 20; turn++) (turn % 2 ? cpu1 : cpu0).run(host(ram, turn % 2, 137));
    const acquired = Atomics.load(ram, M.ACQUIRED);
    expect(acquired).toBeGreaterThan(20);
    expect(acquired - Atomics.load(ram, M.RELEASED)).toBeGreaterThanOrEqual(0);
    expect(acquired - Atomics.load(ram, M.RELEASED)).toBeLessThanOrEqual(1);
    expect(Atomics.load(ram, M.VIOLATIONS)).toBe(0);
  });

  it('counts a violation when it enters with another vCPU inside', () => {
    const ram = new Int32Array(GUEST_RAM_WORDS);
    Atomics.store(ram, M.INSIDE, 1); // someone is inside without holding the lock
    new GuestCpu(spinlock({ hold_ns: 0, think_ns: 0 })).run(host(ram, 0, 30));
    expect(Atomics.load(ram, M.ACQUIRED)).toBe(1);
    expect(Atomics.load(ram, M.VIOLATIONS)).toBe(1);
  });
});
