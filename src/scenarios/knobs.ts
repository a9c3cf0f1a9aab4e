import type { z } from 'zod';

/**
 * The scenario's knobs, derived from its one declaration (the zod schema):
 * every leaf field, its path, its `.describe()` text and whether its values
 * are strings. A knob's short name is the leaf's own name, except where two
 * leaves share one (KNOB_ALIASES); a few leaves are not knobs (NOT_KNOBS).
 */

export type ScenarioPath = readonly string[];

export interface SchemaLeaf {
  readonly path: ScenarioPath;
  readonly description: string | undefined;
  /** Its values are strings even when they look like numbers (kernel=6.10). */
  readonly string: boolean;
}

/** Leaves whose short name is not their own: the names two leaves share, and a clearer name. */
export const KNOB_ALIASES: Readonly<Record<string, string>> = {
  'host.cpuidle.enabled': 'cpuidle',
  'host.kvm_cap_x86_disable_exits.hlt': 'disable_exits_hlt',
  'host.kvm_cap_x86_disable_exits.mwait': 'disable_exits_mwait',
  'host.kvm_cap_x86_disable_exits.pause': 'disable_exits_pause',
  'host.proposals.userspace_exit.hlt': 'userspace_exit_hlt',
  'host.proposals.userspace_exit.mwait': 'userspace_exit_mwait',
};

/** Leaves set as a whole, never by a knob: the scenario's name and the workload's kind (a scenario of its own). */
export const NOT_KNOBS: ReadonlySet<string> = new Set(['name', 'workload.kind']);

interface ZodLike {
  _zod: { def: { type: string; innerType?: ZodLike; shape?: Record<string, ZodLike>; options?: readonly ZodLike[]; in?: ZodLike } };
  description?: string;
}

const WRAPPERS = new Set(['default', 'prefault', 'optional', 'nullable', 'readonly', 'catch', 'nonoptional']);

/** Every leaf of a schema, depth first in declaration order; a union's options share their common leaves. */
export function schemaLeaves(schema: z.ZodType): SchemaLeaf[] {
  const leaves = new Map<string, SchemaLeaf>();
  const walk = (s: ZodLike, path: string[], description: string | undefined): void => {
    let node = s;
    let doc = description ?? node.description;
    while (WRAPPERS.has(node._zod.def.type) && node._zod.def.innerType) {
      node = node._zod.def.innerType;
      doc ??= node.description;
    }
    const def = node._zod.def;
    if (def.type === 'object' && def.shape) {
      for (const [k, v] of Object.entries(def.shape)) walk(v, [...path, k], undefined);
    } else if (def.type === 'union' && def.options) {
      for (const o of def.options) walk(o, path, undefined);
    } else if (def.type === 'pipe' && def.in) {
      walk(def.in, path, doc);
    } else {
      const key = path.join('.');
      const prev = leaves.get(key);
      leaves.set(key, { path, description: prev?.description ?? doc, string: def.type === 'string' || def.type === 'enum' || def.type === 'literal' });
    }
  };
  walk(schema as unknown as ZodLike, [], undefined);
  return [...leaves.values()];
}

/** Short knob names and where they live in a scenario, from the schema's leaves. */
export function knobsOf(leaves: readonly SchemaLeaf[]): Record<string, ScenarioPath> {
  const knobs: Record<string, ScenarioPath> = {};
  for (const leaf of leaves) {
    const key = leaf.path.join('.');
    if (NOT_KNOBS.has(key)) continue;
    const name = KNOB_ALIASES[key] ?? leaf.path[leaf.path.length - 1];
    const taken = knobs[name];
    if (taken && taken.join('.') !== key) throw new Error(`knob ${name} names both ${taken.join('.')} and ${key}: give one of them an alias in KNOB_ALIASES`);
    knobs[name] = leaf.path;
  }
  return knobs;
}
