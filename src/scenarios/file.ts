import { readFileSync, existsSync } from 'node:fs';
import { extname } from 'node:path';
import { parseDocument, stringify } from 'yaml';
import { BUILTIN_SCENARIOS, isBuiltin } from './builtin.ts';
import { parseScenario, ScenarioError, ScenarioSchema, type Scenario, type ScenarioInput } from './schema.ts';

/** Scenario files: JSON or YAML, validated by the schema; errors name the file and the field. */

/** Read a scenario file (.json, .yaml, .yml) as unvalidated input; syntax errors name the file and line. */
export function readScenarioFile(path: string): ScenarioInput {
  if (!existsSync(path)) throw new ScenarioError([`no such file`], path);
  const text = readFileSync(path, 'utf8');
  const ext = extname(path).toLowerCase();
  if (ext === '.json') {
    try {
      return JSON.parse(text) as ScenarioInput;
    } catch (e) {
      throw new ScenarioError([`not valid JSON: ${(e as Error).message}`], path);
    }
  }
  if (ext === '.yaml' || ext === '.yml') {
    const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
    if (doc.errors.length) throw new ScenarioError(doc.errors.map((e) => `not valid YAML: ${e.message.split('\n')[0]}`), path);
    try {
      // Parsing succeeds on some texts whose values cannot be built, e.g. an alias to no anchor.
      return doc.toJS({ maxAliasCount: 100 }) as ScenarioInput;
    } catch (e) {
      throw new ScenarioError([`not valid YAML: ${(e as Error).message}`], path);
    }
  }
  throw new ScenarioError([`unknown file type "${ext || '(none)'}": a scenario file ends in .json, .yaml or .yml`], path);
}

/** A built-in scenario's name or a file's path, as unvalidated input and where it came from. */
export function resolveScenario(nameOrPath: string): { input: ScenarioInput; source: string } {
  if (isBuiltin(nameOrPath)) return { input: BUILTIN_SCENARIOS[nameOrPath].scenario, source: `built-in ${nameOrPath}` };
  if (/\.(json|ya?ml)$/i.test(nameOrPath) || existsSync(nameOrPath)) return { input: readScenarioFile(nameOrPath), source: nameOrPath };
  throw new ScenarioError(
    [`"${nameOrPath}" is neither a built-in scenario (${Object.keys(BUILTIN_SCENARIOS).join(', ')}) nor a .json/.yaml file`],
    'command line',
    'unknown scenario',
  );
}

export function loadScenario(nameOrPath: string): Scenario {
  const { input, source } = resolveScenario(nameOrPath);
  return parseScenario(input, source);
}

/** A scenario written out in full (every default filled in), as a file to start from. */
export function scenarioAsYaml(s: Scenario, comment?: string): string {
  ScenarioSchema.parse(s);
  return `${comment ? `${comment.split('\n').map((l) => `# ${l}`).join('\n')}\n` : ''}${stringify(s)}`;
}
