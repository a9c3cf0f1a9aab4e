import { z } from 'zod';
import { timerLatency } from '../../guest/workloads/timer-latency.ts';
import { defineWorkload } from '../module.ts';

export default defineWorkload({
  schema: z.strictObject({
    kind: z.literal('timer-latency'),
    delta_ns: z.int().min(1_000).max(1_000_000_000).default(100_000).describe('kvm-unit-tests’ delta: the guest re-arms its TSC-deadline timer this far ahead, ns (guest TSC = ns)'),
  }),
  summary: 'TSC-deadline timer re-armed every delta, HLT in between; lateness = handler entry - deadline',
  source: 'kvm-unit-tests x86/tscdeadline_latency.c; halt-polling RFC (seeds/002)',
  program: (w, kernel) => timerLatency({ delta_ns: w.delta_ns, kernel }),
});
