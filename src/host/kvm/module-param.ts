/**
 * A module parameter, as `module_param()` declares it beside the code that
 * reads it: its module, name, default, unit, one line of doc and its source.
 * One type for every module the model has parameters of; each table lives
 * with its mechanism (params.ts for kvm, ple.ts for kvm_intel).
 */

/** The largest `unsigned int`: KVM keeps these parameters and fields in one. */
export const UINT_MAX = 4_294_967_295;

export type ParamModule = 'kvm' | 'kvm_intel' | 'haltpoll' | 'iothread' | 'cpuidle';

export interface ModuleParam<M extends ParamModule = ParamModule> {
  readonly module: M;
  readonly name: string;
  readonly default: number;
  readonly unit: 'ns' | 'cycles' | 'factor' | 'divisor';
  readonly doc: string;
  readonly source: string;
}
