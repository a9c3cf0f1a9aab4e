import { KVM_PARAMS } from '../host/kvm/params.ts';
import { KVM_INTEL_PLE_PARAMS } from '../host/kvm/ple.ts';
import { ScenarioError, type ScenarioInput } from './schema.ts';

/**
 * Scenario overrides written as `knob=value`, as people type them on a
 * command line: `halt_poll_ns=0`, `pcpus=1`, `host.kvm.halt_poll_ns_shrink=0`.
 * A knob is a short name (KVM's parameter names, and the scenario's own
 * leaves) or a dotted path into the scenario. Values are numbers, `null`,
 * `true`/`false`, or strings.
 */

export type ScenarioPath = readonly string[];

export interface Override {
  readonly knob: string;
  readonly path: ScenarioPath;
  readonly value: unknown;
}

/** Short knob names and where they live in a scenario. */
export const KNOBS: Readonly<Record<string, ScenarioPath>> = {
  ...Object.fromEntries(KVM_PARAMS.map((p) => [p.name, ['host', 'kvm', p.name]])),
  ...Object.fromEntries(KVM_INTEL_PLE_PARAMS.map((p) => [p.name, ['host', 'kvm_intel', p.name]])),
  kvm_cap_halt_poll: ['host', 'kvm_cap_halt_poll'],
  pcpus: ['host', 'pcpus'],
  kernel: ['host', 'kernel'],
  sched_slice_ns: ['host', 'sched_slice_ns'],
  exit_cost_ns: ['host', 'exit_cost_ns'],
  apicv: ['host', 'apicv'],
  lapic_timer_advance: ['host', 'lapic_timer_advance'],
  arch: ['host', 'arch'],
  wfi_trap_policy: ['host', 'arm64', 'wfi_trap_policy'],
  wfe_trap_policy: ['host', 'arm64', 'wfe_trap_policy'],
  direct_injection: ['host', 'arm64', 'direct_injection'],
  wfx_rq_threshold: ['host', 'arm64', 'wfx_rq_threshold'],
  exit_on_wfx: ['host', 'arm64', 'exit_on_wfx'],
  cpuidle: ['host', 'cpuidle', 'enabled'],
  shallow_exit_latency_ns: ['host', 'cpuidle', 'shallow_exit_latency_ns'],
  deep_exit_latency_ns: ['host', 'cpuidle', 'deep_exit_latency_ns'],
  deep_residency_ns: ['host', 'cpuidle', 'deep_residency_ns'],
  lazy_tscdeadline: ['host', 'proposals', 'lazy_tscdeadline'],
  irqchip: ['host', 'irqchip'],
  disable_exits_hlt: ['host', 'kvm_cap_x86_disable_exits', 'hlt'],
  disable_exits_mwait: ['host', 'kvm_cap_x86_disable_exits', 'mwait'],
  disable_exits_pause: ['host', 'kvm_cap_x86_disable_exits', 'pause'],
  userspace_exit_hlt: ['host', 'proposals', 'userspace_exit', 'hlt'],
  userspace_exit_mwait: ['host', 'proposals', 'userspace_exit', 'mwait'],
  mwait_yield: ['host', 'proposals', 'userspace_exit', 'mwait_yield'],
  vcpus: ['vm', 'vcpus'],
  idle: ['guest', 'idle'],
  ...Object.fromEntries(
    ['guest_halt_poll_ns', 'guest_halt_poll_grow', 'guest_halt_poll_grow_start', 'guest_halt_poll_shrink', 'guest_halt_poll_allow_shrink'].map((k) => [k, ['guest', 'haltpoll', k]]),
  ),
  duration_s: ['duration_s'],
  delta_ns: ['workload', 'delta_ns'],
  gap_ns: ['workload', 'gap_ns'],
  jitter: ['workload', 'jitter'],
  seed: ['workload', 'seed'],
  backend: ['workload', 'backend'],
  block_size: ['workload', 'block_size'],
  synthetic_latency_ns: ['workload', 'synthetic_latency_ns'],
  hold_ns: ['workload', 'hold_ns'],
  think_ns: ['workload', 'think_ns'],
  bare_metal: ['workload', 'bare_metal'],
  tick_ns: ['workload', 'tick_ns'],
  mode: ['workload', 'mode'],
  quantum_ns: ['workload', 'quantum_ns'],
  work_ns: ['workload', 'work_ns'],
  ...Object.fromEntries(['busy_ns', 'idle_ns', 'item_ns', 'workers', 'depth_per_worker', 'fallback_ns', 'vcpu_budget_ns'].map((k) => [k, ['workload', k]])),
  wait: ['workload', 'wait'],
  poll_max_ns: ['vmm', 'iothread', 'poll_max_ns'],
  poll_grow: ['vmm', 'iothread', 'poll_grow'],
  poll_shrink: ['vmm', 'iothread', 'poll_shrink'],
  event_ns: ['workload', 'event_ns'],
  timeout_ns: ['workload', 'timeout_ns'],
  rearms: ['workload', 'rearms'],
};

export function knobPath(knob: string): ScenarioPath {
  const short = KNOBS[knob];
  if (short) return short;
  if (/^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)+$/.test(knob)) return knob.split('.');
  throw new ScenarioError([`unknown knob "${knob}": expected one of ${Object.keys(KNOBS).join(', ')}, or a dotted path such as host.kvm.halt_poll_ns`], '', 'invalid override');
}

/** Scenario fields whose values are strings even when they look like numbers (kernel=6.10). */
const STRING_FIELDS = new Set(['kernel', 'name', 'kind', 'idle', 'irqchip', 'arch', 'wfi_trap_policy', 'wfe_trap_policy', 'wait']);

export function parseValue(text: string): unknown {
  const t = text.trim();
  if (t === 'null') return null;
  if (t === 'true' || t === 'false') return t === 'true';
  if (/^-?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(t)) return Number(t);
  return t;
}

/** `a=1,b=2` (commas or spaces between) into overrides. */
export function parseOverrides(text: string): Override[] {
  return text
    .split(/[,\s]+/)
    .filter(Boolean)
    .map((item) => {
      const eq = item.indexOf('=');
      if (eq <= 0 || eq === item.length - 1) {
        throw new ScenarioError([`"${item}" is not knob=value (for example halt_poll_ns=0)`], '', 'invalid override');
      }
      const knob = item.slice(0, eq);
      const path = knobPath(knob);
      const raw = item.slice(eq + 1);
      return { knob, path, value: STRING_FIELDS.has(path[path.length - 1]) ? raw : parseValue(raw) };
    });
}

/** A copy of `base` with each override set at its path (creating objects on the way). */
export function applyOverrides(base: ScenarioInput, overrides: readonly Override[]): ScenarioInput {
  const out = structuredClone(base) as Record<string, unknown>;
  for (const o of overrides) {
    let node = out;
    o.path.slice(0, -1).forEach((k) => {
      const next = node[k];
      node = (node[k] = next && typeof next === 'object' ? next : {}) as Record<string, unknown>;
    });
    node[o.path[o.path.length - 1]] = o.value;
  }
  return out as ScenarioInput;
}

export const describeOverrides = (overrides: readonly Override[]): string =>
  overrides.map((o) => `${o.knob}=${o.value === null ? 'null' : String(o.value)}`).join(',');
