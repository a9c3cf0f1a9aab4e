import { z } from 'zod';
import { ScenarioError } from './error.ts';
import { MAX_PCPUS, MAX_VCPUS } from './bounds.ts';
import { AIO_POLL_DEFAULTS } from '../host/vmm/aio-poll.ts';
import { HALTPOLL_DEFAULTS } from '../guest/kernel/haltpoll.ts';
import { DEFAULT_KERNEL, KERNEL_PRESETS, KVM_PARAMS, type KvmParamName } from '../host/kvm/params.ts';
import { WFX_TRAP_POLICIES } from '../host/kvm/wfx-trap.ts';
import { CPUIDLE_DEFAULTS } from '../host/sched/idle-states.ts';

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
    kind: z.literal('overcommit'),
    /** The tick: re-armed this far ahead when the last one is handled. */
    delta_ns: z.int().min(10_000).max(1_000_000_000).default(1_000_000),
    /** Guest work after each tick. */
    busy_ns: z.int().min(0).max(1_000_000_000).default(200_000),
    /** `idle`: wait in the idle loop (WFI on arm64); `wfe`: a spin-wait paused by WFE (arm64 only). */
    wait: z.enum(['idle', 'wfe']).default('idle'),
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
      /** KVM_ENABLE_CAP(KVM_CAP_HALT_POLL, args[0]); null: not enabled, the global halt_poll_ns applies. */
      kvm_cap_halt_poll: uint.nullable().default(null),
      sched_slice_ns: z.int().min(100_000).default(3_000_000),
      /** Which KVM: x86 (HLT, VMX exits) or arm64 (WFI/WFE, exits by exception class). */
      arch: z.enum(['x86', 'arm64']).default('x86'),
      /** arm64 only: what decides whether WFI/WFE trap (reference §3.2). */
      arm64: z
        .strictObject({
          /** kvm-arm.wfi_trap_policy / wfe_trap_policy; `default`: the parameter is absent (single-task rule). */
          wfi_trap_policy: z.enum(WFX_TRAP_POLICIES).default('default'),
          wfe_trap_policy: z.enum(WFX_TRAP_POLICIES).default('default'),
          /** The VM's vCPUs use GICv4 direct injection (vLPI/vSGI): the default rule may then untrap WFI. */
          direct_injection: z.boolean().default(false),
          /** PROPOSAL (2024, not merged): trap WFx iff nr_running > this; null: mainline. */
          wfx_rq_threshold: z.int().min(0).max(1024).nullable().default(null),
        })
        .prefault({}),
      /** pCPU idle states (a shallow and a deep one) and their exit latencies. */
      cpuidle: z
        .strictObject({
          enabled: z.boolean().default(CPUIDLE_DEFAULTS.enabled),
          shallow_exit_latency_ns: z.int().min(0).max(100_000_000).default(CPUIDLE_DEFAULTS.shallow_exit_latency_ns),
          deep_exit_latency_ns: z.int().min(0).max(100_000_000).default(CPUIDLE_DEFAULTS.deep_exit_latency_ns),
          deep_residency_ns: z.int().min(0).max(1_000_000_000).default(CPUIDLE_DEFAULTS.deep_residency_ns),
        })
        .prefault({}),
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
}).superRefine((s, ctx) => {
  // Settings that would do nothing on the chosen architecture are errors, not silent no-ops.
  const arm = s.host.arm64;
  if (s.host.arch !== 'arm64') {
    const set: string[] = (['wfi_trap_policy', 'wfe_trap_policy'] as const).filter((k) => arm[k] !== 'default');
    if (arm.direct_injection) set.push('direct_injection');
    if (arm.wfx_rq_threshold !== null) set.push('wfx_rq_threshold');
    for (const k of set) ctx.addIssue({ code: 'custom', path: ['host', 'arm64', k], message: 'an arm64 setting: needs host.arch arm64' });
    if (s.workload.kind === 'overcommit' && s.workload.wait === 'wfe') ctx.addIssue({ code: 'custom', path: ['workload', 'wait'], message: 'WFE is an arm64 instruction: needs host.arch arm64' });
  } else if (s.guest.idle === 'haltpoll') {
    ctx.addIssue({ code: 'custom', path: ['guest', 'idle'], message: 'cpuidle-haltpoll is x86 only (MSR_KVM_POLL_CONTROL): not with host.arch arm64' });
  }
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
