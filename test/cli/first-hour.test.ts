import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { buildProgram } from '../../src/cli/main.ts';
import { outputPathProblem } from '../../src/cli/output-paths.ts';
import { haltlab } from './haltlab-process.ts';

// Issue 15, "a newcomer's first hour": each problem as the command that showed it, run as a user
// runs it (a process of its own in an empty folder), now answered as it should be.

let dir: string;
beforeAll(() => (dir = mkdtempSync(join(tmpdir(), 'haltlab-first-hour-'))));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A fresh empty folder to run in, so that anything written shows. */
const cwd = () => mkdtempSync(join(dir, 'cwd-'));
const noStack = (stderr: string) => expect(stderr).not.toMatch(/\n\s+at /);

/**
 * Refused in-process, as main() would report it (a process each costs seconds here): the
 * error's message. Only for input that is refused before anything runs.
 */
async function refusal(args: string[]): Promise<string> {
  try {
    await buildProgram({ quietErrors: true }).parseAsync(['node', 'haltlab', ...args]);
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error(`haltlab ${args.join(' ')} was not refused`);
}

describe('1. nothing is written unless a flag names the file', () => {
  it('sweep draws its SVG only with --svg', async () => {
    const here = cwd();
    const r = await haltlab(['sweep', 'halt_poll_ns=0,200000', '--vcpus', '1', '--duration', '0.3', '--quiet'], { cwd: here, timeoutMs: 60_000 });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('knee');
    expect(readdirSync(here)).toEqual([]);
  });

  it('the demo stopped by --duration prints its summary and writes nothing', async () => {
    const here = cwd();
    const r = await haltlab(['demo', 'irq-wake', '--vcpus', '1', '--duration', '1'], { cwd: here, timeoutMs: 60_000 });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('stopped by duration');
    expect(r.stdout).toMatch(/^1 +[\d.]+ +[\d.]+ +boot /m);
    expect(readdirSync(here)).toEqual([]);
  });

  it('git ignores what the tools and tests leave in the work tree', () => {
    const root = new URL('../..', import.meta.url).pathname;
    const left = ['node_modules/x', 'stress-long.json', 'haltlab-0.1.0.tgz', 'trace.json', 'haltlab-timer-latency-results-2026-01-01T00-00-00-000Z.json', 'sweep-halt_poll_ns.svg', 'x.tmp', 'results/a.json', 'coverage/index.html'];
    const ignored = execFileSync('git', ['check-ignore', '--no-index', ...left], { cwd: root, encoding: 'utf8' }).trim().split('\n');
    expect(ignored).toEqual(left);
  });
});

describe('2. output paths are checked before any thread starts', () => {
  it('refuses a missing folder before running: the flag named, exit 2, no stack trace, nothing run', async () => {
    const here = cwd();
    const r = await haltlab(['run', '--duration', '1', '--trace', 'missing-dir/t.json'], { cwd: here });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--trace missing-dir/t.json: the folder missing-dir does not exist');
    expect(r.stderr).not.toContain('running'); // no thread started
    expect(r.stdout).toBe('');
    noStack(r.stderr);
    expect(readdirSync(here)).toEqual([]);
  });

  it('refuses a folder, and two flags naming one file, on every command that writes', async () => {
    const here = cwd();
    mkdirSync(join(here, 'a-folder'));
    const missing = join(here, 'missing-dir');
    for (const [args, says] of <[string[], string][]>[
      [['run', '--json', join(here, 'a-folder')], 'that is a folder'],
      [['run', '--json', join(here, 'same.json'), '--trace', join(here, 'same.json')], '--json and --trace both name'],
      [['sweep', 'halt_poll_ns=0,1000', '--svg', join(missing, 's.svg')], `--svg ${missing}/s.svg: the folder`],
      [['compare', 'poll', 'no-poll', '--json', join(missing, 'c.json')], `--json ${missing}/c.json: the folder`],
      [['stress', '--json', `${join(here, 'a-folder')}/`], 'that is a folder'],
      [['demo', '--json', join(missing, 'd.json')], `--json ${missing}/d.json: the folder`],
    ]) {
      expect(await refusal(args), args.join(' ')).toContain(says);
    }
    expect(readdirSync(here)).toEqual(['a-folder']);
  });

  it('says why a path cannot be written', () => {
    const here = cwd();
    writeFileSync(join(here, 'file'), '');
    expect(outputPathProblem(join(here, 'ok.json'))).toBeNull();
    expect(outputPathProblem(join(here, 'file'))).toBeNull(); // replaced, as asked
    expect(outputPathProblem(join(here, 'file', 'x.json'))).toMatch(/is a file, not a folder/);
    expect(outputPathProblem(here)).toMatch(/that is a folder/);
    expect(outputPathProblem('')).toMatch(/give a file name/);
  });
});

describe('4. --set', () => {
  it('a flag and a --set for the same field is an error naming both', async () => {
    const r = await haltlab(['run', '--vcpus', '8', '--set', 'vcpus=4']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--vcpus 8 and --set vcpus=4 both set vm.vcpus: give one of them');
    expect(await refusal(['run', '--guest-idle', 'poll', '--set', 'guest.idle=halt'])).toContain('--guest-idle poll and --set guest.idle=halt both set guest.idle');
    expect(await refusal(['compare', 'poll', 'no-poll', '--halt-poll-ns', '0', '--set', 'host.kvm.halt_poll_ns=5'])).toContain('--halt-poll-ns 0 and --set host.kvm.halt_poll_ns=5');
    expect(await refusal(['stress', '--interval', '50', '--set', 'gap_ns=1000'])).toContain('--interval 50 and --set gap_ns=1000 both set workload.gap_ns');
  });

  it('takes one knob, so the scenario name after it is the scenario', async () => {
    const r = await haltlab(['run', '--set', 'jitter=0.2', 'irq-wake', '--duration', '0.3', '--vcpus', '1', '--quiet', '--json']);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.scenario.name).toBe('irq-wake');
    expect(j.scenario.workload.jitter).toBe(0.2);
    // A second knob without its own --set is taken for a scenario, and the error says what to do.
    expect(await refusal(['run', '--set', 'jitter=0.2', 'seed=3'])).toContain('give it its own --set (--set seed=3)');
  });
});

describe('5. show prints every default', () => {
  it('the kvm parameters included, as the kernel and architecture set them', async () => {
    const x86 = parse((await haltlab(['show', 'timer-latency'])).stdout);
    expect(x86.host.kvm).toEqual({ halt_poll_ns: 200_000, halt_poll_ns_grow: 2, halt_poll_ns_grow_start: 10_000, halt_poll_ns_shrink: 2 });
    const arm = JSON.parse((await haltlab(['show', 'overcommit', '--json'])).stdout);
    expect(arm.host.arch).toBe('arm64');
    expect(arm.host.kvm.halt_poll_ns).toBe(500_000);
    // What show prints runs as it is.
    const here = cwd();
    writeFileSync(join(here, 'mine.yaml'), (await haltlab(['show', 'irq-wake'])).stdout);
    const r = await haltlab(['run', 'mine.yaml', '--duration', '0.3', '--vcpus', '1', '--quiet', '--json'], { cwd: here });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).scenario.host.kvm.halt_poll_ns).toBe(200_000);
  });
});

describe('6. bad input is an error naming the field, never a stack trace', () => {
  it('empty files, folders, a file that is not a mapping, --watchdog-ms 0', async () => {
    const here = cwd();
    writeFileSync(join(here, 'empty.yaml'), '# nothing yet\n');
    writeFileSync(join(here, 'empty.json'), '');
    writeFileSync(join(here, 'list.yaml'), '- a\n- b\n');
    mkdirSync(join(here, 'scenarios.yaml'));
    const empty = await haltlab(['run', 'empty.yaml'], { cwd: here });
    expect(empty.code).toBe(2);
    expect(empty.stderr).toContain('(top level): the file is empty');
    noStack(empty.stderr);
    for (const [args, says] of <[string[], string][]>[
      [['run', join(here, 'empty.json')], '(top level): the file is empty'],
      [['show', join(here, 'list.yaml')], '(top level): a scenario is a mapping of fields, got a list'],
      [['run', join(here, 'scenarios.yaml')], 'a folder, not a scenario file'],
      [['stress', '--watchdog-ms', '0'], '--watchdog-ms takes a whole number of ms, at least 100, got "0"'],
    ]) {
      expect(await refusal(args), args.join(' ')).toContain(says);
    }
  });
});

describe('7. exit codes and colour', () => {
  it('2 for every usage error, commander’s too; 0 for help and version; the help says what 130 means', async () => {
    for (const args of [['run', '--duration', 'abc'], ['no-such-command'], []]) {
      const r = await haltlab(args);
      expect(r.code, args.join(' ')).toBe(2);
      noStack(r.stderr);
    }
    expect((await haltlab(['--version'])).code).toBe(0);
    const helped = await haltlab(['--help']);
    expect(helped.code).toBe(0);
    const help = helped.stdout;
    expect(help).toMatch(/Exit status: 0 done; 1 a run failed .*; 2 a usage or\s+validation error, nothing run; 130 stopped by Ctrl-C/);
  });

  it('colours the verdict only when asked or on a terminal, and never under NO_COLOR', async () => {
    const env = { ...process.env };
    delete env.NO_COLOR;
    delete env.FORCE_COLOR;
    delete env.CI; // picocolors colours CI logs
    const stress = (e: NodeJS.ProcessEnv) => haltlab(['stress', '--vcpus', '2', '--duration', '0.5', '--quiet'], { env: e, timeoutMs: 60_000 });
    const piped = await stress(env);
    expect(piped.code).toBe(0);
    expect(piped.stdout).toContain('verdict: PASS');
    expect(piped.stdout).not.toContain('\x1b[');
    const forced = await stress({ ...env, FORCE_COLOR: '1' });
    expect(forced.stdout).toContain('verdict: \x1b[32mPASS\x1b[39m');
    const refused = await stress({ ...env, FORCE_COLOR: '1', NO_COLOR: '1' });
    expect(refused.stdout).not.toContain('\x1b[');
  });
});

describe('8. tables', () => {
  it('run shows every exit reason that occurred, and only those without --all', async () => {
    const r = await haltlab(['run', 'dsync-io', '--set', 'backend=synthetic', '--vcpus', '1', '--duration', '0.5', '--quiet']);
    expect(r.code).toBe(0);
    const head = r.stdout.split('\n').find((l) => /^ +exits\/s/.test(l))!;
    expect(head).toContain('IO_INSTRUCTION');
    expect(head).not.toContain('PAUSE_INSTRUCTION');
    const all = await haltlab(['run', 'dsync-io', '--set', 'backend=synthetic', '--vcpus', '1', '--duration', '0.5', '--quiet', '--all']);
    expect(all.stdout.split('\n').find((l) => /^ +exits\/s/.test(l))).toContain('PAUSE_INSTRUCTION');
  });

  it('compare counts a pCPU held by a natively idle vCPU as spent', async () => {
    const r = await haltlab(['compare', 'poll', 'hlt-in-guest', '--vcpus', '1', '--duration', '0.5', '--quiet', '--json'], { timeoutMs: 60_000 });
    expect(r.code).toBe(0);
    const c = JSON.parse(r.stdout);
    const row = (metric: string) => c.rows.find((x: { metric: string }) => x.metric === metric);
    const held = row('per vCPU, pCPU held idle included');
    const os = row('per vCPU thread (OS CPU time)');
    // hlt-in-guest's thread sleeps in its native HLT, but its pCPU is held the whole run.
    expect(os.values[1]).toBeLessThan(60);
    expect(held.values[1]).toBeGreaterThan(90);
    expect(held.best).not.toContain(1);
    expect(os.best).toEqual([]); // the OS figure alone is no longer a race to win
  });
});
