import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// The layers of docs/architecture.md, checked on the import statements of every source file
// (static imports and re-exports, type-only ones included, dynamic import() and worker module
// URLs): a part may import only what its layer allows.

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '../src');

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return e.name === 'page' || e.name === 'node_modules' ? [] : sources(p);
    return /\.(ts|mts)$/.test(e.name) && !e.name.endsWith('.d.ts') ? [p] : [];
  });
}

/** Every project file a source file imports, as paths relative to src/. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const specs = [
    ...text.matchAll(/^\s*(?:import|export)\b[^'"`;]*?from\s*['"]([^'"]+)['"]/gm),
    ...text.matchAll(/^\s*import\s*['"]([^'"]+)['"]/gm),
    ...text.matchAll(/\bimport\(\s*['"]([^'"]+)['"]\s*\)/g),
    ...text.matchAll(/new URL\(\s*['"]([^'"]+)['"]\s*,\s*import\.meta\.url\s*\)/g),
  ].map((m) => m[1]);
  return specs.filter((s) => s.startsWith('.')).map((s) => relative(SRC, resolve(dirname(file), s)));
}

const FILES = sources(SRC).map((f) => ({ file: relative(SRC, f), imports: importsOf(f) }));

const under = (dir: string) => (path: string) => path === dir || path.startsWith(`${dir}/`);

/** A rule: files under `part` must not import anything under `forbidden`. */
const RULES: { part: string; forbidden: string[]; why: string }[] = [
  { part: 'params', forbidden: ['actors', 'host', 'guest', 'workloads', 'scenarios', 'real-kvm', 'cli', 'demo', 'findings', 'trace', 'sweep'], why: 'the module-parameter type is a leaf every layer may use' },
  { part: 'actors', forbidden: ['host', 'guest', 'workloads', 'scenarios', 'real-kvm', 'cli', 'demo', 'findings', 'trace'], why: 'the runtime knows no KVM' },
  { part: 'guest', forbidden: ['host', 'workloads', 'scenarios', 'real-kvm', 'cli', 'demo', 'findings'], why: 'the guest sees only its ISA and memory' },
  { part: 'host/sched', forbidden: ['host/kvm', 'host/vmm', 'host/vm', 'host/vm.ts', 'guest', 'workloads'], why: 'the scheduler knows tasks and callbacks, no vCPU' },
  { part: 'host/kvm', forbidden: ['host/vmm', 'host/vm', 'host/vm.ts', 'host/vm-actor.ts', 'host/host-actor.ts', 'workloads'], why: 'KVM knows no VMM' },
  ...['actors', 'guest', 'host', 'scenarios', 'trace', 'workloads', 'sweep'].map((part) => ({ part, forbidden: ['cli', 'demo', 'findings'], why: 'nothing in the model knows a screen' })),
  { part: 'findings', forbidden: ['cli', 'demo'], why: 'the findings do not import the CLI' },
];

describe('import layering', () => {
  it('finds the source files and their imports', () => {
    expect(FILES.length).toBeGreaterThan(100);
    expect(FILES.find((f) => f.file === 'host/vm.ts')?.imports).toContain('host/vm/run.ts');
  });

  for (const rule of RULES) {
    it(`${rule.part} imports nothing from ${rule.forbidden.join(', ')}: ${rule.why}`, () => {
      const bad = FILES.filter((f) => under(rule.part)(f.file)).flatMap((f) =>
        f.imports.filter((i) => rule.forbidden.some((d) => (d.endsWith('.ts') ? i === d : under(d)(i)))).map((i) => `${f.file} imports ${i}`),
      );
      expect(bad).toEqual([]);
    });
  }
});
