import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { CommanderError } from 'commander';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildProgram } from '../../src/cli/main.ts';
import { loadScenario } from '../../src/scenarios/file.ts';
import { parseScenario, ScenarioError } from '../../src/scenarios/schema.ts';

// Bad input, generated: every input is either accepted or refused with a clear error (a ScenarioError
// naming the field, or commander's usage error), never another exception, never a hang. Fixed seeds,
// bounded runs.

let dir: string;
beforeAll(() => (dir = mkdtempSync(join(tmpdir(), 'haltlab-fuzz-'))));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const clear = (e: unknown) => {
  if (e instanceof ScenarioError) {
    expect(e.message).toMatch(/^(invalid scenario|invalid override|invalid policy|invalid sweep|invalid fault|invalid option|unknown scenario|cannot run)/);
    expect(e.issues.length).toBeGreaterThan(0);
    return;
  }
  if (e instanceof CommanderError) return;
  throw e;
};

// Values of every kind, biased toward the edges.
const value = fc.oneof(
  fc.integer({ min: -10, max: 10 }),
  fc.constantFrom(0, -1, 1e9, 1e12, 2 ** 31, -(2 ** 31), 0.5, Number.MAX_SAFE_INTEGER, 1e-9),
  fc.double(),
  fc.string({ maxLength: 8 }),
  fc.constantFrom('6.10', '6.11', 'timer-latency', 'irq-wake', 'mixed', '', null, true, [], {}),
);
const tree = fc.letrec<{ node: unknown }>((tie) => ({
  node: fc.oneof({ depthSize: 'small' }, value, fc.dictionary(fc.constantFrom('name', 'duration_s', 'host', 'vm', 'workload', 'kvm', 'pcpus', 'vcpus', 'kind', 'halt_poll_ns', 'gap_ns', 'delta_ns', 'jitter', 'seed', 'kernel', 'bogus'), tie('node'), { maxKeys: 5 })),
}));

describe('fuzzing the scenario loader', () => {
  it('accepts or refuses every object clearly', () => {
    fc.assert(
      fc.property(tree.node, (input) => {
        try {
          parseScenario(input, 'fuzz');
        } catch (e) {
          clear(e);
        }
      }),
      { seed: 42, numRuns: 500 },
    );
  });

  it('accepts or refuses every file text clearly', () => {
    let n = 0;
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 80 }), tree.node.map((t) => JSON.stringify(t) ?? '')), fc.constantFrom('.json', '.yaml', '.yml'), (text, ext) => {
        const path = join(dir, `f${n++}${ext}`);
        writeFileSync(path, text);
        try {
          loadScenario(path);
        } catch (e) {
          clear(e);
          expect((e as Error).message).toContain(path);
        }
      }),
      { seed: 7, numRuns: 300 },
    );
  });
});

describe('fuzzing the command line', () => {
  const word = fc.oneof(
    fc.constantFrom('run', 'compare', 'sweep', 'stress', 'show', 'list', 'timer-latency', 'irq-wake', 'mixed', 'poll', 'no-poll', 'nope.yaml'),
    fc.constantFrom('--vcpus', '--pcpus', '--duration', '--interval', '--halt-poll-ns', '--halt-poll-ns-shrink', '--cap-halt-poll', '--kernel', '--set', '--fault', '--scenario', '--steps', '--cpu-budget', '--watchdog-ms', '--bogus', '-x'),
    fc.constantFrom('0', '-1', '2', '1e9', 'NaN', 'Infinity', '300', 'abc', '', 'halt_poll_ns=0', 'halt_poll_ns=0..100', 'a=b', 'throw:vcpu0@1', 'hang:nobody', '6.10', '0.5'),
    fc.string({ maxLength: 6 }),
  );

  // Mostly well-formed shapes (a command, then flag/value pairs) with bad values, and some noise.
  const command = fc.constantFrom(['run'], ['run', 'irq-wake'], ['run', 'nope.yaml'], ['compare', 'poll', 'no-poll'], ['compare', 'poll'], ['sweep', 'halt_poll_ns=0..100'], ['stress'], ['show', 'mixed'], ['bench']);
  const sharedFlag = fc.constantFrom('--vcpus', '--pcpus', '--duration', '--interval', '--halt-poll-ns', '--halt-poll-ns-shrink', '--cap-halt-poll', '--set');
  const number = fc.oneof(fc.integer({ min: -5, max: 400 }).map(String), fc.constantFrom('0', '1e9', '0.5', '300', '1e-3', '2'));
  const pair = fc.oneof({ arbitrary: fc.tuple(sharedFlag, number), weight: 3 }, { arbitrary: fc.tuple(word.filter((w) => w.startsWith('--')), word), weight: 1 });
  const argv = fc.oneof(
    { arbitrary: fc.tuple(command, fc.array(pair, { maxLength: 3 })).map(([c, ps]) => [...c, ...ps.flat()]), weight: 3 },
    { arbitrary: fc.array(word, { maxLength: 7 }), weight: 1 },
  );

  it('accepts or refuses every argument list clearly, without starting a thread', async () => {
    const seen = { accepted: 0, scenario: 0, usage: 0 };
    await fc.assert(
      fc.asyncProperty(argv, async (args) => {
        const code = process.exitCode;
        try {
          await buildProgram({ validateOnly: true, quietErrors: true }).parseAsync(['node', 'haltlab', ...args]);
          seen.accepted++;
        } catch (e) {
          clear(e);
          if (e instanceof ScenarioError) seen.scenario++;
          else seen.usage++;
        } finally {
          process.exitCode = code;
        }
      }),
      { seed: 1234, numRuns: 400 },
    );
    // The generator reaches every layer: accepted lists, scenario-level refusals, usage errors.
    expect(seen.accepted).toBeGreaterThan(20);
    expect(seen.scenario).toBeGreaterThan(20);
    expect(seen.usage).toBeGreaterThan(20);
  });
});
