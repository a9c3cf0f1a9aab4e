import { WORKLOADS } from '../workloads/index.ts';
import type { ScenarioInput, Workload } from './schema.ts';

/**
 * The built-in scenarios: one per workload, on the schema's defaults (2 vCPUs
 * on 2 pCPUs, 5 s, mainline x86 kvm parameters of Linux >= 6.11) except where
 * its workload module's `builtin` says otherwise.
 */
export interface BuiltinScenario {
  readonly summary: string;
  readonly source: string;
  readonly scenario: ScenarioInput;
}

/** Where a workload's built-in scenario departs from the schema's defaults (its module's `builtin`). */
const builtinExtras = (kind: Workload['kind']): Partial<ScenarioInput> => (WORKLOADS[kind] as { builtin?: Partial<ScenarioInput> }).builtin ?? {};

export const BUILTIN_SCENARIOS: Readonly<Record<string, BuiltinScenario>> = Object.fromEntries(
  (Object.keys(WORKLOADS) as Workload['kind'][]).map((kind) => [
    kind,
    { summary: WORKLOADS[kind].summary, source: WORKLOADS[kind].source, scenario: { name: kind, ...builtinExtras(kind), workload: { kind } } as ScenarioInput },
  ]),
);

export const isBuiltin = (name: string): boolean => Object.hasOwn(BUILTIN_SCENARIOS, name);
