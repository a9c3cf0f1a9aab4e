import { z } from 'zod';
import { ScenarioError } from './error.ts';
import { MAX_PCPUS, MAX_VCPUS } from './bounds.ts';
import { AIO_POLL_DEFAULTS } from '../host/vmm/aio-poll.ts';
import { HALTPOLL_DEFAULTS } from '../guest/kernel/haltpoll.ts';
import { DEFAULT_KERNEL, KERNEL_PRESETS, KVM_PARAMS, type KvmParamName } from '../host/kvm/params.ts';
import { KVM_INTEL_PLE_PARAMS, type PleParamName } from '../host/kvm/ple.ts';
import { WFX_TRAP_POLICIES } from '../host/kvm/wfx-trap.ts';
import { CPUIDLE_DEFAULTS } from '../host/sched/idle-states.ts';
import { WORKLOAD_SCHEMAS } from '../workloads/index.ts';

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

/** The workload: one of the registered workloads' schemas (src/workloads/), told apart by `kind`. */
export const WorkloadSchema = z.discriminatedUnion('kind', WORKLOAD_SCHEMAS);
export type Workload = z.infer<typeof WorkloadSchema>;

export { MAX_VCPUS, MAX_PCPUS };

/** The guest kernel's idle loops: default_idle's HLT, idle=poll, cpuidle-haltpoll, intel_idle's MONITOR/MWAIT. */
export const GUEST_IDLE_MODES = ['halt', 'poll', 'haltpoll', 'mwait'] as const;

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
      /** Busy time each VM exit + re-entry costs beyond the model's own code (real hardware: roughly 1 µs). */
      exit_cost_ns: z.int().min(0).max(100_000).default(0),
      /** Posted interrupts into a running vCPU (kvm_intel enable_apicv / kvm_amd avic); off like kvm_amd's avic default. */
      apicv: z.boolean().default(false),
      /** kvm.lapic_timer_advance (x86, 0444, default on): the deadline timer fires early by an adaptive advance, then waits to the deadline. */
      lapic_timer_advance: z.boolean().default(true),
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
          /** PROPOSAL (2023, not merged): KVM_CAP_EXIT_ON_WFX: WFx forced to trap, a WFI that would block returns KVM_EXIT_WFX to the VMM. */
          exit_on_wfx: z.boolean().default(false),
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
      /** `kernel`: KVM_CREATE_IRQCHIP, the LAPIC in KVM (the default); `userspace`: none, HLT exits to the VMM. */
      irqchip: z.enum(['kernel', 'userspace']).default('kernel'),
      /** KVM_ENABLE_CAP(KVM_CAP_X86_DISABLE_EXITS): these instructions run in guest mode, no exit. */
      kvm_cap_x86_disable_exits: z
        .strictObject({
          hlt: z.boolean().default(false),
          mwait: z.boolean().default(false),
          /** KVM_X86_DISABLE_EXITS_PAUSE: no PAUSE-loop exiting for the VM (kvm_pause_in_guest). */
          pause: z.boolean().default(false),
        })
        .prefault({}),
      /** Unmerged proposals from the list, each opt-in; mainline KVM has none of them. */
      proposals: z
        .strictObject({
          /** x86 PV lazy tscdeadline (RFC, Wang Jianchao, July 2023): KVM_FEATURE_LAZY_TSCDEADLINE in the guest's CPUID. */
          lazy_tscdeadline: z.boolean().default(false),
          /** The 2023 RFC "KVM: x86: Allow userspace exit on HLT and MWAIT, else yield on MWAIT". */
          userspace_exit: z
            .strictObject({
              hlt: z.boolean().default(false),
              mwait: z.boolean().default(false),
              mwait_yield: z.boolean().default(false),
            })
            .prefault({}),
        })
        .prefault({}),
    })
    .prefault({}),
  vm: z.strictObject({ vcpus: z.int().min(1).max(MAX_VCPUS).default(2) }).prefault({}),
  /** The guest kernel: its idle loop (`halt`: default_idle; `poll`: idle=poll; `haltpoll`: cpuidle-haltpoll; `mwait`: intel_idle's MONITOR/MWAIT). */
  guest: z
    .strictObject({
      idle: z.enum(GUEST_IDLE_MODES).default('halt'),
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
    if (arm.exit_on_wfx) set.push('exit_on_wfx');
    for (const k of set) ctx.addIssue({ code: 'custom', path: ['host', 'arm64', k], message: 'an arm64 setting: needs host.arch arm64' });
    if (s.workload.kind === 'overcommit' && s.workload.wait === 'wfe') ctx.addIssue({ code: 'custom', path: ['workload', 'wait'], message: 'WFE is an arm64 instruction: needs host.arch arm64' });
  } else {
    if (s.guest.idle === 'haltpoll') ctx.addIssue({ code: 'custom', path: ['guest', 'idle'], message: 'cpuidle-haltpoll is x86 only (MSR_KVM_POLL_CONTROL): not with host.arch arm64' });
    if (s.guest.idle === 'mwait') ctx.addIssue({ code: 'custom', path: ['guest', 'idle'], message: 'MONITOR/MWAIT are x86 instructions: not with host.arch arm64' });
    const x86: [string[], boolean, string][] = [
      [['host', 'irqchip'], s.host.irqchip !== 'kernel', 'a userspace irqchip (KVM_EXIT_HLT) is modelled for x86 only'],
      [['host', 'kvm_cap_x86_disable_exits', 'hlt'], s.host.kvm_cap_x86_disable_exits.hlt, 'KVM_CAP_X86_DISABLE_EXITS is x86 only (arm64 leaves WFI untrapped by host.arm64.wfi_trap_policy)'],
      [['host', 'kvm_cap_x86_disable_exits', 'mwait'], s.host.kvm_cap_x86_disable_exits.mwait, 'KVM_CAP_X86_DISABLE_EXITS is x86 only'],
      [['host', 'kvm_cap_x86_disable_exits', 'pause'], s.host.kvm_cap_x86_disable_exits.pause, 'KVM_CAP_X86_DISABLE_EXITS is x86 only (arm64 has no PAUSE-loop exiting)'],
      ...KVM_INTEL_PLE_PARAMS.map((p): [string[], boolean, string] => [['host', 'kvm_intel', p.name], s.host.kvm_intel[p.name] !== p.default, 'a kvm_intel parameter (PAUSE-loop exiting is VMX only)']),
      [['host', 'proposals', 'lazy_tscdeadline'], s.host.proposals.lazy_tscdeadline, 'the lazy tscdeadline proposal is x86 PV only'],
      [['host', 'proposals', 'userspace_exit', 'hlt'], s.host.proposals.userspace_exit.hlt, 'the userspace-exit proposal is x86 only'],
      [['host', 'proposals', 'userspace_exit', 'mwait'], s.host.proposals.userspace_exit.mwait, 'the userspace-exit proposal is x86 only'],
      [['host', 'proposals', 'userspace_exit', 'mwait_yield'], s.host.proposals.userspace_exit.mwait_yield, 'the userspace-exit proposal is x86 only'],
    ];
    for (const [path, on, why] of x86) if (on) ctx.addIssue({ code: 'custom', path, message: `${why}: not with host.arch arm64` });
    if (s.workload.kind === 'spinlock') ctx.addIssue({ code: 'custom', path: ['workload', 'kind'], message: 'spinlock spins with PAUSE and counts on PAUSE-loop exiting (x86 VMX); an arm64 guest would spin with WFE, not modelled: not with host.arch arm64' });
    if (s.workload.kind === 'hrtimer-rearm') ctx.addIssue({ code: 'custom', path: ['workload', 'kind'], message: 'hrtimer-rearm waits with sti; hlt and writes MSR_IA32_TSC_DEADLINE through its x86 clockevent: not with host.arch arm64' });
  }
  if (s.workload.kind === 'hrtimer-rearm' && s.guest.idle !== 'halt') {
    ctx.addIssue({
      code: 'custom',
      path: ['guest', 'idle'],
      message: 'hrtimer-rearm waits for its timer with sti; hlt and then goes on with its loop; only idle halt is modelled for it',
    });
  }
  if (s.guest.idle === 'haltpoll' && s.host.kvm_cap_x86_disable_exits.hlt) {
    ctx.addIssue({ code: 'custom', path: ['guest', 'idle'], message: 'cpuidle-haltpoll with HLT exits disabled (host.kvm_cap_x86_disable_exits.hlt) is not modelled' });
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
