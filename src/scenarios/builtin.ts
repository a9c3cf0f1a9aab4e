import { WORKLOADS } from '../guest/workloads/index.ts';
import type { ScenarioInput, Workload } from './schema.ts';

/**
 * The built-in scenarios: one per workload, on the schema's defaults (2 vCPUs
 * on 2 pCPUs, 5 s, mainline x86 kvm parameters of Linux >= 6.11).
 */
export interface BuiltinScenario {
  readonly summary: string;
  readonly source: string;
  readonly scenario: ScenarioInput;
}

export const BUILTIN_SCENARIOS: Readonly<Record<string, BuiltinScenario>> = Object.fromEntries(
  (Object.keys(WORKLOADS) as Workload['kind'][]).map((kind) => [
    kind,
    { ...WORKLOADS[kind], scenario: { name: kind, workload: { kind } } as ScenarioInput },
  ]),
);

export const isBuiltin = (name: string): boolean => Object.hasOwn(BUILTIN_SCENARIOS, name);
