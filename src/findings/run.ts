import { runViolations, type Violation } from '../host/invariants.ts';
import { createVm } from '../host/vm.ts';
import type { AnyRunResult, Backend } from '../host/results.ts';
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
  /** Where it runs: the model (the default) or this machine's /dev/kvm (`--backend kvm`). */
  backend?: Backend;
}

export interface Measured {
  config: Config;
  result: AnyRunResult;
  /** The run's invariants (src/host/invariants.ts), checked on every completed run; empty when all held. */
  violations: Violation[];
}

export async function measure(c: Config, durationS: number, signal: AbortSignal): Promise<Measured> {
  const { input, source } = resolveScenario(c.scenario);
  const withSet = applyOverrides({ ...input, duration_s: durationS }, c.set ? parseOverrides(c.set) : []);
  const scenario = parseScenario(applyOverrides(withSet, parsePolicy(c.policy).overrides), `${source} + ${c.label}`);
  if (c.backend === 'kvm') {
    // Loaded only here: the model's findings never touch /dev/kvm or the FFI.
    const [{ KvmRun, checkKvmScenario }, { kvmRunViolations }] = await Promise.all([import('../real-kvm/run.ts'), import('../real-kvm/invariants.ts')]);
    checkKvmScenario(scenario);
    const result = await new KvmRun(scenario).run({ signal });
    return { config: c, result, violations: result.status === 'completed' ? kvmRunViolations(result) : [] };
  }
  const result = await createVm(scenario).run({ signal });
  return { config: c, result, violations: result.status === 'completed' ? runViolations(result) : [] };
}

/** The CLI command that measures the same configurations. */
export function commandOf(configs: Config[], durationS: number): string {
  const scenario = configs[0].scenario;
  const set = configs[0].set && configs.every((c) => c.set === configs[0].set) ? ` --set ${configs[0].set.replaceAll(',', ' ')}` : '';
  // compare runs every policy on each backend in turn: a group over both names each policy once.
  const backends = [...new Set(configs.map((c) => c.backend ?? 'model'))];
  const policies = [...new Set(configs.map((c) => c.policy))];
  const backend = backends.length > 1 || backends[0] !== 'model' ? ` --backend ${backends.join(',')}` : '';
  return `haltlab compare ${policies.join(' ')} --scenario ${scenario}${set}${backend} --duration ${durationS}`;
}
