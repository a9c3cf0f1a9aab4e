import { WORKLOADS } from '../guest/workloads/index.ts';
import type { ScenarioInput, Workload } from './schema.ts';

/**
 * The built-in scenarios: one per workload, on the schema's defaults (2 vCPUs
 * on 2 pCPUs, 5 s, mainline x86 kvm parameters of Linux >= 6.11), but
 * spinlock's 4 vCPUs.
 */
export interface BuiltinScenario {
  readonly summary: string;
  readonly source: string;
  readonly scenario: ScenarioInput;
}

/** Where a workload needs another shape than the defaults to show what it is for. */
const SHAPES: Partial<Record<Workload['kind'], Partial<ScenarioInput>>> = {
  // Lock-holder preemption needs more runnable vCPUs than pCPUs.
  spinlock: { vm: { vcpus: 4 } },
};

export const BUILTIN_SCENARIOS: Readonly<Record<string, BuiltinScenario>> = Object.fromEntries(
  (Object.keys(WORKLOADS) as Workload['kind'][]).map((kind) => [
    kind,
    { ...WORKLOADS[kind], scenario: { name: kind, ...SHAPES[kind], workload: { kind } } as ScenarioInput },
  ]),
);

export const isBuiltin = (name: string): boolean => Object.hasOwn(BUILTIN_SCENARIOS, name);
