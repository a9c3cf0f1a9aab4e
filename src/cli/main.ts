import { Command } from 'commander';
import { writeFileSync } from 'node:fs';
import { haltlabVersion, type RunResult } from '../host/results.ts';
import { BUILTIN_SCENARIOS } from '../scenarios/builtin.ts';
import { loadScenario, resolveScenario, scenarioAsYaml } from '../scenarios/file.ts';
import { applyOverrides } from '../scenarios/overrides.ts';
import { parsePolicy, POLICIES } from '../scenarios/policies.ts';
import { parseScenario, ScenarioError } from '../scenarios/schema.ts';
import { renderCompare, runCompare } from './compare.ts';
import { deliver, execute, progressWanted, sigintSession } from './execute.ts';
import { addScenarioOptions, number, overridesFromFlags, workloadKind, type ScenarioFlags } from './scenario-options.ts';
import { renderRun } from './table.ts';
import { parseSweepSpec, renderSweep, runSweep } from './sweep.ts';
import { parseFault } from '../host/faults.ts';
import { checkLimits } from '../host/limits.ts';
import { renderStress, runStress } from './stress.ts';
import { sweepSvg } from './sweep-svg.ts';

/** haltlab's command line: a thin layer over createVm(scenario).run() and the scenario files. */

interface OutputFlags {
  json?: string | boolean;
  quiet?: boolean;
}

/** The scenario named (built-in or file) with the command line's overrides, validated before any thread starts. */
function scenarioFrom(nameOrPath: string, flags: ScenarioFlags) {
  const { input, source } = resolveScenario(nameOrPath);
  const withFlags = applyOverrides(input, overridesFromFlags(workloadKind(input), flags));
  return { input: withFlags, source, scenario: parseScenario(withFlags, source) };
}

function exitCodeOf(status: RunResult['status']): number {
  return status === 'failed' ? 1 : status === 'interrupted' ? 130 : 0;
}

function reportFailure(r: RunResult): void {
  if (r.status !== 'failed') return;
  process.stderr.write(`haltlab: run failed in ${r.failure?.actor}: ${r.failure?.message}\n`);
  if (r.failure?.stack) process.stderr.write(`${r.failure.stack}\n`);
}

async function runCommand(
  nameOrPath: string,
  flags: ScenarioFlags & OutputFlags & { trace?: string; fault?: string[] },
  validateOnly: boolean,
): Promise<number> {
  const { scenario } = scenarioFrom(nameOrPath, flags);
  const faults = (flags.fault ?? []).map(parseFault);
  checkLimits(scenario, { trace: flags.trace !== undefined });
  if (validateOnly) return 0;
  const session = sigintSession();
  const toStdout = flags.json === true;
  if (!toStdout && !flags.quiet) {
    process.stderr.write(`haltlab: running ${scenario.name} for ${scenario.duration_s} s on ${scenario.vm.vcpus} vCPU / ${scenario.host.pcpus} pCPU…\n`);
  }
  let result: RunResult;
  try {
    result = await execute(scenario, { signal: session.signal, quiet: flags.quiet || toStdout, trace: flags.trace, faults });
  } finally {
    session.dispose();
  }
  deliver({ json: flags.json, value: result, render: () => renderRun(result), status: result.status, what: `${scenario.name} results` });
  reportFailure(result);
  return exitCodeOf(result.status);
}

const collect = (v: string, prev: string[] = []) => [...prev, v];

const EXAMPLES = {
  run: `
Examples:
  haltlab run                                      # timer-latency: 2 vCPUs, 2 pCPUs, 5 s, x86 halt_poll_ns=200000
  haltlab run timer-latency --halt-poll-ns 0       # no halt polling: every halt sleeps
  haltlab run irq-wake --interval 500 --json out.json
  haltlab run --duration 1 --trace trace.json        # then open trace.json in https://ui.perfetto.dev
  haltlab run my-scenario.yaml --duration 10       # a scenario file (start from: haltlab show irq-wake)`,
  show: `
Examples:
  haltlab show timer-latency > mine.yaml           # then edit mine.yaml and: haltlab run mine.yaml
  haltlab show irq-wake --json`,
  compare: `
Policies are names (below) or overrides knob=value[,knob=value]:
${Object.entries(POLICIES)
  .map(([k, v]) => `  ${k.padEnd(14)} ${v.summary}`)
  .join('\n')}

Examples:
  haltlab compare poll no-poll                     # how much latency halt polling buys, and its CPU cost
  haltlab compare poll no-poll halt_poll_ns=50000 --scenario irq-wake --duration 3
  haltlab compare poll poll-pre-6.11 --json cmp.json`,
  sweep: `
Values: a..b (with --steps points, default 9), a..b:step, or a list v1,v2,...

Examples:
  haltlab sweep halt_poll_ns=0..400000             # writes sweep-halt_poll_ns.svg and prints the knee
  haltlab sweep halt_poll_ns=0,10000,50000,200000 --scenario irq-wake --cpu-budget 30
  haltlab sweep halt_poll_ns_grow_start=1000..50000 --steps 6 --duration 2 --svg grow.svg --json grow.json`,
};

/**
 * The program. With `validateOnly`, every command parses and validates its
 * input (scenario, overrides, policies, faults, limits) and returns without
 * starting a thread: the fuzz tests drive it so.
 */
export function buildProgram({ validateOnly = false, quietErrors = false } = {}): Command {
  const program = new Command('haltlab');
  // For tests: throw instead of exiting, and print nothing (set before the subcommands inherit it).
  if (quietErrors) program.exitOverride().configureOutput({ writeOut: () => {}, writeErr: () => {} });
  program
    .description('What should a vCPU do when its guest has nothing to do? KVM halt polling, exits and wakeups, run on real threads.')
    .version(haltlabVersion())
    .showHelpAfterError('(add --help for usage)')
    .addHelpText('after', '\nExamples:\n  haltlab run\n  haltlab compare poll no-poll\n  haltlab sweep halt_poll_ns=0..400000\n  haltlab list');

  const run = program
    .command('run')
    .description('run a scenario and print wake latency, timer lateness, KVM halt statistics and CPU cost per vCPU')
    .argument('[scenario]', 'a built-in scenario (haltlab list) or a .json/.yaml scenario file', 'timer-latency');
  addScenarioOptions(run)
    .option('--json [file]', 'print the results as JSON (or write them to file and print the table)')
    .option('--quiet', 'no progress line')
    .option('--trace <file>', 'write a Chrome Trace Event JSON of the run (open it in ui.perfetto.dev); best for runs of a few seconds')
    .option('--fault <kind:actor@s>', 'inject a fault (testing): throw, hang or terminate an actor (host, vcpuN, iothreadN) at a time, e.g. throw:vcpu1@0.5', collect)
    .addHelpText('after', EXAMPLES.run)
    .action(async (scenario: string, flags: ScenarioFlags & OutputFlags & { trace?: string; fault?: string[] }) => {
      process.exitCode = await runCommand(scenario, flags, validateOnly);
    });

  program
    .command('list')
    .description('list the built-in scenarios and the named policies of compare')
    .addHelpText('after', '\nExample:\n  haltlab list')
    .action(() => {
      if (validateOnly) return;
      const width = Math.max(...[...Object.keys(BUILTIN_SCENARIOS), ...Object.keys(POLICIES)].map((k) => k.length));
      process.stdout.write('scenarios (haltlab run NAME, haltlab show NAME):\n');
      for (const [name, w] of Object.entries(BUILTIN_SCENARIOS)) process.stdout.write(`  ${name.padEnd(width)}  ${w.summary}\n`);
      process.stdout.write('policies (haltlab compare NAME NAME...):\n');
      for (const [name, p] of Object.entries(POLICIES)) process.stdout.write(`  ${name.padEnd(width)}  ${p.summary}\n`);
    });

  program
    .command('show')
    .description('print a built-in scenario in full, every default filled in, as a file to start from')
    .argument('<scenario>', 'a built-in scenario (haltlab list) or a scenario file')
    .option('--json', 'JSON instead of YAML')
    .addHelpText('after', EXAMPLES.show)
    .action((name: string, flags: { json?: boolean }) => {
      const s = loadScenario(name);
      if (validateOnly) return;
      const about = BUILTIN_SCENARIOS[name];
      process.stdout.write(
        flags.json
          ? `${JSON.stringify(s, null, 2)}\n`
          : scenarioAsYaml(s, about ? `haltlab scenario ${name}: ${about.summary}\nsource: ${about.source}\nrun it with: haltlab run FILE` : undefined),
      );
    });

  const compare = program
    .command('compare')
    .description('run one scenario under two or more policies, one after another, and compare them in one table')
    .argument('<policies...>', 'policy names or knob=value overrides (at least two)');
  addScenarioOptions(compare)
    .option('--scenario <name|file>', 'the scenario the policies run on', 'timer-latency')
    .option('--json [file]', 'print the comparison as JSON (or write it to file and print the table)')
    .option('--quiet', 'no progress')
    .addHelpText('after', EXAMPLES.compare)
    .action(async (policyArgs: string[], flags: ScenarioFlags & OutputFlags & { scenario: string }) => {
      if (policyArgs.length < 2) compare.error('haltlab compare: give at least two policies, e.g. haltlab compare poll no-poll', { exitCode: 2 });
      const policies = policyArgs.map(parsePolicy);
      const { input, source } = scenarioFrom(flags.scenario, flags);
      for (const p of policies) checkLimits(parseScenario(applyOverrides(input, p.overrides), `${source} + policy ${p.label}`));
      if (validateOnly) return;
      const session = sigintSession();
      const toStdout = flags.json === true;
      try {
        const c = await runCompare(input, source, policies, { signal: session.signal, quiet: flags.quiet || toStdout });
        const color = progressWanted(flags.quiet) && process.stdout.isTTY === true;
        deliver({ json: flags.json, value: c, render: () => renderCompare(c, color), status: c.status, what: 'comparison' });
        c.policies.forEach((p) => reportFailure(p.result));
        process.exitCode = exitCodeOf(c.status);
      } finally {
        session.dispose();
      }
    });

  const sweep = program
    .command('sweep')
    .description('run a scenario at each value of one knob; latency vs host CPU as an SVG and a terminal sketch, with the knee')
    .argument('<knob=values>', 'e.g. halt_poll_ns=0..400000');
  addScenarioOptions(sweep)
    .option('--scenario <name|file>', 'the scenario to sweep', 'timer-latency')
    .option('--steps <n>', 'points in an a..b range', number('--steps'), 9)
    .option('--cpu-budget <pct>', 'report the best value whose host CPU per vCPU stays within this % of a core', number('--cpu-budget'))
    .option('--svg <file>', 'where to write the chart (default sweep-KNOB.svg)')
    .option('--json [file]', 'print the sweep as JSON (or write it to file and print the table)')
    .option('--quiet', 'no progress')
    .addHelpText('after', EXAMPLES.sweep)
    .action(async (specText: string, flags: ScenarioFlags & OutputFlags & { scenario: string; steps: number; cpuBudget?: number; svg?: string }) => {
      const spec = parseSweepSpec(specText, flags.steps);
      const { input, source, scenario: base } = scenarioFrom(flags.scenario, flags);
      checkLimits(base);
      if (validateOnly) return;
      if (flags.duration === undefined && input.duration_s === undefined) input.duration_s = 2; // a sweep is many runs: shorter by default
      const session = sigintSession();
      const toStdout = flags.json === true;
      try {
        const s = await runSweep(input, source, spec, flags.cpuBudget ?? null, { signal: session.signal, quiet: flags.quiet || toStdout });
        const first = s.runs[0];
        const caption = first
          ? `${s.scenario.name} · ${s.scenario.vm.vcpus} vCPU on ${s.scenario.host.pcpus} pCPU · ${s.scenario.duration_s} s per point · ${first.machine.cores} cores ${first.machine.cpu_model} · Node ${first.machine.node} · ${first.started_at.slice(0, 10)}`
          : s.scenario.name;
        if (s.points.length) {
          const svgPath = flags.svg ?? `sweep-${spec.knob}.svg`;
          writeFileSync(svgPath, sweepSvg(s, caption));
          if (!toStdout) process.stderr.write(`haltlab: chart written to ${svgPath}\n`);
        }
        deliver({ json: flags.json, value: s, render: () => renderSweep(s), status: s.status, what: 'sweep' });
        s.runs.forEach(reportFailure);
        process.exitCode = exitCodeOf(s.status);
      } finally {
        session.dispose();
      }
    });

  const stress = program
    .command('stress')
    .description('many vCPUs on few pCPUs, timers and device interrupts at once, watched while it runs; a pass/fail verdict (non-zero exit on fail)');
  addScenarioOptions(stress)
    .option('--watchdog-ms <ms>', 'how long a vCPU may stay blocked with an interrupt pending before it counts as a lost wakeup', number('--watchdog-ms'), 1000)
    .option('--fault <kind:actor@s>', 'inject a fault (testing): throw, hang or terminate an actor', collect)
    .option('--json [file]', 'print the report as JSON (or write it to file and print the summary)')
    .option('--quiet', 'no progress line')
    .addHelpText(
      'after',
      `
Defaults: 64 vCPUs on 2 pCPUs for 10 s; each vCPU re-arms its deadline timer every 1 ms and a
device interrupts them in turn every ~100 µs (the mixed scenario).

Examples:
  haltlab stress
  haltlab stress --vcpus 256 --duration 60 --json stress.json
  haltlab stress --vcpus 16 --duration 5 --fault hang:vcpu3@2`,
    )
    .action(async (flags: ScenarioFlags & OutputFlags & { watchdogMs: number; fault?: string[] }) => {
      const withDefaults: ScenarioFlags = { vcpus: 64, pcpus: 2, duration: 10, ...Object.fromEntries(Object.entries(flags).filter(([, v]) => v !== undefined)) };
      const { scenario } = scenarioFrom('mixed', withDefaults);
      const faults = (flags.fault ?? []).map(parseFault);
      checkLimits(scenario, { trace: true });
      if (validateOnly) return;
      const session = sigintSession();
      const toStdout = flags.json === true;
      if (!toStdout && !flags.quiet) process.stderr.write(`haltlab: stress, ${scenario.vm.vcpus} vCPUs on ${scenario.host.pcpus} pCPUs for ${scenario.duration_s} s…\n`);
      try {
        const report = await runStress(scenario, { signal: session.signal, boundMs: flags.watchdogMs, faults, quiet: flags.quiet || toStdout });
        deliver({ json: flags.json, value: report, render: () => renderStress(report), status: report.result.status, what: `stress report (${report.verdict})` });
        process.exitCode = report.verdict === 'pass' ? 0 : 1;
      } finally {
        session.dispose();
      }
    });

  const demo = program
    .command('demo')
    .description('run a scenario until stopped and show it live in a local web page: vCPU states, wake latency, KVM counters, controls')
    .argument('[scenario]', 'a built-in scenario (haltlab list) or a .json/.yaml scenario file', 'timer-latency');
  addScenarioOptions(demo)
    .option('--port <n>', 'port on 127.0.0.1 (0: a free one)', number('--port'), 0)
    .option('--json [file]', 'when stopped, print the results as JSON (or write them to file)')
    .addHelpText(
      'after',
      `
The page updates 20 times a second. halt_poll_ns and its friends and KVM_CAP_HALT_POLL change
the running VM, as their real counterparts can; the guest's idle loop and the workload's interval
are the guest's own (a boot parameter, a constant of its program): changing them reboots the guest.

Examples:
  haltlab demo                                     # timer-latency, 2 vCPUs on 2 pCPUs
  haltlab demo irq-wake --vcpus 4 --port 8080`,
    )
    .action(async (name: string, flags: ScenarioFlags & { port: number; json?: string | boolean }) => {
      if (!Number.isInteger(flags.port) || flags.port < 0 || flags.port > 65535) demo.error(`haltlab demo: --port takes 0..65535, got ${flags.port}`, { exitCode: 2 });
      const { input, scenario } = scenarioFrom(name, flags);
      checkLimits(scenario);
      if (validateOnly) return;
      const { demoCommand } = await import('./demo.ts');
      // The demo runs until it is stopped: a duration is a knob nothing reads.
      const warnings = flags.duration !== undefined ? [`--duration ${flags.duration} does nothing here: the demo runs until stopped (Ctrl-C)`] : [];
      for (const w of warnings) process.stderr.write(`haltlab demo: warning: ${w}\n`);
      process.exitCode = await demoCommand(input, scenario, flags, warnings);
    });

  program
    .command('findings')
    .description('re-measure each seed message’s claim and write the report (docs/findings.md and its charts); a few minutes, run it alone')
    .option('--out <file>', 'the report', 'docs/findings.md')
    .option('--quick', 'every run 15% as long (a smoke test of the report, not its figures)')
    .option('--only <ids>', 'only these findings, comma-separated (dsync-io, timer-latency, idle-cost, mwait, deferred-work, sim-loop, wfx-trap, lazy-tscdeadline)')
    .addHelpText('after', '\nExample:\n  npm run findings')
    .action(async (flags: { out: string; quick?: boolean; only?: string }) => {
      const { writeFindings, checkReportPaths } = await import('../findings/report.ts');
      checkReportPaths(flags.out);
      if (validateOnly) return;
      const session = sigintSession();
      try {
        const tty = progressWanted(false);
        const r = await writeFindings({
          out: flags.out,
          scale: flags.quick ? 0.15 : 1,
          only: flags.only?.split(',').map((s) => s.trim()),
          signal: session.signal,
          progress: (line) => process.stderr.write(tty ? `\r\x1b[K${line}` : `${line}\n`),
        });
        if (tty) process.stderr.write('\r\x1b[K');
        if (r.failed) process.stderr.write(`haltlab: ${r.failed} findings could not be measured (see the report)\n`);
        process.stderr.write(`haltlab: ${r.findings} findings from ${r.runs} runs in ${r.seconds.toFixed(0)} s written to ${flags.out}${r.status === 'interrupted' ? ' (interrupted: partial)' : ''}\n`);
        process.exitCode = r.status === 'interrupted' ? 130 : r.failed ? 1 : 0;
      } finally {
        session.dispose();
      }
    });

  program
    .command('bench')
    .description('wake latency of haltlab against raw Atomics and spin baselines, measured in the same run')
    .option('--json', 'print one JSON object')
    .option('--samples <n>', 'wakeups per measurement (default 5000)', number('--samples'))
    .option('--rounds <n>', 'rounds; each figure is the median over rounds (default 5)', number('--rounds'))
    .option('--trace', 'also measure haltlab with trace recording on, and print what tracing costs')
    .addHelpText('after', '\nExamples:\n  npm run bench\n  npm run bench -- --json --rounds 3')
    .action(async (flags: { json?: boolean; samples?: number; rounds?: number; trace?: boolean }) => {
      if (validateOnly) return;
      const { runBench } = await import('../../bench/wake.ts');
      process.exitCode = await runBench(flags);
    });
  return program;
}

/** Run the command line; bad input is reported in a few lines with exit code 2, never as a stack trace. */
export async function main(argv: string[]): Promise<void> {
  // `haltlab list | head`: a closed pipe ends the output, not the process with a stack trace.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw e;
  });
  try {
    await buildProgram().parseAsync(argv);
  } catch (e) {
    if (e instanceof ScenarioError) {
      process.stderr.write(`haltlab: ${e.message}\n`);
      process.exitCode = 2;
    } else throw e;
  }
}
