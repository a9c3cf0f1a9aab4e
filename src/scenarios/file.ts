import { readFileSync, existsSync, statSync } from 'node:fs';
import { extname } from 'node:path';
import { Document, parseDocument } from 'yaml';
import { kvmParamDefaults } from '../host/kvm/params.ts';
import { BUILTIN_SCENARIOS, isBuiltin } from './builtin.ts';
import { parseScenario, ScenarioError, ScenarioSchema, type Scenario, type ScenarioInput } from './schema.ts';

/** Scenario files: JSON or YAML, validated by the schema; errors name the file and the field. */

const EXAMPLE = 'e.g. "workload: {kind: irq-wake}"; haltlab show irq-wake prints a whole one';

/** A file's top level must be a mapping of scenario fields: say what it is instead. */
function mappingOrError(value: unknown, path: string): ScenarioInput {
  if (value === null || value === undefined) throw new ScenarioError([`(top level): the file is empty: a scenario is a mapping of fields, ${EXAMPLE}`], path);
  if (typeof value !== 'object' || Array.isArray(value)) {
    const what = Array.isArray(value) ? 'a list' : `a ${typeof value} (${JSON.stringify(value)})`;
    throw new ScenarioError([`(top level): a scenario is a mapping of fields, got ${what}; ${EXAMPLE}`], path);
  }
  return value as ScenarioInput;
}

/** Read a scenario file (.json, .yaml, .yml) as unvalidated input; syntax errors name the file and line. */
export function readScenarioFile(path: string): ScenarioInput {
  if (!existsSync(path)) throw new ScenarioError([`no such file`], path);
  if (statSync(path).isDirectory()) throw new ScenarioError([`a folder, not a scenario file: name a .json or .yaml file in it`], path);
  const ext = extname(path).toLowerCase();
  if (ext !== '.json' && ext !== '.yaml' && ext !== '.yml') {
    throw new ScenarioError([`unknown file type "${ext || '(none)'}": a scenario file ends in .json, .yaml or .yml`], path);
  }
  const text = readFileSync(path, 'utf8');
  if (ext === '.json') {
    if (text.trim() === '') return mappingOrError(null, path);
    try {
      return mappingOrError(JSON.parse(text), path);
    } catch (e) {
      if (e instanceof ScenarioError) throw e;
      throw new ScenarioError([`not valid JSON: ${(e as Error).message}`], path);
    }
  }
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length) throw new ScenarioError(doc.errors.map((e) => `not valid YAML: ${e.message.split('\n')[0]}`), path);
  let value: unknown;
  try {
    // Parsing succeeds on some texts whose values cannot be built, e.g. an alias to no anchor.
    value = doc.toJS({ maxAliasCount: 100 });
  } catch (e) {
    throw new ScenarioError([`not valid YAML: ${(e as Error).message}`], path);
  }
  return mappingOrError(value, path);
}

/** A built-in scenario's name or a file's path, as unvalidated input and where it came from. */
export function resolveScenario(nameOrPath: string): { input: ScenarioInput; source: string } {
  if (isBuiltin(nameOrPath)) return { input: BUILTIN_SCENARIOS[nameOrPath].scenario, source: `built-in ${nameOrPath}` };
  if (/\.(json|ya?ml)$/i.test(nameOrPath) || existsSync(nameOrPath)) return { input: readScenarioFile(nameOrPath), source: nameOrPath };
  // `--set a=1 b=2` used to take b=2 as a second knob; now it arrives here.
  const hint = nameOrPath.includes('=') ? `; if it is a knob, give it its own --set (--set ${nameOrPath}), or join knobs with commas` : '';
  throw new ScenarioError(
    [`"${nameOrPath}" is neither a built-in scenario (${Object.keys(BUILTIN_SCENARIOS).join(', ')}) nor a .json/.yaml file${hint}`],
    'command line',
    'unknown scenario',
  );
}

export function loadScenario(nameOrPath: string): Scenario {
  const { input, source } = resolveScenario(nameOrPath);
  return parseScenario(input, source);
}

/**
 * A scenario in full, every default filled in, the kvm module parameters
 * too: the schema leaves them out (their defaults follow host.kernel and
 * host.arch), so here they are the values the VM would boot with.
 */
export function scenarioInFull(s: Scenario): Scenario {
  return { ...s, host: { ...s.host, kvm: { ...kvmParamDefaults(s.host.kernel, s.host.arch), ...s.host.kvm } } };
}

/** A scenario written out in full (every default filled in), as a file to start from. */
export function scenarioAsYaml(s: Scenario, comment?: string): string {
  const full = scenarioInFull(s);
  ScenarioSchema.parse(full);
  const doc = new Document(full);
  const kvm = doc.getIn(['host', 'kvm'], true) as { commentBefore?: string } | undefined;
  // Written out, a parameter no longer follows host.kernel: say so where someone edits the kernel.
  if (kvm) kvm.commentBefore = ` kvm module parameters: kernel ${s.host.kernel} ${s.host.arch} defaults; delete a line to take the kernel's default again`;
  if (comment) doc.commentBefore = comment.split('\n').map((l) => ` ${l}`).join('\n');
  return doc.toString();
}
