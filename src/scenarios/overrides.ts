import { knobsOf, schemaLeaves, type ScenarioPath } from './knobs.ts';
import { ScenarioError, ScenarioSchema, type ScenarioInput } from './schema.ts';

/**
 * Scenario overrides written as `knob=value`, as people type them on a
 * command line: `halt_poll_ns=0`, `pcpus=1`, `host.kvm.halt_poll_ns_shrink=0`.
 * A knob is a short name (KVM's parameter names, and the scenario's own
 * leaves) or a dotted path into the scenario. Values are numbers, `null`,
 * `true`/`false`, or strings.
 */

export type { ScenarioPath };

export interface Override {
  readonly knob: string;
  readonly path: ScenarioPath;
  readonly value: unknown;
}

const LEAVES = schemaLeaves(ScenarioSchema);

/** Short knob names and where they live in a scenario: every leaf of the schema (knobs.ts). */
export const KNOBS: Readonly<Record<string, ScenarioPath>> = knobsOf(LEAVES);

/** Every knob with its path and its schema description, in the schema's order: `haltlab knobs` prints these. */
export const KNOB_DOCS: readonly { knob: string; path: string; doc: string }[] = Object.entries(KNOBS).map(([knob, path]) => ({
  knob,
  path: path.join('.'),
  doc: LEAVES.find((l) => l.path.join('.') === path.join('.'))?.description ?? '',
}));

export function knobPath(knob: string): ScenarioPath {
  const short = KNOBS[knob];
  if (short) return short;
  if (/^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)+$/.test(knob)) return knob.split('.');
  throw new ScenarioError([`unknown knob "${knob}": expected one of ${Object.keys(KNOBS).join(', ')}, or a dotted path such as host.kvm.halt_poll_ns`], '', 'invalid override');
}

/** Scenario fields whose values are strings even when they look like numbers (kernel=6.10): the schema's string and enum leaves. */
const STRING_FIELDS = new Set(LEAVES.filter((l) => l.string).map((l) => l.path[l.path.length - 1]));

export function parseValue(text: string): unknown {
  const t = text.trim();
  if (t === 'null') return null;
  if (t === 'true' || t === 'false') return t === 'true';
  if (/^-?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(t)) return Number(t);
  return t;
}

/** `a=1,b=2` (commas or spaces between) into overrides. */
export function parseOverrides(text: string): Override[] {
  return text
    .split(/[,\s]+/)
    .filter(Boolean)
    .map((item) => {
      const eq = item.indexOf('=');
      if (eq <= 0 || eq === item.length - 1) {
        throw new ScenarioError([`"${item}" is not knob=value (for example halt_poll_ns=0)`], '', 'invalid override');
      }
      const knob = item.slice(0, eq);
      const path = knobPath(knob);
      const raw = item.slice(eq + 1);
      return { knob, path, value: STRING_FIELDS.has(path[path.length - 1]) ? raw : parseValue(raw) };
    });
}

/** A copy of `base` with each override set at its path (creating objects on the way). */
export function applyOverrides(base: ScenarioInput, overrides: readonly Override[]): ScenarioInput {
  const out = structuredClone(base) as Record<string, unknown>;
  for (const o of overrides) {
    let node = out;
    o.path.slice(0, -1).forEach((k) => {
      const next = node[k];
      node = (node[k] = next && typeof next === 'object' ? next : {}) as Record<string, unknown>;
    });
    node[o.path[o.path.length - 1]] = o.value;
  }
  return out as ScenarioInput;
}

export const describeOverrides = (overrides: readonly Override[]): string =>
  overrides.map((o) => `${o.knob}=${o.value === null ? 'null' : String(o.value)}`).join(',');
