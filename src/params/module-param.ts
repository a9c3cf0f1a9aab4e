/**
 * A module parameter, as `module_param()` declares it beside the code that
 * reads it: its module, name, default, unit, bounds, one line of doc and its
 * source. One type for every module the model has parameters of; each table
 * lives with its mechanism (kvm: host/kvm/params.ts, kvm_intel: host/kvm/ple.ts,
 * haltpoll: guest/kernel/haltpoll.ts, the I/O thread: host/vmm/aio-poll.ts,
 * cpuidle: host/sched/idle-states.ts). The scenario schema derives its fields
 * from these tables, so a parameter is declared once. A leaf: it imports
 * nothing, so the guest's tables may use it too.
 */

/** The largest `unsigned int`: KVM keeps these parameters and fields in one. */
export const UINT_MAX = 4_294_967_295;

export type ParamModule = 'kvm' | 'kvm_intel' | 'haltpoll' | 'iothread' | 'cpuidle';

interface ParamBase<M extends ParamModule> {
  readonly module: M;
  readonly name: string;
  readonly doc: string;
  readonly source: string;
}

/** An unsigned integer parameter (`uint`, `ulong`); `max` bounds what a scenario may set (default UINT_MAX). */
export interface UintParam<M extends ParamModule = ParamModule> extends ParamBase<M> {
  readonly unit: 'ns' | 'cycles' | 'factor' | 'divisor';
  readonly default: number;
  readonly max?: number;
}

/** A `bool` parameter. */
export interface BoolParam<M extends ParamModule = ParamModule> extends ParamBase<M> {
  readonly unit: 'bool';
  readonly default: boolean;
}

export type ModuleParam<M extends ParamModule = ParamModule> = UintParam<M> | BoolParam<M>;

/** A table's values by name: what the code that reads the parameters takes. */
export type ParamValues<T extends readonly ModuleParam[]> = { -readonly [P in T[number] as P['name']]: P extends BoolParam ? boolean : number };

/** The defaults of a table, by name. */
export function paramDefaults<const T extends readonly ModuleParam[]>(table: T): ParamValues<T> {
  return Object.fromEntries(table.map((p) => [p.name, p.default])) as ParamValues<T>;
}
