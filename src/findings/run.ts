import { runViolations, type Violation } from '../host/invariants.ts';
import { createVm } from '../host/vm.ts';
import type { RunResult } from '../host/results.ts';
import { resolveScenario } from '../scenarios/file.ts';
import { applyOverrides, parseOverrides } from '../scenarios/overrides.ts';
import { parsePolicy } from '../scenarios/policies.ts';
import { parseScenario } from '../scenarios/schema.ts';

/**
 * One measured configuration of a finding: a built-in scenario with the
 * command line's overrides and a compare policy, exactly what
 * `haltlab compare POLICY... --scenario NAME --set ... --duration S` runs.
 */
export interface Config {
  /** What the report calls it. */
  label: string;
  scenario: string;
  /** `knob=value,knob=value` applied first (the command's --set). */
  set?: string;
  /** A named policy of `haltlab list` or overrides, applied last. */
  policy: string;
}

export interface Measured {
  config: Config;
  result: RunResult;
  /** The run's invariants (src/host/invariants.ts), checked on every completed run; empty when all held. */
  violations: Violation[];
}

export async function measure(c: Config, durationS: number, signal: AbortSignal): Promise<Measured> {
  const { input, source } = resolveScenario(c.scenario);
  const withSet = applyOverrides({ ...input, duration_s: durationS }, c.set ? parseOverrides(c.set) : []);
  const scenario = parseScenario(applyOverrides(withSet, parsePolicy(c.policy).overrides), `${source} + ${c.label}`);
  const result = await createVm(scenario).run({ signal });
  return { config: c, result, violations: result.status === 'completed' ? runViolations(result) : [] };
}

/** The CLI command that measures the same configurations. */
export function commandOf(configs: Config[], durationS: number): string {
  const scenario = configs[0].scenario;
  const set = configs[0].set && configs.every((c) => c.set === configs[0].set) ? ` --set ${configs[0].set.replaceAll(',', ' ')}` : '';
  return `haltlab compare ${configs.map((c) => c.policy).join(' ')} --scenario ${scenario}${set} --duration ${durationS}`;
}
