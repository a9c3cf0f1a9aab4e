import { z } from 'zod';
import { irqWake } from '../../guest/workloads/irq-wake.ts';
import { irqDevice } from '../irq-device.ts';
import { defineWorkload } from '../module.ts';

export default defineWorkload({
  schema: z.strictObject({
    kind: z.literal('irq-wake'),
    gap_ns: z.int().min(1_000).max(1_000_000_000).default(200_000).describe('mean gap between device interrupts, ns: an I/O thread raises them round-robin over the vCPUs, one in flight, this gap after each EOI'),
    jitter: z.number().min(0).max(1).default(0.5).describe('each gap is uniform in gap_ns * (1 ± jitter)'),
    seed: z.int().default(1).describe('seed of the gaps’ random generator'),
  }),
  summary: 'a device on an I/O thread raises one interrupt at a time, a random gap after the last EOI; the guest idles in HLT: pure wake latency',
  source: 'irqfd (with resamplefd) + kvm_vcpu_kick; the wakeup the halt-polling RFC (seeds/002) shortens',
  program: (_w, kernel) => irqWake({ kernel }),
  ...irqDevice,
});
