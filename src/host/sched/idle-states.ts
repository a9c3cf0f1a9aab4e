import { paramDefaults, type ModuleParam, type ParamValues } from '../../params/module-param.ts';

/**
 * pCPU idle states (cpuidle), reduced to two: a shallow one entered as soon as
 * the pCPU has nothing to run (arm64 WFI, state 0), and a deep one (a core
 * power-down) that an idle pCPU moves to once it has been idle for the deep
 * state's target residency. Waking a pCPU costs the exit latency of the state
 * it is in, paid as real delay before the woken task runs. A pCPU held by a
 * polling or natively idling vCPU is not idle, so it never gets deep: the
 * power objection to untrapped WFx (seeds/003). Pure arithmetic.
 */

const IDLE_STATES_DT = 'Documentation/devicetree/bindings/cpu/idle-states.yaml';

/**
 * The idle states' parameters. Illustrative arm64 figures: WFI ~1 µs; a CPU power-down state ~100 µs
 * exit, ~500 µs residency (DT idle-states of that order). `enabled` is haltlab's own switch: off
 * (the default), idle time is still reported and no exit latency is paid.
 */
export const CPUIDLE_PARAMS = [
  { module: 'cpuidle', name: 'enabled', default: false, unit: 'bool', doc: 'idle pCPUs enter idle states (a shallow and a deep one) and pay their exit latency when woken', source: 'haltlab (cpuidle.off=1 inverted)' },
  { module: 'cpuidle', name: 'shallow_exit_latency_ns', default: 1_000, unit: 'ns', max: 100_000_000, doc: 'exit latency of the shallow idle state, ns', source: `exit-latency-us, ${IDLE_STATES_DT}` },
  { module: 'cpuidle', name: 'deep_exit_latency_ns', default: 100_000, unit: 'ns', max: 100_000_000, doc: 'exit latency of the deep idle state, ns', source: `exit-latency-us, ${IDLE_STATES_DT}` },
  { module: 'cpuidle', name: 'deep_residency_ns', default: 500_000, unit: 'ns', max: 1_000_000_000, doc: 'idle this long and the pCPU is in the deep state, ns (its target residency)', source: `min-residency-us, ${IDLE_STATES_DT}` },
] as const satisfies readonly ModuleParam<'cpuidle'>[];

export type CpuidleParams = ParamValues<typeof CPUIDLE_PARAMS>;
export const CPUIDLE_DEFAULTS: CpuidleParams = paramDefaults(CPUIDLE_PARAMS);

export const IDLE_STATE = { SHALLOW: 0, DEEP: 1 } as const;

export interface IdlePeriod {
  shallow_ns: number;
  deep_ns: number;
  /** The state the pCPU is in at the end of the period (what waking it costs). */
  state: (typeof IDLE_STATE)[keyof typeof IDLE_STATE];
  /** The delay a task woken onto it pays (0 with idle states off). */
  exit_latency_ns: number;
}

/** One idle period of `idleNs`: time in each state, the state it ends in, and the wake cost. */
export function idlePeriod(idleNs: number, p: CpuidleParams): IdlePeriod {
  const ns = Math.max(0, idleNs);
  const deep = ns >= p.deep_residency_ns;
  return {
    shallow_ns: Math.min(ns, p.deep_residency_ns),
    deep_ns: Math.max(0, ns - p.deep_residency_ns),
    state: deep ? IDLE_STATE.DEEP : IDLE_STATE.SHALLOW,
    exit_latency_ns: !p.enabled ? 0 : deep ? p.deep_exit_latency_ns : p.shallow_exit_latency_ns,
  };
}
