import { z } from 'zod';
import { mergeLatency, summarize } from '../../actors/histogram.ts';
import { spinlock, SPINLOCK_RAM } from '../../guest/workloads/spinlock.ts';
import { guestMemory } from '../../host/layout.ts';
import { defineWorkload } from '../module.ts';

export default defineWorkload({
  schema: z.strictObject({
    kind: z.literal('spinlock'),
    hold_ns: z.int().min(0).max(100_000_000).default(5_000).describe('work inside the critical section (guest compute), ns'),
    think_ns: z.int().min(0).max(100_000_000).default(5_000).describe('work outside it between two acquisitions, ns'),
  }),
  summary: '4 vCPUs on 2 pCPUs contend for one guest spinlock (CMPXCHG, spin with PAUSE); preempted holders make waiters spin: PLE exits + directed yield; acquisitions/s',
  source: 'lock-holder preemption; PAUSE-loop exiting and kvm_vcpu_on_spin (arch/x86/kvm/vmx/vmx.c, virt/kvm/kvm_main.c)',
  // Lock-holder preemption needs more runnable vCPUs than pCPUs.
  builtin: { vm: { vcpus: 4 } },
  program: (w) => spinlock({ hold_ns: w.hold_ns, think_ns: w.think_ns }),
  // The guest's own books, read from guest RAM after the run.
  result: (_w, { mem, wallS, vcpuSnaps }) => {
    const ram = guestMemory(mem);
    const acquired = ram.load(SPINLOCK_RAM.ACQUIRED);
    return {
      spinlock: {
        acquisitions: acquired,
        releases: ram.load(SPINLOCK_RAM.RELEASED),
        acquisitions_per_s: wallS > 0 ? acquired / wallS : 0,
        mutual_exclusion_violations: ram.load(SPINLOCK_RAM.VIOLATIONS),
        spin_time_ns: summarize(mergeLatency(vcpuSnaps.map((s) => s.spin_time))),
      },
    };
  },
});
