import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { VIRTIO_BLK_NOTIFY_PORT } from '../../src/guest/kernel/vectors.ts';
import { kvmIoBus, kvmIoeventfd } from '../../src/host/kvm/ioeventfd.ts';
import { irqfdResampleCount, irqfdResampleInterrupt, irqfdResampleNotify, irqfdResampleWait } from '../../src/host/kvm/irqfd.ts';
import { kvmLazyTscdeadlineClear, kvmLazyTscdeadlineKick, kvmLazyTscdeadlineSetMsr, kvmLazyTscdeadlineUpdate } from '../../src/host/kvm/lazy-tscdeadline.ts';
import { fireTimerOnVcpu, hostTimerExpire, switchTimerToHost, writeTscDeadline } from '../../src/host/kvm/lapic-timer.ts';
import { readVcpuStats } from '../../src/host/kvm/stats.ts';
import { TIMER, VCPU_BLOCK } from '../../src/host/kvm/vcpu-state.ts';
import { advertiseLazyTscdeadline, enableIrqfdResample, KVM, readWfxConfig, setHostHardware, writeArch, type KvmRecord } from '../../src/host/kvm/vm-state.ts';
import { allocateVm, vcpuRecords } from '../../src/host/layout.ts';
import { HOST } from '../../src/host/sched/task-state.ts';
import { AIO, eventfdSignal } from '../../src/host/vmm/aio-context.ts';
import type { SharedMemory } from '../../src/actors/shared-memory.ts';

const V = VCPU_BLOCK.i32.index;
const VF = VCPU_BLOCK.f64.index;
const A = AIO.def!.i32.index;
/** The VMM's side of KVM_IOEVENTFD: a signal on the I/O thread's AioContext (vcpu-thread.ts wires the same). */
const ioBus = (mem: SharedMemory, kvm: KvmRecord) => kvmIoBus(kvm, (set, n) => eventfdSignal(mem.record(AIO, set), n));
// The VM-wide words, read and written through the KVM record's named fields.
const enableExitOnWfx = (kvm: KvmRecord) => kvm.store('exit_on_wfx', 1);
const exitOnWfx = (kvm: KvmRecord) => kvm.load('exit_on_wfx') !== 0;
const hostApicv = (kvm: KvmRecord) => kvm.load('apicv') !== 0;
const lapicTimerAdvance = (kvm: KvmRecord) => kvm.load('lapic_timer_advance') !== 0;
const irqfdResampleLines = (kvm: KvmRecord) => kvm.load('resample_lines');
const lastBoostedVcpu = (kvm: KvmRecord) => kvm.load('last_boosted_vcpu');
const setLastBoostedVcpu = (kvm: KvmRecord, idx: number) => kvm.store('last_boosted_vcpu', idx);
const lazyTscdeadlineAdvertised = (kvm: KvmRecord) => kvm.load('pv_lazy_tscdeadline') !== 0;

// The VM-wide KVM state a VMM sets up (vm-state.ts), the in-kernel devices a vCPU reaches without
// an exit to userspace (ioeventfd, irqfd resampling), and the host half of the lazy tscdeadline
// proposal, each on the shared records the threads use.

const vm = (vcpus = 1) => {
  const mem = allocateVm({ vcpus, pcpus: 1, actors: 1 + vcpus, iothreads: 1 });
  return { mem, kvm: mem.record(KVM, 0), vcpu: vcpuRecords(mem, 0), aio: mem.record(AIO, 0) };
};

describe('KVM_IOEVENTFD on the queue-notify port', () => {
  it('a write of queue q to the registered port signals eventfd[q] of the I/O thread’s context and wakes it, with no exit to userspace', () => {
    const { mem, kvm, aio } = vm();
    kvmIoeventfd(kvm, VIRTIO_BLK_NOTIFY_PORT, 0, 2);
    const bus = ioBus(mem, kvm);
    expect(bus(VIRTIO_BLK_NOTIFY_PORT, 1)).toBe(true);
    expect([Atomics.load(aio.i32, A.eventfd), Atomics.load(aio.i32, A.eventfd + 1), Atomics.load(aio.i32, A.notify)]).toEqual([0, 1, 1]);
    expect(bus(VIRTIO_BLK_NOTIFY_PORT, 0)).toBe(true);
    expect([Atomics.load(aio.i32, A.eventfd), Atomics.load(aio.i32, A.notify)]).toEqual([1, 2]);
  });

  it('claims no other port, no value outside the queues (no datamatch), and nothing before it is registered', () => {
    const { mem, kvm, aio } = vm();
    const bus = ioBus(mem, kvm);
    expect(bus(VIRTIO_BLK_NOTIFY_PORT, 0)).toBe(false); // not registered yet
    expect(bus(0, 0)).toBe(false);
    kvmIoeventfd(kvm, VIRTIO_BLK_NOTIFY_PORT, 0, 2);
    for (const [port, value] of [[VIRTIO_BLK_NOTIFY_PORT + 1, 0], [VIRTIO_BLK_NOTIFY_PORT, 2], [VIRTIO_BLK_NOTIFY_PORT, -1], [VIRTIO_BLK_NOTIFY_PORT, 0.5], [0, 0]]) {
      expect(bus(port, value), `${port}=${value}`).toBe(false);
    }
    expect(Atomics.load(aio.i32, A.notify)).toBe(0);
  });
});

describe('irqfd resampling (KVM_IRQFD_FLAG_RESAMPLE)', () => {
  it('the guest’s EOI signals the resamplefd; a waiter that read the count before sees it moved, at once or after waiting', () => {
    const { vcpu } = vm();
    const seen = irqfdResampleCount(vcpu);
    expect(irqfdResampleWait(vcpu, seen, 1_000)).toBe(false); // nothing yet: the wait times out
    irqfdResampleNotify(vcpu);
    expect(irqfdResampleCount(vcpu)).toBe(seen + 1);
    expect(irqfdResampleWait(vcpu, seen, 1e9)).toBe(true); // an EOI before the wait is not missed
    irqfdResampleInterrupt(vcpu); // wakes nobody here, and signals nothing
    expect(irqfdResampleCount(vcpu)).toBe(seen + 1);
  });

  it('a VMM thread waiting on the resamplefd returns when the EOI comes during its wait', async () => {
    const { vcpu } = vm();
    // Another thread EOIs 20 ms into the wait, as irqfdResampleNotify does.
    const eoi = new Worker(
      `const { workerData: { i32, at } } = require('node:worker_threads');
       Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
       Atomics.add(i32, at, 1);
       Atomics.notify(i32, at);`,
      { eval: true, workerData: { i32: vcpu.block.i32, at: V.resample } },
    );
    try {
      expect(irqfdResampleWait(vcpu, irqfdResampleCount(vcpu), 1e9)).toBe(true);
    } finally {
      await eoi.terminate();
    }
  });

  it('irqfdResampleInterrupt wakes a thread waiting on the resamplefd (to stop it) without signalling it', async () => {
    const { vcpu } = vm();
    const flags = new Int32Array(new SharedArrayBuffer(12)); // [waiting, done, waited ms]
    // The waiting VMM thread, as irqfdResampleWait waits: up to 1 s.
    const waiter = new Worker(
      `const { workerData: { i32, at, flags } } = require('node:worker_threads');
       const seen = Atomics.load(i32, at);
       Atomics.store(flags, 0, 1);
       const t0 = Date.now();
       Atomics.wait(i32, at, seen, 1000);
       Atomics.store(flags, 2, Date.now() - t0);
       Atomics.store(flags, 1, 1);`,
      { eval: true, workerData: { i32: vcpu.block.i32, at: V.resample, flags } },
    );
    try {
      while (!Atomics.load(flags, 0)) Atomics.wait(flags, 0, 0, 1);
      const count = irqfdResampleCount(vcpu);
      // Until it has woken (a notify before its wait began would find no one).
      while (!Atomics.load(flags, 1)) {
        irqfdResampleInterrupt(vcpu);
        Atomics.wait(flags, 1, 0, 5);
      }
      expect(Atomics.load(flags, 2)).toBeLessThan(900); // woken, not timed out
      expect(irqfdResampleCount(vcpu)).toBe(count); // and not signalled
    } finally {
      await waiter.terminate();
    }
  });

  it('lines are registered for resampling one by one', () => {
    const { kvm } = vm();
    expect(irqfdResampleLines(kvm)).toBe(0);
    enableIrqfdResample(kvm, 1);
    enableIrqfdResample(kvm, 3);
    expect(irqfdResampleLines(kvm)).toBe(0b1010);
  });
});

describe('VM-wide state the VMM sets before its vCPUs run', () => {
  it('the host’s hardware: APICv and the LAPIC timer advance on or off', () => {
    const { kvm } = vm();
    expect([hostApicv(kvm), lapicTimerAdvance(kvm)]).toEqual([false, false]);
    setHostHardware(kvm, { exit_cost_ns: 0, apicv: true, lapic_timer_advance: false });
    expect([hostApicv(kvm), lapicTimerAdvance(kvm)]).toEqual([true, false]);
    setHostHardware(kvm, { exit_cost_ns: 0, apicv: false, lapic_timer_advance: true });
    expect([hostApicv(kvm), lapicTimerAdvance(kvm)]).toEqual([false, true]);
  });

  it('KVM_CAP_EXIT_ON_WFX (the 2023 arm64 request) is enabled only on arm64', () => {
    const arm = { wfi_trap_policy: 'default', wfe_trap_policy: 'default', direct_injection: false, wfx_rq_threshold: null, exit_on_wfx: true } as const;
    const x = vm();
    writeArch(x.kvm, 'x86', arm);
    expect(exitOnWfx(x.kvm)).toBe(false);
    const a = vm();
    writeArch(a.kvm, 'arm64', { ...arm, exit_on_wfx: false });
    expect(exitOnWfx(a.kvm)).toBe(false);
    writeArch(a.kvm, 'arm64', arm);
    expect(exitOnWfx(a.kvm)).toBe(true);
    const b = vm();
    enableExitOnWfx(b.kvm);
    expect(exitOnWfx(b.kvm)).toBe(true);
  });

  it('the runqueue-depth proposal’s threshold reads back as set, 0 included; unset is null', () => {
    const { kvm } = vm();
    const arm = { wfi_trap_policy: 'trap', wfe_trap_policy: 'notrap', direct_injection: true, exit_on_wfx: false } as const;
    writeArch(kvm, 'arm64', { ...arm, wfx_rq_threshold: 0 });
    expect(readWfxConfig(kvm)).toEqual({ wfi_trap_policy: 'trap', wfe_trap_policy: 'notrap', direct_injection: true, rq_threshold: 0 });
    writeArch(kvm, 'arm64', { ...arm, wfx_rq_threshold: null });
    expect(readWfxConfig(kvm).rq_threshold).toBeNull();
  });

  it('kvm_vcpu_on_spin’s round robin remembers the last vCPU boosted; the lazy tscdeadline feature is off until advertised', () => {
    const { kvm } = vm();
    setLastBoostedVcpu(kvm, 3);
    expect(lastBoostedVcpu(kvm)).toBe(3);
    expect(lazyTscdeadlineAdvertised(kvm)).toBe(false);
    advertiseLazyTscdeadline(kvm);
    expect(lazyTscdeadlineAdvertised(kvm)).toBe(true);
  });
});

describe('the lazy tscdeadline proposal, host half (reference §2.8)', () => {
  const registered = () => {
    const { vcpu } = vm();
    kvmLazyTscdeadlineSetMsr(vcpu.block, 1);
    return vcpu;
  };

  it('does nothing until the guest registers its page: no armed value, no re-arm', () => {
    const { vcpu } = vm();
    kvmLazyTscdeadlineUpdate(vcpu.block, 5_000);
    expect(vcpu.block.get('lazy_armed')).toBe(0);
    vcpu.block.set('lazy_armed', 5_000);
    vcpu.block.set('lazy_pending', 9_000);
    expect(kvmLazyTscdeadlineKick(vcpu, 5_000)).toBe(0);
    kvmLazyTscdeadlineClear(vcpu.block);
    expect(vcpu.block.get('lazy_armed')).toBe(5_000); // untouched: not registered
  });

  it('registered: a write arms, an expiry with a later pending deadline re-arms there and counts it, else clears armed', () => {
    const vcpu = registered();
    kvmLazyTscdeadlineUpdate(vcpu.block, 5_000);
    expect(vcpu.block.get('lazy_armed')).toBe(5_000);
    vcpu.block.set('lazy_pending', 9_000);
    expect(kvmLazyTscdeadlineKick(vcpu, 5_000)).toBe(9_000);
    expect(vcpu.block.get('lazy_armed')).toBe(9_000);
    expect(readVcpuStats(vcpu.stats).model.lazy_tscdeadline_rearms).toBe(1);
    expect(kvmLazyTscdeadlineKick(vcpu, 9_000)).toBe(0); // pending is not later than armed: fire
    expect(vcpu.block.get('lazy_armed')).toBe(0);
    vcpu.block.set('lazy_pending', 20_000);
    expect(kvmLazyTscdeadlineKick(vcpu, 9_500)).toBe(0); // nothing armed: nothing to re-arm, even with a later pending
  });

  it('a pending deadline equal to armed, or not ahead of now, fires instead of re-arming', () => {
    const vcpu = registered();
    kvmLazyTscdeadlineUpdate(vcpu.block, 5_000);
    vcpu.block.set('lazy_pending', 5_000);
    expect(kvmLazyTscdeadlineKick(vcpu, 5_000)).toBe(0);
    kvmLazyTscdeadlineUpdate(vcpu.block, 5_000);
    vcpu.block.set('lazy_pending', 6_000);
    expect(kvmLazyTscdeadlineKick(vcpu, 6_000)).toBe(0); // already due: fires now
    // Expired timer_advance_ns early: a stale pending not later than armed is no reason to re-arm.
    for (const stale of [9_000, 8_500]) {
      kvmLazyTscdeadlineUpdate(vcpu.block, 9_000);
      vcpu.block.set('lazy_pending', stale);
      expect(kvmLazyTscdeadlineKick(vcpu, 8_000), String(stale)).toBe(0);
    }
    expect(readVcpuStats(vcpu.stats).model.lazy_tscdeadline_rearms).toBe(0);
  });

  it('clearing bit 0 of the MSR unregisters the page and clears armed; setting it keeps armed', () => {
    const vcpu = registered();
    kvmLazyTscdeadlineUpdate(vcpu.block, 5_000);
    kvmLazyTscdeadlineSetMsr(vcpu.block, 3); // bit 0 still set: stays registered, armed kept
    expect([vcpu.block.load('lazy_tscdeadline'), vcpu.block.get('lazy_armed')]).toEqual([1, 5_000]);
    kvmLazyTscdeadlineSetMsr(vcpu.block, 2);
    expect([vcpu.block.load('lazy_tscdeadline'), vcpu.block.get('lazy_armed')]).toEqual([0, 0]);
  });

  it('re-armed on the vCPU’s own pCPU, the timer stays on the vCPU at the later deadline, nothing injected', () => {
    const vcpu = registered();
    writeTscDeadline(vcpu, 5_000, 0);
    vcpu.block.set('lazy_pending', 9_000);
    expect(fireTimerOnVcpu(vcpu, 5_000)).toBe(false);
    expect([vcpu.block.load('timer_mode'), vcpu.block.get('tsc_deadline'), vcpu.block.load('irr')]).toEqual([TIMER.ON_VCPU, 9_000, 0]);
    expect(readVcpuStats(vcpu.stats).model.timer_fired_in_guest).toBe(0);
  });

  it('re-armed by the host’s hrtimer, it comes back timer_advance_ns before the later deadline', () => {
    const { mem, vcpu } = vm();
    kvmLazyTscdeadlineSetMsr(vcpu.block, 1);
    vcpu.block.set('timer_advance_ns', 1_000);
    writeTscDeadline(vcpu, 50_000, 0);
    vcpu.block.set('lazy_pending', 90_000);
    switchTimerToHost(vcpu, mem.record(HOST, 0));
    expect(hostTimerExpire(vcpu, 49_000, () => {})).toBe(89_000);
    expect(vcpu.block.load('timer_mode')).toBe(TIMER.ON_HOST);
  });
});
