import { z } from 'zod';
import { mixed } from '../../guest/workloads/mixed.ts';
import { irqDevice } from '../irq-device.ts';
import { defineWorkload } from '../module.ts';

export default defineWorkload({
  schema: z.strictObject({
    kind: z.literal('mixed'),
    delta_ns: z.int().min(1_000).max(1_000_000_000).default(1_000_000).describe('every vCPU re-arms its own TSC-deadline timer this far ahead, ns, as timer-latency does'),
    gap_ns: z.int().min(1_000).max(1_000_000_000).default(100_000).describe('and an I/O thread raises device interrupts round-robin, one in flight, this gap after each EOI, ns'),
    jitter: z.number().min(0).max(1).default(0.5).describe('each gap is uniform in gap_ns * (1 ± jitter)'),
    seed: z.int().default(1).describe('seed of the gaps’ random generator'),
  }),
  summary: 'both at once: every vCPU re-arms its own deadline timer, and a device interrupts them in turn (the stress test’s guest)',
  source: 'timer-latency + irq-wake',
  program: (w, kernel) => mixed({ delta_ns: w.delta_ns, kernel }),
  ...irqDevice,
});
