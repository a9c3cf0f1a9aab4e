import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadScenario, readScenarioFile, scenarioAsYaml, scenarioInFull } from '../../src/scenarios/file.ts';
import { parseScenario, ScenarioError } from '../../src/scenarios/schema.ts';

// Scenario files: every bad file gets an error naming the file, the field, the value and what was expected.

let dir: string;
beforeAll(() => (dir = mkdtempSync(join(tmpdir(), 'haltlab-scen-'))));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const file = (name: string, text: string) => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};
const errorOf = (path: string) => {
  try {
    loadScenario(path);
  } catch (e) {
    expect(e).toBeInstanceOf(ScenarioError);
    return (e as Error).message;
  }
  throw new Error(`${path} loaded without error`);
};

describe('scenario files', () => {
  it('round-trips a built-in scenario through `show` YAML, the kvm parameters written out', () => {
    const built = loadScenario('irq-wake');
    const p = file('irq.yaml', scenarioAsYaml(built, 'a comment'));
    expect(loadScenario(p)).toEqual(scenarioInFull(built));
    expect(scenarioInFull(built).host.kvm).toEqual({ halt_poll_ns: 200_000, halt_poll_ns_grow: 2, halt_poll_ns_grow_start: 10_000, halt_poll_ns_shrink: 2 });
    // The kernel preset's defaults: Linux 6.10 shrank to 0.
    expect(scenarioInFull(parseScenario({ host: { kernel: '6.10' } })).host.kvm.halt_poll_ns_shrink).toBe(0);
  });

  it('reads JSON and YAML with defaults filled in', () => {
    const y = loadScenario(file('a.yml', 'workload:\n  kind: irq-wake\n  gap_ns: 50000\nvm:\n  vcpus: 4\n'));
    expect(y.vm.vcpus).toBe(4);
    expect(y.workload).toEqual({ kind: 'irq-wake', gap_ns: 50_000, jitter: 0.5, seed: 1 });
    const j = loadScenario(file('b.json', '{"host": {"kvm": {"halt_poll_ns": 0}}}'));
    expect(j.host.kvm).toEqual({ halt_poll_ns: 0 });
  });

  it.each([
    ['unknown-key.yaml', 'host:\n  kvm:\n    halt_poll_nsec: 5\n', ['host.kvm', 'halt_poll_nsec']],
    ['wrong-type.yaml', 'vm:\n  vcpus: two\n', ['vm.vcpus', 'got "two"']],
    ['out-of-range.json', '{"host": {"pcpus": 0}}', ['host.pcpus', 'got 0']],
    ['bad-kind.yaml', 'workload:\n  kind: dsync\n', ['workload.kind', '"dsync"']],
    ['negative.yaml', 'workload:\n  kind: irq-wake\n  jitter: -1\n', ['workload.jitter', 'got -1']],
    ['top-level.yaml', 'vcpus: 3\n', ['vcpus']],
    ['syntax.json', '{"vm": {"vcpus": 2,}}', ['not valid JSON']],
    ['syntax.yaml', 'vm:\n  vcpus: [1, 2\n', ['not valid YAML']],
    ['dupe.yaml', 'vm:\n  vcpus: 1\nvm:\n  vcpus: 2\n', ['not valid YAML']],
    ['scenario.toml', 'x = 1', ['unknown file type ".toml"']],
  ])('%s: names the file and what is wrong', (name, text, wanted) => {
    const msg = errorOf(file(name, text));
    expect(msg).toContain(name);
    for (const w of wanted) expect(msg).toContain(w);
  });

  it('says so when the file does not exist', () => {
    expect(() => readScenarioFile(join(dir, 'missing.yaml'))).toThrow(/missing\.yaml[\s\S]*no such file/);
  });
});
