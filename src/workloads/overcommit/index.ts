import { z } from 'zod';
import { overcommit } from '../../guest/workloads/overcommit.ts';
import { defineWorkload } from '../module.ts';

export default defineWorkload({
  schema: z.strictObject({
    kind: z.literal('overcommit'),
    delta_ns: z.int().min(10_000).max(1_000_000_000).default(1_000_000).describe('the guest’s tick: re-armed this far ahead when the last one is handled, ns'),
    busy_ns: z.int().min(0).max(1_000_000_000).default(200_000).describe('guest work after each tick, ns'),
    wait: z.enum(['idle', 'wfe']).default('idle').describe('`idle`: wait in the idle loop (WFI on arm64); `wfe`: a spin-wait paused by WFE (arm64 only)'),
  }),
  summary: 'arm64, 3 vCPUs on 2 pCPUs, each busy 200 µs then waiting 1 ms for its tick: WFx trapping vs wake latency, PELT utilisation error, deep idle',
  source: 'WFx trapping by runqueue depth and its review (seeds/003, 2024); kvm_vcpu_should_clear_twi/twe (reference §3.2)',
  // More vCPU threads than pCPUs on an arm64 host with idle states, so that trapping matters.
  builtin: { host: { arch: 'arm64', pcpus: 2, cpuidle: { enabled: true } }, vm: { vcpus: 3 } },
  program: (w, kernel) => overcommit({ delta_ns: w.delta_ns, busy_ns: w.busy_ns, wait: w.wait, kernel }),
});
