import { describe, expect, it } from 'vitest';
import { HALTPOLL_PARAMS } from '../../src/guest/kernel/haltpoll.ts';
import { KVM_INTEL_PLE_PARAMS } from '../../src/host/kvm/ple.ts';
import { CPUIDLE_PARAMS } from '../../src/host/sched/idle-states.ts';
import { AIO_POLL_PARAMS } from '../../src/host/vmm/aio-poll.ts';
import { UINT_MAX, type ModuleParam } from '../../src/params/module-param.ts';
import { parseScenario, ScenarioSchema } from '../../src/scenarios/schema.ts';

// One declaration per module parameter: its table row gives the scenario field its default, its
// bounds and its description. A row changed, added or removed changes the schema with it.

const TABLES: { path: [string, string]; table: readonly ModuleParam[] }[] = [
  { path: ['host', 'kvm_intel'], table: KVM_INTEL_PLE_PARAMS },
  { path: ['host', 'cpuidle'], table: CPUIDLE_PARAMS },
  { path: ['guest', 'haltpoll'], table: HALTPOLL_PARAMS },
  { path: ['vmm', 'iothread'], table: AIO_POLL_PARAMS },
];

const nest = ([a, b]: [string, string], value: object) => ({ [a]: { [b]: value } });

describe('module parameters', () => {
  it.each(TABLES)('$path.1: the schema’s fields are the table’s rows, with their defaults and docs', ({ path, table }) => {
    const defaults = parseScenario({}) as unknown as Record<string, Record<string, Record<string, unknown>>>;
    expect(Object.keys(defaults[path[0]][path[1]]).sort()).toEqual(table.map((p) => p.name).sort());
    for (const p of table) expect(defaults[path[0]][path[1]][p.name]).toBe(p.default);
    const shape = (ScenarioSchema.shape as any)[path[0]].unwrap().shape[path[1]].unwrap().shape;
    for (const p of table) expect(shape[p.name].description).toBe(p.doc);
  });

  it.each(TABLES)('$path.1: a value past a row’s bound, or of the wrong kind, is refused naming the field', ({ path, table }) => {
    for (const p of table) {
      const bad = p.unit === 'bool' ? 1 : (p.max ?? UINT_MAX) + 1;
      expect(() => parseScenario(nest(path, { [p.name]: bad }))).toThrow(new RegExp(`${path.join('.')}.${p.name}`));
      if (p.unit !== 'bool') expect(() => parseScenario(nest(path, { [p.name]: p.max ?? UINT_MAX }))).not.toThrow();
    }
  });
});
