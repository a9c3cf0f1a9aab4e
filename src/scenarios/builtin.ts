import { WORKLOADS } from '../guest/workloads/index.ts';
import type { ScenarioInput, Workload } from './schema.ts';

/**
 * The built-in scenarios: one per workload, on the schema's defaults (2 vCPUs
 * on 2 pCPUs, 5 s, mainline x86 kvm parameters of Linux >= 6.11) except where
 * SCENARIO_EXTRAS says otherwise.
 */
export interface BuiltinScenario {
  readonly summary: string;
  readonly source: string;
  readonly scenario: ScenarioInput;
}

/** Where a built-in scenario departs from the schema's defaults. */
const SCENARIO_EXTRAS: Partial<Record<Workload['kind'], Partial<ScenarioInput>>> = {
  // More vCPU threads than pCPUs on an arm64 host with idle states, so that trapping matters.
  overcommit: { host: { arch: 'arm64', pcpus: 2, cpuidle: { enabled: true } }, vm: { vcpus: 3 } },
  // The simulator of seeds/001 runs arm64 guests: its exit is the arm64 request's KVM_EXIT_WFX.
  'sim-loop': { host: { arch: 'arm64' } },
  // Lock-holder preemption needs more runnable vCPUs than pCPUs.
  spinlock: { vm: { vcpus: 4 } },
};

export const BUILTIN_SCENARIOS: Readonly<Record<string, BuiltinScenario>> = Object.fromEntries(
  (Object.keys(WORKLOADS) as Workload['kind'][]).map((kind) => [
    kind,
    { ...WORKLOADS[kind], scenario: { name: kind, ...SCENARIO_EXTRAS[kind], workload: { kind } } as ScenarioInput },
  ]),
);

export const isBuiltin = (name: string): boolean => Object.hasOwn(BUILTIN_SCENARIOS, name);
