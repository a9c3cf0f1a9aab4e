import { z } from 'zod';
import { ScenarioError } from './error.ts';
import { MAX_PCPUS, MAX_VCPUS } from './bounds.ts';
import { AIO_POLL_DEFAULTS } from '../host/vmm/aio-poll.ts';
import { HALTPOLL_DEFAULTS } from '../guest/kernel/haltpoll.ts';
import { DEFAULT_KERNEL, KERNEL_PRESETS, KVM_PARAMS, type KvmParamName } from '../host/kvm/params.ts';
import { KVM_INTEL_PLE_PARAMS, type PleParamName } from '../host/kvm/ple.ts';

/**
 * A scenario: the host (pCPUs, kvm params, capabilities), the VM (vCPUs) and
 * the workload its guest runs. Validated in one place; an error names the
 * field, the value and what was expected. Unknown keys are errors.
 */

const nonNegInt = z.int().min(0);
/** KVM keeps these in `unsigned int` module parameters and fields. */
const UINT_MAX = 4_294_967_295;
const uint = nonNegInt.max(UINT_MAX);
const kvmParamsShape = Object.fromEntries(KVM_PARAMS.map((p) => [p.name, uint.optional().describe(p.doc)])) as Record<
  KvmParamName,
  z.ZodOptional<z.ZodInt>
>;

const kvmIntelShape = Object.fromEntries(KVM_INTEL_PLE_PARAMS.map((p) => [p.name, uint.default(p.default).describe(p.doc)])) as Record<
  PleParamName,
  z.ZodDefault<z.ZodInt>
>;

export const WorkloadSchema = z.discriminatedUnion('kind', [
  z.strictObject({
    kind: z.literal('timer-latency'),
    /** kvm-unit-tests' delta: the timer is re-armed this far ahead (guest TSC = ns). */
    delta_ns: z.int().min(1_000).max(1_000_000_000).default(100_000),
  }),
  z.strictObject({
    kind: z.literal('irq-wake'),
    /** Mean gap between device interrupts (a VMM I/O thread raises them round-robin over the vCPUs). */
    gap_ns: z.int().min(1_000).max(1_000_000_000).default(200_000),
    /** Each gap is uniform in gap_ns * (1 ± jitter). */
    jitter: z.number().min(0).max(1).default(0.5),
    seed: z.int().default(1),
  }),
  z.strictObject({
    kind: z.literal('mixed'),
    /** Every vCPU re-arms its own TSC-deadline timer this far ahead, as timer-latency does. */
    delta_ns: z.int().min(1_000).max(1_000_000_000).default(1_000_000),
    /** And an I/O thread raises device interrupts round-robin, one in flight, this gap after each EOI. */
    gap_ns: z.int().min(1_000).max(1_000_000_000).default(100_000),
    jitter: z.number().min(0).max(1).default(0.5),
    seed: z.int().default(1),
  }),
  z.strictObject({
    kind: z.literal('dsync-io'),
    /** `file`: O_DSYNC writes to a temporary file (real disk latency); `synthetic`: a device with a fixed service time. */
    backend: z.enum(['file', 'synthetic']).default('file'),
    /** Bytes per write (dd's bs). */
    block_size: z.int().min(512).max(1024 * 1024).default(4096),
    /** The synthetic device's service time per request. */
    synthetic_latency_ns: z.int().min(1_000).max(100_000_000).default(50_000),
  }),
  z.strictObject({
    kind: z.literal('spinlock'),
    /** Work inside the critical section (guest compute), ns. */
    hold_ns: z.int().min(0).max(100_000_000).default(5_000),
    /** Work outside it between two acquisitions, ns. */
    think_ns: z.int().min(0).max(100_000_000).default(5_000),
  }),
]);

/** Workloads whose VM has a device raising interrupts from an I/O thread (no requests from the guest). */
export const hasDevice = (w: Workload): w is Extract<Workload, { gap_ns: number }> => w.kind === 'irq-wake' || w.kind === 'mixed';
/** Workloads whose VM has a virtio-blk device on an I/O thread. */
export const hasBlockDevice = (w: Workload): w is Extract<Workload, { kind: 'dsync-io' }> => w.kind === 'dsync-io';
/** The VMM's I/O threads a scenario needs. */
export const iothreadsOf = (w: Workload): number => (hasDevice(w) || hasBlockDevice(w) ? 1 : 0);
export type Workload = z.infer<typeof WorkloadSchema>;

export { MAX_VCPUS, MAX_PCPUS };

export const ScenarioSchema = z.strictObject({
  name: z.string().min(1).default('custom'),
  duration_s: z.number().positive().max(3600).default(5),
  host: z
    .strictObject({
      pcpus: z.int().min(1).max(MAX_PCPUS).default(2),
      kernel: z.enum(Object.keys(KERNEL_PRESETS) as [keyof typeof KERNEL_PRESETS, ...(keyof typeof KERNEL_PRESETS)[]]).default(DEFAULT_KERNEL),
      kvm: z.strictObject(kvmParamsShape).prefault({}),
      /** kvm_intel module parameters: PAUSE-loop exiting (reference §2.5); ple_gap=0 turns it off. */
      kvm_intel: z.strictObject(kvmIntelShape).prefault({}),
      /** KVM_ENABLE_CAP(KVM_CAP_HALT_POLL, args[0]); null: not enabled, the global halt_poll_ns applies. */
      kvm_cap_halt_poll: uint.nullable().default(null),
      sched_slice_ns: z.int().min(100_000).default(3_000_000),
    })
    .prefault({}),
  vm: z.strictObject({ vcpus: z.int().min(1).max(MAX_VCPUS).default(2) }).prefault({}),
  /** The guest kernel: its idle loop (`halt`: default_idle; `poll`: idle=poll; `haltpoll`: cpuidle-haltpoll). */
  guest: z
    .strictObject({
      idle: z.enum(['halt', 'poll', 'haltpoll']).default('halt'),
      /** /sys/module/haltpoll/parameters (reference §4.2), used when idle is haltpoll. */
      haltpoll: z
        .strictObject({
          guest_halt_poll_ns: z.int().min(0).max(1_000_000_000).default(HALTPOLL_DEFAULTS.guest_halt_poll_ns),
          guest_halt_poll_grow: z.int().min(0).max(1000).default(HALTPOLL_DEFAULTS.guest_halt_poll_grow),
          guest_halt_poll_grow_start: z.int().min(0).max(1_000_000_000).default(HALTPOLL_DEFAULTS.guest_halt_poll_grow_start),
          guest_halt_poll_shrink: z.int().min(0).max(1000).default(HALTPOLL_DEFAULTS.guest_halt_poll_shrink),
          guest_halt_poll_allow_shrink: z.boolean().default(HALTPOLL_DEFAULTS.guest_halt_poll_allow_shrink),
        })
        .prefault({}),
    })
    .prefault({}),
  /** The userspace VMM. */
  vmm: z
    .strictObject({
      /** `-object iothread` properties (QEMU, reference §5.1): the I/O thread's adaptive polling. */
      iothread: z
        .strictObject({
          poll_max_ns: z.int().min(0).max(UINT_MAX).default(AIO_POLL_DEFAULTS.poll_max_ns),
          poll_grow: z.int().min(0).max(1000).default(AIO_POLL_DEFAULTS.poll_grow),
          poll_shrink: z.int().min(0).max(1000).default(AIO_POLL_DEFAULTS.poll_shrink),
        })
        .prefault({}),
    })
    .prefault({}),
  workload: WorkloadSchema.prefault({ kind: 'timer-latency' }),
});
export type Scenario = z.infer<typeof ScenarioSchema>;
export type ScenarioInput = z.input<typeof ScenarioSchema>;

export { ScenarioError };

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let v: unknown = input;
  for (const k of path) v = v && typeof v === 'object' ? (v as Record<PropertyKey, unknown>)[k] : undefined;
  return v;
}

/** Parse and validate; throws ScenarioError naming each bad field, its value and what was expected. */
export function parseScenario(input: unknown, source = ''): Scenario {
  const r = ScenarioSchema.safeParse(input);
  if (r.success) return r.data;
  const issues = r.error.issues.map((i) => {
    const field = i.path.length ? i.path.join('.') : '(top level)';
    const got = i.code === 'unrecognized_keys' ? '' : `, got ${JSON.stringify(valueAt(input, i.path)) ?? 'nothing'}`;
    return `${field}: ${i.message}${got}`;
  });
  throw new ScenarioError(issues, source);
}
