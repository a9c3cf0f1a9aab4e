import type { GuestProgram } from '../isa.ts';
import { timerLatency } from './timer-latency.ts';
import { irqWake } from './irq-wake.ts';
import { mixed } from './mixed.ts';
import { dsyncIo } from './dsync-io.ts';
import { spinlock } from './spinlock.ts';
import { overcommit } from './overcommit.ts';
import { deferredWorkGuest } from './deferred-work.ts';
import { simLoopGuest } from './sim-loop.ts';
import { hrtimerRearm } from './hrtimer-rearm.ts';
import type { Scenario, Workload } from '../../scenarios/schema.ts';

/** The built-in workloads: what each shows and where it comes from, one line each for `haltlab list`. */
export const WORKLOADS = {
  'timer-latency': {
    summary: 'TSC-deadline timer re-armed every delta, HLT in between; lateness = handler entry - deadline',
    source: 'kvm-unit-tests x86/tscdeadline_latency.c; halt-polling RFC (seeds/002)',
  },
  'irq-wake': {
    summary: 'a device on an I/O thread raises one interrupt at a time, a random gap after the last EOI; the guest idles in HLT: pure wake latency',
    source: 'irqfd (with resamplefd) + kvm_vcpu_kick; the wakeup the halt-polling RFC (seeds/002) shortens',
  },
  'deferred-work': {
    summary: 'the VMM’s deferred work: a main loop queues work items, workqueue threads woken by queue depth run them; with the userspace-exit proposal idle vCPUs take them on HLT/MWAIT exits',
    source: 'Woodhouse, "Allow userspace exit on HLT and MWAIT, else yield on MWAIT" (seeds/000)',
  },
  'sim-loop': {
    summary: 'a single-threaded simulator loop (vcpu-run | devices | vcpu-run) on an idling guest: simulated time per wall second, with the exit-on-WFI request, a watchdog only, or plain KVM',
    source: 'Weinstock, "KVM exit to userspace on WFI" (seeds/001); MachineWare VCML, gem5 KVM CPU (reference §7)',
  },
  'idle-tick': {
    summary: 'idle guests woken only by their timer tick (10 ms, Windows-like; --set tick_ns=400000000 for a Linux NO_HZ guest): what polling costs an idle vCPU',
    source: 'the halt-polling RFC’s idle-cost claim, 1.5-2.5% of a core per idle vCPU (seeds/002); dynamic halt-polling’s idle figures (reference §6)',
  },
  'dsync-io': {
    summary: 'one synchronous 4 KiB write outstanding per vCPU: virtio-blk, an I/O thread, O_DSYNC writes to a temp file on a thread pool; requests/s',
    source: 'the halt-polling RFC’s dd oflag=dsync benchmark (seeds/002); QEMU virtio-blk + IOThread + thread pool',
  },
  spinlock: {
    summary: '4 vCPUs on 2 pCPUs contend for one guest spinlock (CMPXCHG, spin with PAUSE); preempted holders make waiters spin: PLE exits + directed yield; acquisitions/s',
    source: 'lock-holder preemption; PAUSE-loop exiting and kvm_vcpu_on_spin (arch/x86/kvm/vmx/vmx.c, virt/kvm/kvm_main.c)',
  },
  mixed: {
    summary: 'both at once: every vCPU re-arms its own deadline timer, and a device interrupts them in turn (the stress test’s guest)',
    source: 'timer-latency + irq-wake',
  },
  overcommit: {
    summary: 'arm64, 3 vCPUs on 2 pCPUs, each busy 200 µs then waiting 1 ms for its tick: WFx trapping vs wake latency, PELT utilisation error, deep idle',
    source: 'WFx trapping by runqueue depth and its review (seeds/003, 2024); kvm_vcpu_should_clear_twi/twe (reference §3.2)',
  },
  'hrtimer-rearm': {
    summary: 'a guest hrtimer pushed later on every event of a fast loop, then left to fire: many TSC-deadline rewrites per expiry (try --set lazy_tscdeadline=true)',
    source: 'lazy tscdeadline PV RFC, Wang Jianchao, July 2023 (seeds/004): guest clockevent set_next_event',
  },
} as const satisfies Record<Workload['kind'], { summary: string; source: string }>;

/** The guest program a scenario's vCPUs run: its workload, on its guest kernel's idle loop. */
export function guestProgram({ workload: w, guest: g, host }: Pick<Scenario, 'workload' | 'guest' | 'host'>): GuestProgram {
  // The guest kernel sees the PV features the host advertises in CPUID, and is built for the host's architecture.
  const guest = { ...g, arch: host.arch, pv_lazy_tscdeadline: host.proposals.lazy_tscdeadline };
  switch (w.kind) {
    case 'timer-latency':
      return timerLatency({ delta_ns: w.delta_ns, kernel: guest });
    case 'irq-wake':
      return irqWake({ kernel: guest });
    case 'mixed':
      return mixed({ delta_ns: w.delta_ns, kernel: guest });
    case 'deferred-work':
      return deferredWorkGuest({ busy_ns: w.busy_ns, idle_ns: w.idle_ns, kernel: guest });
    case 'sim-loop':
      return simLoopGuest({ work_ns: w.work_ns, tick_ns: w.tick_ns, periodic: w.mode === 'kernel', kernel: guest });
    case 'idle-tick':
      // The guest's tick is the TSC-deadline timer re-armed one period ahead, as timer-latency does.
      return timerLatency({ delta_ns: w.tick_ns, kernel: guest });
    case 'dsync-io':
      return dsyncIo({ kernel: guest });
    case 'spinlock':
      return spinlock({ hold_ns: w.hold_ns, think_ns: w.think_ns });
    case 'overcommit':
      return overcommit({ delta_ns: w.delta_ns, busy_ns: w.busy_ns, wait: w.wait, kernel: guest });
    case 'hrtimer-rearm':
      return hrtimerRearm({ event_ns: w.event_ns, timeout_ns: w.timeout_ns, rearms: w.rearms, kernel: guest });
  }
}
