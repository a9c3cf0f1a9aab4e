import { z } from 'zod';
import { timerLatency } from '../../guest/workloads/timer-latency.ts';
import { defineWorkload } from '../module.ts';

export default defineWorkload({
  schema: z.strictObject({
    kind: z.literal('idle-tick'),
    // seeds/002: "Windows VMs, which have a ~10 ms timer tick"; "a Linux 4 VCPU VM halts around 10 times per second".
    tick_ns: z.int().min(100_000).max(10_000_000_000).default(10_000_000).describe('an idle guest’s timer interrupt period, each vCPU on its own, ns: 10 ms is a Windows-like periodic tick, 400 ms a Linux NO_HZ idle guest'),
  }),
  summary: 'idle guests woken only by their timer tick (10 ms, Windows-like; --set tick_ns=400000000 for a Linux NO_HZ guest): what polling costs an idle vCPU',
  source: 'the halt-polling RFC’s idle-cost claim, 1.5-2.5% of a core per idle vCPU (seeds/002); dynamic halt-polling’s idle figures (reference §6)',
  // The guest's tick is the TSC-deadline timer re-armed one period ahead, as timer-latency does.
  program: (w, kernel) => timerLatency({ delta_ns: w.tick_ns, kernel }),
});
