import type { GuestProgram } from '../isa.ts';
import { timerLatency } from './timer-latency.ts';
import { irqWake } from './irq-wake.ts';
import { mixed } from './mixed.ts';
import { dsyncIo } from './dsync-io.ts';
import { spinlock } from './spinlock.ts';
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
} as const satisfies Record<Workload['kind'], { summary: string; source: string }>;

/** The guest program a scenario's vCPUs run: its workload, on its guest kernel's idle loop. */
export function guestProgram({ workload: w, guest }: Pick<Scenario, 'workload' | 'guest'>): GuestProgram {
  switch (w.kind) {
    case 'timer-latency':
      return timerLatency({ delta_ns: w.delta_ns, kernel: guest });
    case 'irq-wake':
      return irqWake({ kernel: guest });
    case 'mixed':
      return mixed({ delta_ns: w.delta_ns, kernel: guest });
    case 'dsync-io':
      return dsyncIo({ kernel: guest });
    case 'spinlock':
      return spinlock({ hold_ns: w.hold_ns, think_ns: w.think_ns });
  }
}
