import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import { buildProgram } from '../../src/cli/main.ts';
import { ScenarioError } from '../../src/scenarios/error.ts';

// Every example that --help prints (and the README's haltlab commands) runs as printed: each is
// parsed and validated by the command line in its validate-only mode (scenario, overrides,
// policies, faults, limits, output paths: everything but the run), in order, in a fresh folder,
// so that `haltlab show irq-wake > mine.yaml` really writes the file a later example runs.

const ROOT = new URL('../..', import.meta.url).pathname;
const scripts = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;

let dir: string;
const home = process.cwd();
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'haltlab-examples-'));
  process.chdir(dir);
});
afterAll(() => {
  process.chdir(home);
  rmSync(dir, { recursive: true, force: true });
});

function helpText(cmd: Command): string {
  let text = '';
  cmd.configureOutput({ writeOut: (s) => (text += s), writeErr: () => {} });
  cmd.outputHelp();
  return text;
}

/** `haltlab ARGS` or `npm run SCRIPT -- ARGS` (npm start too) as haltlab's arguments; null for anything else. */
function argsOf(line: string): string[] | null {
  const words = line.replace(/\s+#.*$/, '').trim().split(/\s+/);
  if (words[0] === 'npx') words.shift();
  if (words[0] === 'haltlab') return words.slice(1);
  const script = words[0] === 'npm' && words[1] === 'start' ? 'start' : words[0] === 'npm' && words[1] === 'run' ? words[2] : null;
  if (!script || !scripts[script]?.startsWith('node bin/haltlab.mjs')) return null;
  const rest = words.slice(words[1] === 'start' ? 2 : 3);
  return [...scripts[script].split(/\s+/).slice(2), ...(rest[0] === '--' ? rest.slice(1) : rest)];
}

/** An npm script runs in the package's folder; haltlab wherever it is typed. */
async function checkLine(line: string, args: string[]): Promise<void> {
  const npm = /^\s*npm\b/.test(line);
  if (npm) process.chdir(ROOT);
  try {
    await check(args);
  } finally {
    if (npm) process.chdir(dir);
  }
}

/** Run one example: `> FILE` really written (for the examples after it); everything else validated only. */
async function check(args: string[]): Promise<void> {
  const redirect = args.indexOf('>');
  if (redirect >= 0) {
    let out = '';
    const write = process.stdout.write.bind(process.stdout);
    process.stdout.write = ((chunk: string) => ((out += chunk), true)) as typeof process.stdout.write;
    try {
      await buildProgram({ quietErrors: true }).parseAsync(['node', 'haltlab', ...args.slice(0, redirect)]);
    } finally {
      process.stdout.write = write;
    }
    writeFileSync(args[redirect + 1], out);
    return;
  }
  try {
    await buildProgram({ validateOnly: true, quietErrors: true }).parseAsync(['node', 'haltlab', ...args]);
  } catch (e) {
    // What this machine's free memory allows, and whether it has a /dev/kvm, are the machine's, not the example's.
    if (e instanceof ScenarioError && (e.message.startsWith('cannot run (limits)') || e.message.startsWith('real KVM is not available'))) return;
    throw e;
  }
}

const helpExamples = (): { where: string; line: string }[] => {
  const program = buildProgram({ quietErrors: true });
  return [program, ...program.commands].flatMap((cmd) =>
    helpText(cmd)
      .split('\n')
      .filter((l) => /^\s+(haltlab|npm (run|start))\b/.test(l))
      .map((line) => ({ where: `haltlab ${cmd === program ? '' : `${cmd.name()} `}--help`, line })),
  );
};

const readmeExamples = (): { where: string; line: string }[] => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const blocks = [...readme.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]);
  return blocks.flatMap((b) => b.split('\n').filter((l) => /^(npx haltlab|npm (run|start))\b/.test(l)).map((line) => ({ where: 'README.md', line })));
};

describe('examples', () => {
  it('every --help has examples, and each runs as printed', async () => {
    const examples = helpExamples();
    expect(examples.length).toBeGreaterThan(20);
    const commands = new Set(examples.map((e) => e.where));
    for (const name of ['run', 'show', 'compare', 'sweep', 'stress', 'demo', 'list', 'findings', 'bench']) expect(commands).toContain(`haltlab ${name} --help`);
    // show's examples first: they write the files the others read.
    const writes = (line: string) => Number(argsOf(line)?.includes('>') ?? false);
    examples.sort((a, b) => writes(b.line) - writes(a.line));
    for (const { where, line } of examples) {
      const args = argsOf(line);
      expect(args, `${where}: ${line}`).not.toBeNull();
      await checkLine(line, args!).catch((e: Error) => {
        throw new Error(`${where}: "${line.trim()}" fails: ${e.message}`);
      });
    }
  });

  it('every haltlab command in the README runs as printed', async () => {
    const examples = readmeExamples();
    expect(examples.length).toBeGreaterThan(15);
    for (const { where, line } of examples) {
      const args = argsOf(line);
      if (!args) continue; // npm ci, npm test: not haltlab's
      await checkLine(line, args).catch((e: Error) => {
        throw new Error(`${where}: "${line.trim()}" fails: ${e.message}`);
      });
    }
  });
});
