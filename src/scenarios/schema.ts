import { z } from 'zod';
import { ScenarioError } from './error.ts';
import { MAX_PCPUS, MAX_VCPUS } from './bounds.ts';
import { AIO_POLL_PARAMS } from '../host/vmm/aio-poll.ts';
import { HALTPOLL_PARAMS } from '../guest/kernel/haltpoll.ts';
import { UINT_MAX, type BoolParam, type ModuleParam } from '../params/module-param.ts';
import { DEFAULT_KERNEL, KERNEL_PRESETS, KVM_PARAMS, type KvmParamName } from '../host/kvm/params.ts';
import { KVM_INTEL_PLE_PARAMS, type PleParamName } from '../host/kvm/ple.ts';
import { WFX_TRAP_POLICIES } from '../host/kvm/wfx-trap.ts';
import { CPUIDLE_PARAMS } from '../host/sched/idle-states.ts';
import { WORKLOAD_SCHEMAS } from '../workloads/index.ts';

/**
 * A scenario: the host (pCPUs, kvm params, capabilities), the VM (vCPUs) and
 * the workload its guest runs. Validated in one place; an error names the
 * field, the value and what was expected. Unknown keys are errors.
 */

const nonNegInt = z.int().min(0);
const uint = nonNegInt.max(UINT_MAX);
const kvmParamsShape = Object.fromEntries(KVM_PARAMS.map((p) => [p.name, uint.optional().describe(p.doc)])) as Record<
  KvmParamName,
  z.ZodOptional<z.ZodInt>
>;

/** A module's parameters as schema fields: its default, its bounds, its doc as the description (the table is the one declaration). */
function paramShape<const T extends readonly ModuleParam[]>(table: T) {
  return Object.fromEntries(
    table.map((p) => [p.name, p.unit === 'bool' ? z.boolean().default(p.default).describe(p.doc) : nonNegInt.max(p.max ?? UINT_MAX).default(p.default).describe(p.doc)]),
  ) as { [P in T[number] as P['name']]: P extends BoolParam ? z.ZodDefault<z.ZodBoolean> : z.ZodDefault<z.ZodInt> };
}

const kvmIntelShape: Record<PleParamName, z.ZodDefault<z.ZodInt>> = paramShape(KVM_INTEL_PLE_PARAMS);

/** The workload: one of the registered workloads' schemas (src/workloads/), told apart by `kind`. */
export const WorkloadSchema = z.discriminatedUnion('kind', WORKLOAD_SCHEMAS);
export type Workload = z.infer<typeof WorkloadSchema>;

export { MAX_VCPUS, MAX_PCPUS };

/** The guest kernel's idle loops: default_idle's HLT, idle=poll, cpuidle-haltpoll, intel_idle's MONITOR/MWAIT. */
export const GUEST_IDLE_MODES = ['halt', 'poll', 'haltpoll', 'mwait'] as const;

export const ScenarioSchema = z.strictObject({
  name: z.string().min(1).default('custom').describe('the scenario’s name, in results and reports'),
  duration_s: z.number().positive().max(3600).default(5).describe('how long the VM runs, s'),
  host: z
    .strictObject({
      pcpus: z.int().min(1).max(MAX_PCPUS).default(2).describe('host pCPUs the vCPU threads are scheduled on (more vCPUs than pCPUs really queue)'),
      kernel: z.enum(Object.keys(KERNEL_PRESETS) as [keyof typeof KERNEL_PRESETS, ...(keyof typeof KERNEL_PRESETS)[]]).default(DEFAULT_KERNEL).describe('the host kernel whose KVM defaults and halt-polling rules apply (6.11: shrink by 2; older: other defaults; 4.0: a fixed window)'),
      kvm: z.strictObject(kvmParamsShape).prefault({}),
      /** kvm_intel module parameters: PAUSE-loop exiting (reference §2.5); ple_gap=0 turns it off. */
      kvm_intel: z.strictObject(kvmIntelShape).prefault({}),
      kvm_cap_halt_poll: uint.nullable().default(null).describe('KVM_ENABLE_CAP(KVM_CAP_HALT_POLL, args[0]); null: not enabled, the global halt_poll_ns applies.'),
      sched_slice_ns: z.int().min(100_000).default(3_000_000).describe('the host scheduler’s timeslice: a task that ran this long while others wait is preempted at the tick, ns'),
      exit_cost_ns: z.int().min(0).max(100_000).default(0).describe('Busy time each VM exit + re-entry costs beyond the model’s own code (real hardware: roughly 1 µs).'),
      apicv: z.boolean().default(false).describe('Posted interrupts into a running vCPU (kvm_intel enable_apicv / kvm_amd avic); off like kvm_amd’s avic default.'),
      lapic_timer_advance: z.boolean().default(true).describe('kvm.lapic_timer_advance (x86, 0444, default on): the deadline timer fires early by an adaptive advance, then waits to the deadline.'),
      arch: z.enum(['x86', 'arm64']).default('x86').describe('Which KVM: x86 (HLT, VMX exits) or arm64 (WFI/WFE, exits by exception class).'),
      /** arm64 only: what decides whether WFI/WFE trap (reference §3.2). */
      arm64: z
        .strictObject({
          wfi_trap_policy: z.enum(WFX_TRAP_POLICIES).default('default').describe('kvm-arm.wfi_trap_policy / wfe_trap_policy; `default`: the parameter is absent (single-task rule).'),
          wfe_trap_policy: z.enum(WFX_TRAP_POLICIES).default('default').describe('kvm-arm.wfe_trap_policy; `default`: the parameter is absent (single-task rule)'),
          direct_injection: z.boolean().default(false).describe('The VM’s vCPUs use GICv4 direct injection (vLPI/vSGI): the default rule may then untrap WFI.'),
          wfx_rq_threshold: z.int().min(0).max(1024).nullable().default(null).describe('PROPOSAL (2024, not merged): trap WFx iff nr_running > this; null: mainline.'),
          exit_on_wfx: z.boolean().default(false).describe('PROPOSAL (2023, not merged): KVM_CAP_EXIT_ON_WFX: WFx forced to trap, a WFI that would block returns KVM_EXIT_WFX to the VMM.'),
        })
        .prefault({}),
      /** pCPU idle states (a shallow and a deep one) and their exit latencies. */
      cpuidle: z
        .strictObject(paramShape(CPUIDLE_PARAMS))
        .prefault({}),
      irqchip: z.enum(['kernel', 'userspace']).default('kernel').describe('`kernel`: KVM_CREATE_IRQCHIP, the LAPIC in KVM (the default); `userspace`: none, HLT exits to the VMM.'),
      /** KVM_ENABLE_CAP(KVM_CAP_X86_DISABLE_EXITS): these instructions run in guest mode, no exit. */
      kvm_cap_x86_disable_exits: z
        .strictObject({
          hlt: z.boolean().default(false).describe('KVM_X86_DISABLE_EXITS_HLT: the guest’s HLT runs in guest mode, no exit'),
          mwait: z.boolean().default(false).describe('KVM_X86_DISABLE_EXITS_MWAIT: the guest’s MWAIT runs in guest mode, no exit'),
          pause: z.boolean().default(false).describe('KVM_X86_DISABLE_EXITS_PAUSE: no PAUSE-loop exiting for the VM (kvm_pause_in_guest).'),
        })
        .prefault({}),
      /** Unmerged proposals from the list, each opt-in; mainline KVM has none of them. */
      proposals: z
        .strictObject({
          lazy_tscdeadline: z.boolean().default(false).describe('x86 PV lazy tscdeadline (RFC, Wang Jianchao, July 2023): KVM_FEATURE_LAZY_TSCDEADLINE in the guest’s CPUID.'),
          /** The 2023 RFC "KVM: x86: Allow userspace exit on HLT and MWAIT, else yield on MWAIT". */
          userspace_exit: z
            .strictObject({
              hlt: z.boolean().default(false).describe('the proposal: a HLT that would block returns to the VMM (KVM_EXIT_HLT)'),
              mwait: z.boolean().default(false).describe('the proposal: an MWAIT that would block returns to the VMM (KVM_EXIT_MWAIT)'),
              mwait_yield: z.boolean().default(false).describe('the proposal: an MWAIT exit yields the pCPU in KVM instead'),
            })
            .prefault({}),
        })
        .prefault({}),
    })
    .prefault({}),
  vm: z.strictObject({ vcpus: z.int().min(1).max(MAX_VCPUS).default(2).describe('the VM’s vCPUs, one thread each') }).prefault({}),
  /** The guest kernel: its idle loop (`halt`: default_idle; `poll`: idle=poll; `haltpoll`: cpuidle-haltpoll; `mwait`: intel_idle's MONITOR/MWAIT). */
  guest: z
    .strictObject({
      idle: z.enum(GUEST_IDLE_MODES).default('halt').describe('the guest kernel’s idle loop: `halt` (default_idle), `poll` (idle=poll), `haltpoll` (cpuidle-haltpoll), `mwait` (intel_idle)'),
      /** /sys/module/haltpoll/parameters (reference §4.2), used when idle is haltpoll. */
      haltpoll: z
        .strictObject(paramShape(HALTPOLL_PARAMS))
        .prefault({}),
    })
    .prefault({}),
  /** The userspace VMM. */
  vmm: z
    .strictObject({
      /** `-object iothread` properties (QEMU, reference §5.1): the I/O thread's adaptive polling. */
      iothread: z
        .strictObject(paramShape(AIO_POLL_PARAMS))
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
