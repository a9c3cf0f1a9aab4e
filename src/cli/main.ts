import { availableParallelism } from 'node:os';
import { MAX_KVM_VCPUS } from '../real-kvm/kvm-vm.ts';
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { writeFileSync } from 'node:fs';
import { BACKENDS, haltlabVersion, type AnyRunResult, type Backend } from '../host/results.ts';
import { BUILTIN_SCENARIOS } from '../scenarios/builtin.ts';
import { loadScenario, resolveScenario, scenarioAsYaml, scenarioInFull } from '../scenarios/file.ts';
import { applyOverrides, KNOB_DOCS, knobPath, type Override } from '../scenarios/overrides.ts';
import { parsePolicy, POLICIES } from '../scenarios/policies.ts';
import { parseScenario, ScenarioError, type Scenario } from '../scenarios/schema.ts';
import { policyScenarios, renderCompare, runCompare } from './compare.ts';
import { deliver, execute, progressLine, progressWanted, sigintSession } from './execute.ts';
import { checkOutputPaths } from './output-paths.ts';
import { addScenarioOptions, number, overridesFromFlags, workloadKind, type ScenarioFlags } from './scenario-options.ts';
import { renderAnyRun } from './kvm-table.ts';
import { parseSweepSpec, renderSweep, runSweep, sweepScenarios } from './sweep.ts';
import { parseFault } from '../host/faults.ts';
import { checkLimits } from '../host/limits.ts';
import { renderStress, runStress } from './stress.ts';
import { sweepSvg } from '../sweep/svg.ts';

/** haltlab's command line: a thin layer over createVm(scenario).run() and the scenario files. */

interface OutputFlags {
  json?: string | boolean;
  quiet?: boolean;
  all?: boolean;
}

/**
 * The scenario named (built-in or file) with the command line's overrides,
 * validated before any thread starts. `defaults` are the command's own
 * (stress: 64 vCPUs), applied under the flags like the file's values.
 */
function scenarioFrom(nameOrPath: string, flags: ScenarioFlags, defaults: Override[] = []) {
  const { input, source } = resolveScenario(nameOrPath);
  const base = applyOverrides(input, defaults);
  const withFlags = applyOverrides(base, overridesFromFlags(workloadKind(base), flags));
  return { input: withFlags, source, scenario: parseScenario(withFlags, source) };
}

/** The exit status: 0 completed, 1 failed (a crashed actor), 130 stopped by Ctrl-C (the shell's 128 + SIGINT). */
export const EXIT = { ok: 0, failed: 1, usage: 2, interrupted: 130 } as const;

function exitCodeOf(status: AnyRunResult['status']): number {
  return status === 'failed' ? EXIT.failed : status === 'interrupted' ? EXIT.interrupted : EXIT.ok;
}

function reportFailure(r: AnyRunResult): void {
  if (r.status !== 'failed') return;
  process.stderr.write(`haltlab: run failed in ${r.failure?.actor}: ${r.failure?.message}\n`);
  if (r.failure?.stack) process.stderr.write(`${r.failure.stack}\n`);
}

/** `--backend`: one backend, or with `list`, several (compare, sweep). Checked before any thread starts. */
function parseBackends(text: string | undefined, list: boolean): Backend[] {
  const names = (text ?? 'model').split(',').map((b) => b.trim());
  const bad = names.filter((b) => !(BACKENDS as readonly string[]).includes(b));
  if (bad.length || !names.length) throw new ScenarioError([`--backend ${text}: ${list ? 'one or more of' : 'one of'} ${BACKENDS.join(', ')}`], 'command line', 'invalid option');
  if (!list && names.length > 1) throw new ScenarioError([`--backend ${text}: this command runs on one backend (compare and sweep take several)`], 'command line', 'invalid option');
  return [...new Set(names)] as Backend[];
}

/** The scenario can run on each backend asked for: for `kvm`, a usable /dev/kvm and only knobs real KVM applies. */
async function checkBackends(backends: Backend[], scenarios: Scenario[]): Promise<void> {
  if (!backends.includes('kvm')) return;
  const { checkKvmScenario } = await import('../real-kvm/run.ts');
  const { probeHostKvm } = await import('../real-kvm/host-kvm.ts');
  const host = probeHostKvm();
  for (const s of scenarios) checkKvmScenario(s, host);
}

async function runCommand(
  nameOrPath: string,
  flags: ScenarioFlags & OutputFlags & { trace?: string; fault?: string[]; backend?: string },
  validateOnly: boolean,
): Promise<number> {
  const { scenario } = scenarioFrom(nameOrPath, flags);
  const faults = (flags.fault ?? []).map(parseFault);
  const [backend] = parseBackends(flags.backend, false);
  if (backend === 'model') checkLimits(scenario, { trace: flags.trace !== undefined });
  await checkBackends([backend], [scenario]);
  checkOutputPaths([
    ['--json', flags.json],
    ['--trace', flags.trace],
  ]);
  if (validateOnly) return 0;
  const session = sigintSession();
  const toStdout = flags.json === true;
  if (!toStdout && !flags.quiet) {
    process.stderr.write(
      backend === 'kvm'
        ? `haltlab: running ${scenario.name} for ${scenario.duration_s} s on ${scenario.vm.vcpus} vCPU of real KVM (/dev/kvm)…\n`
        : `haltlab: running ${scenario.name} for ${scenario.duration_s} s on ${scenario.vm.vcpus} vCPU / ${scenario.host.pcpus} pCPU…\n`,
    );
  }
  let result: AnyRunResult;
  try {
    result = await execute(scenario, { signal: session.signal, quiet: flags.quiet || toStdout, trace: flags.trace, faults, backend });
  } finally {
    session.dispose();
  }
  deliver({ json: flags.json, value: result, render: () => renderAnyRun(result, { all: flags.all }), status: result.status, what: `${scenario.name} results` });
  reportFailure(result);
  return exitCodeOf(result.status);
}

const collect = (v: string, prev: string[] = []) => [...prev, v];

/**
 * stress's own defaults, under the flags: many vCPUs queueing on few pCPUs, long enough to catch
 * a lost wakeup. On real KVM: as many vCPUs as its guest has device lines, on this machine's CPUs.
 */
const stressDefaults = (backend: Backend): Override[] =>
  (
    [
      ['vcpus', backend === 'kvm' ? MAX_KVM_VCPUS : 64],
      ['pcpus', backend === 'kvm' ? availableParallelism() : 2],
      ['duration_s', 10],
    ] as const
  ).map(([knob, value]) => ({ knob, path: knobPath(knob), value }));

/**
 * The stress watchdog samples every 200 ms, and with 64 vCPUs on 2 pCPUs a
 * sleeping vCPU's timer is routinely tens of ms late: a smaller bound reports
 * those as lost timers.
 */
const MIN_WATCHDOG_MS = 100;
function watchdogMs(text: string): number {
  const n = number('--watchdog-ms')(text);
  if (!Number.isInteger(n) || n < MIN_WATCHDOG_MS) throw new InvalidArgumentError(`--watchdog-ms takes a whole number of ms, at least ${MIN_WATCHDOG_MS}, got "${text}"`);
  return n;
}

const EXAMPLES = {
  run: `
Examples:
  haltlab run                                      # timer-latency: 2 vCPUs, 2 pCPUs, 5 s, x86 halt_poll_ns=200000
  haltlab run timer-latency --halt-poll-ns 0       # no halt polling: every halt sleeps
  haltlab run irq-wake --interval 500 --json out.json
  haltlab run irq-wake --set jitter=0.2 --set seed=7   # any scenario field (haltlab show irq-wake lists them)
  haltlab run --duration 1 --trace trace.json      # then open trace.json in https://ui.perfetto.dev
  haltlab run mine.yaml --duration 10              # a scenario file, e.g. from: haltlab show irq-wake > mine.yaml`,
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
  haltlab compare poll poll-pre-6.11 --json cmp.json
  haltlab compare poll no-poll --all               # every row, the all-zero ones too`,
  sweep: `
Values: a..b (with --steps points, default 9), a..b:step, or a list v1,v2,...

Examples:
  haltlab sweep halt_poll_ns=0..400000             # the table, a terminal sketch and the knee
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
  // Commander's rejections are thrown (main() turns them into exit 2), set before the subcommands inherit it.
  program.exitOverride();
  // For tests: print nothing.
  if (quietErrors) program.configureOutput({ writeOut: () => {}, writeErr: () => {} });
  program
    .description('What should a vCPU do when its guest has nothing to do? KVM halt polling, exits and wakeups, run on real threads.')
    .version(haltlabVersion())
    .showHelpAfterError('(add --help for usage)')
    .addHelpText(
      'after',
      `
Examples:
  haltlab run
  haltlab compare poll no-poll
  haltlab sweep halt_poll_ns=0..400000
  haltlab list

Files are written only where a flag names one (--json FILE, --trace FILE, --svg FILE, --out FILE),
each checked before anything runs.

Exit status: 0 done; 1 a run failed (an actor crashed) or stress found a problem; 2 a usage or
validation error, nothing run; 130 stopped by Ctrl-C (the shell's 128 + SIGINT), after printing what was measured.`,
    );

  const run = program
    .command('run')
    .description('run a scenario and print wake latency, timer lateness, KVM halt statistics and CPU cost per vCPU')
    .argument('[scenario]', 'a built-in scenario (haltlab list) or a .json/.yaml scenario file', 'timer-latency');
  addScenarioOptions(run)
    .option('--json [file]', 'print the results as JSON (or write them to file and print the table)')
    .option('--all', 'show every column, those that stayed zero too')
    .option('--quiet', 'no progress line')
    .option('--trace <file>', 'write a Chrome Trace Event JSON of the run (open it in ui.perfetto.dev); best for runs of a few seconds')
    .option('--fault <kind:actor@s>', 'inject a fault (testing): throw, hang or terminate an actor (host, vcpuN, iothreadN) at a time, e.g. throw:vcpu1@0.5', collect)
    .option('--backend <name>', 'model (haltlab’s model of KVM, the default) or kvm (the same scenario on this machine’s /dev/kvm: haltlab kvm tells what it offers)')
    .addHelpText('after', EXAMPLES.run)
    .action(async (scenario: string, flags: ScenarioFlags & OutputFlags & { trace?: string; fault?: string[]; backend?: string }) => {
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
    .command('knobs')
    .description('list every scenario knob (--set knob=value, compare and sweep take them), its field and what it does, from the scenario schema')
    .addHelpText('after', '\nExample:\n  haltlab knobs')
    .action(() => {
      if (validateOnly) return;
      const width = Math.max(...KNOB_DOCS.map((k) => k.knob.length));
      for (const k of KNOB_DOCS) process.stdout.write(`  ${k.knob.padEnd(width)}  ${k.doc}${k.path === k.knob ? '' : ` (${k.path})`}\n`);
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
          ? `${JSON.stringify(scenarioInFull(s), null, 2)}\n`
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
    .option('--all', 'show every row, those that are zero under every policy too')
    .option('--quiet', 'no progress')
    .option('--backend <names>', 'model (the default), kvm (this machine’s /dev/kvm), or model,kvm: every policy on each, side by side')
    .addHelpText('after', EXAMPLES.compare)
    .action(async (policyArgs: string[], flags: ScenarioFlags & OutputFlags & { scenario: string; backend?: string }) => {
      const backends = parseBackends(flags.backend, true);
      if (policyArgs.length < 2 && backends.length < 2) compare.error('haltlab compare: give at least two policies (or one policy on two backends), e.g. haltlab compare poll no-poll', { exitCode: 2 });
      const policies = policyArgs.map(parsePolicy);
      const { input, source } = scenarioFrom(flags.scenario, flags);
      const scenarios = policyScenarios(input, source, policies);
      if (backends.includes('model')) for (const s of scenarios) checkLimits(s);
      await checkBackends(backends, scenarios);
      checkOutputPaths([['--json', flags.json]]);
      if (validateOnly) return;
      const session = sigintSession();
      const toStdout = flags.json === true;
      try {
        const c = await runCompare(input, source, policies, { signal: session.signal, quiet: flags.quiet || toStdout, backends });
        deliver({ json: flags.json, value: c, render: () => renderCompare(c, { all: flags.all }), status: c.status, what: 'comparison' });
        c.policies.forEach((p) => reportFailure(p.result));
        process.exitCode = exitCodeOf(c.status);
      } finally {
        session.dispose();
      }
    });

  const sweep = program
    .command('sweep')
    .description('run a scenario at each value of one knob; latency vs host CPU in a table and a terminal sketch (and an SVG with --svg), with the knee')
    .argument('<knob=values>', 'e.g. halt_poll_ns=0..400000');
  addScenarioOptions(sweep)
    .option('--scenario <name|file>', 'the scenario to sweep', 'timer-latency')
    .option('--steps <n>', 'points in an a..b range', number('--steps'), 9)
    .option('--cpu-budget <pct>', 'report the best value whose host CPU per vCPU stays within this % of a core', number('--cpu-budget'))
    .option('--svg <file>', 'also draw the curve as a self-contained SVG file')
    .option('--json [file]', 'print the sweep as JSON (or write it to file and print the table)')
    .option('--quiet', 'no progress')
    .option('--backend <names>', 'model (the default), kvm (this machine’s /dev/kvm), or model,kvm: a curve for each on one chart')
    .addHelpText('after', EXAMPLES.sweep)
    .action(async (specText: string, flags: ScenarioFlags & OutputFlags & { scenario: string; steps: number; cpuBudget?: number; svg?: string; backend?: string }) => {
      const spec = parseSweepSpec(specText, flags.steps);
      const backends = parseBackends(flags.backend, true);
      const { input, source, scenario: base } = scenarioFrom(flags.scenario, flags);
      if (backends.includes('model')) checkLimits(base);
      await checkBackends(backends, sweepScenarios(input, source, spec));
      checkOutputPaths([
        ['--json', flags.json],
        ['--svg', flags.svg],
      ]);
      if (validateOnly) return;
      if (flags.duration === undefined && input.duration_s === undefined) input.duration_s = 2; // a sweep is many runs: shorter by default
      const session = sigintSession();
      const toStdout = flags.json === true;
      try {
        const s = await runSweep(input, source, spec, flags.cpuBudget ?? null, { signal: session.signal, quiet: flags.quiet || toStdout, backends });
        const first = s.runs[0];
        const caption = first
          ? `${s.scenario.name} · ${s.scenario.vm.vcpus} vCPU on ${s.scenario.host.pcpus} pCPU · ${s.scenario.duration_s} s per point · ${first.machine.cores} cores ${first.machine.cpu_model} · Node ${first.machine.node} · ${first.started_at.slice(0, 10)}`
          : s.scenario.name;
        if (s.points.length && flags.svg) {
          writeFileSync(flags.svg, sweepSvg(s, caption));
          if (!toStdout) process.stderr.write(`haltlab: chart written to ${flags.svg}\n`);
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
    .option(
      '--watchdog-ms <ms>',
      `how long a vCPU may stay blocked with an interrupt pending before it counts as a lost wakeup (at least ${MIN_WATCHDOG_MS})`,
      watchdogMs,
      1000,
    )
    .option('--fault <kind:actor@s>', 'inject a fault (testing): throw, hang or terminate an actor', collect)
    .option('--json [file]', 'print the report as JSON (or write it to file and print the summary)')
    .option('--quiet', 'no progress line')
    .option('--backend <name>', 'model (the default) or kvm (this machine’s /dev/kvm; 8 vCPUs by default)')
    .option('--no-baseline', 'skip the floor: as many bare ES-module workers as the run has threads, started first the same way (model backend)')
    .addHelpText(
      'after',
      `
Defaults: 64 vCPUs on 2 pCPUs for 10 s; each vCPU re-arms its deadline timer every 1 ms and a
device interrupts them in turn every ~100 µs (the mixed scenario). On real KVM (--backend kvm),
8 vCPUs on this machine's CPUs, the same guest work as real x86 code.

Examples:
  haltlab stress
  haltlab stress --vcpus 256 --duration 60 --json stress.json
  haltlab stress --vcpus 16 --duration 5 --fault hang:vcpu3@2`,
    )
    .action(async (flags: ScenarioFlags & OutputFlags & { watchdogMs: number; fault?: string[]; backend?: string; baseline: boolean }) => {
      const [backend] = parseBackends(flags.backend, false);
      const { scenario } = scenarioFrom('mixed', flags, stressDefaults(backend));
      const faults = (flags.fault ?? []).map(parseFault);
      if (backend === 'model') checkLimits(scenario, { trace: true });
      await checkBackends([backend], [scenario]);
      checkOutputPaths([['--json', flags.json]]);
      if (validateOnly) return;
      const session = sigintSession();
      const toStdout = flags.json === true;
      if (!toStdout && !flags.quiet) process.stderr.write(`haltlab: stress, ${scenario.vm.vcpus} vCPUs on ${scenario.host.pcpus} pCPUs for ${scenario.duration_s} s…\n`);
      try {
        const report = await runStress(scenario, { signal: session.signal, boundMs: flags.watchdogMs, faults, quiet: flags.quiet || toStdout, backend, baseline: flags.baseline });
        deliver({ json: flags.json, value: report, render: () => renderStress(report), status: report.result.status, what: `stress report (${report.verdict})` });
        process.exitCode = report.result.status === 'interrupted' && !report.watchdog.findings.length ? EXIT.interrupted : report.verdict === 'pass' ? EXIT.ok : EXIT.failed;
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
    .option('--json [file]', 'when stopped, print the session summary as JSON (or write it to file)')
    .option('--backend <name>', 'model (the default) or kvm: the VM on this machine’s /dev/kvm (halt_poll_ns and KVM_CAP_HALT_POLL change it live; pause; the interval reboots it)')
    .addHelpText(
      'after',
      `
The page updates 20 times a second. halt_poll_ns and its friends and KVM_CAP_HALT_POLL change
the running VM, as their real counterparts can; the guest's idle loop and the workload's interval
are the guest's own (a boot parameter, a constant of its program): changing them reboots the guest.
The demo runs until Ctrl-C, or for --duration seconds; then it prints the session summary, one
row per configuration (each knob change or reboot starts a new one; paused time is left out).

Examples:
  haltlab demo                                     # timer-latency, 2 vCPUs on 2 pCPUs
  haltlab demo irq-wake --vcpus 4 --port 8080
  haltlab demo --duration 30 --json session.json   # stops by itself after 30 s`,
    )
    .action(async (name: string, flags: ScenarioFlags & { port: number; json?: string | boolean; backend?: string }) => {
      if (!Number.isInteger(flags.port) || flags.port < 0 || flags.port > 65535) demo.error(`haltlab demo: --port takes 0..65535, got ${flags.port}`, { exitCode: 2 });
      const { input, scenario } = scenarioFrom(name, flags);
      const [backend] = parseBackends(flags.backend, false);
      if (backend === 'model') checkLimits(scenario);
      await checkBackends([backend], [scenario]);
      checkOutputPaths([['--json', flags.json]]);
      if (validateOnly) return;
      const { demoCommand } = await import('./demo.ts');
      process.exitCode = await demoCommand(input, scenario, { port: flags.port, json: flags.json, durationS: flags.duration, backend });
    });

  program
    .command('kvm')
    .description('what this machine’s /dev/kvm offers the kvm backend: presence, permission, API version, vendor module, module parameters, capabilities, TSC rate, and a verdict')
    .option('--json', 'print it as JSON')
    .addHelpText('after', '\nExamples:\n  haltlab kvm\n  haltlab kvm --json')
    .action(async (flags: { json?: boolean }) => {
      if (validateOnly) return;
      const { kvmInfo, renderKvmInfo } = await import('./kvm-info.ts');
      const info = await kvmInfo();
      process.stdout.write(flags.json ? `${JSON.stringify(info, null, 2)}\n` : `${renderKvmInfo(info)}\n`);
    });

  program
    .command('calibrate')
    .description('measure this machine’s real KVM (exit round trip, idle-vCPU wake, timer floor) beside the model’s figures and defaults; needs /dev/kvm')
    .option('--seconds <s>', 'each measurement’s run', number('--seconds'), 3)
    .option('--json [file]', 'print the calibration as JSON (or write it to file and print the table)')
    .addHelpText('after', '\nExamples:\n  haltlab calibrate\n  haltlab calibrate --seconds 5 --json calibration.json')
    .action(async (flags: { seconds: number; json?: string | boolean }) => {
      if (!(flags.seconds > 0)) throw new ScenarioError([`--seconds ${flags.seconds}: give a positive number`], 'command line', 'invalid option');
      checkOutputPaths([['--json', flags.json]]);
      const { checkKvmScenario } = await import('../real-kvm/run.ts');
      checkKvmScenario(parseScenario({ workload: { kind: 'irq-wake' }, vm: { vcpus: 1 } }));
      if (validateOnly) return;
      const { calibrate, renderCalibration } = await import('./calibrate.ts');
      const session = sigintSession();
      try {
        const tty = progressWanted(false);
        const c = await calibrate({ seconds: flags.seconds, signal: session.signal, progress: (line) => (tty ? progressLine(line) : process.stderr.write(`${line}\n`)) });
        if (tty) progressLine('');
        deliver({ json: flags.json, value: c, render: () => renderCalibration(c), status: c.status, what: 'calibration' });
        process.exitCode = exitCodeOf(c.status);
      } finally {
        session.dispose();
      }
    });

  program
    .command('findings')
    .description('re-measure each seed message’s claim and write the report (docs/findings.md and its charts); a few minutes, run it alone')
    .option('--out <file>', 'the report', 'docs/findings.md')
    .option('--quick', 'every run 15% as long (a smoke test of the report, not its figures)')
    .option('--only <ids>', 'only these findings, comma-separated (dsync-io, timer-latency, idle-cost, mwait, deferred-work, sim-loop, wfx-trap, lazy-tscdeadline, real-kvm: the model beside /dev/kvm, where this machine has it)')
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
          progress: (line) => (tty ? progressLine(line) : process.stderr.write(`${line}\n`)),
        });
        if (tty) progressLine('');
        if (r.failed) process.stderr.write(`haltlab: ${r.failed} findings could not be measured (see the report)\n`);
        if (r.skipped) process.stderr.write(`haltlab: ${r.skipped} findings need what this machine lacks (real KVM); the report says so in their place\n`);
        process.stderr.write(`haltlab: ${r.findings} findings from ${r.runs} runs in ${r.seconds.toFixed(0)} s written to ${flags.out}${r.status === 'interrupted' ? ' (interrupted: partial)' : ''}\n`);
        process.exitCode = r.status === 'interrupted' ? EXIT.interrupted : r.failed ? EXIT.failed : EXIT.ok;
      } finally {
        session.dispose();
      }
    });

  program
    .command('bench')
    .description(
      "haltlab's own plumbing against floors measured in the same run: wake latency (blocked, polling, traced) against raw Atomics and spin, a sleeping vCPU's timer against a bare timed wait, a dsync-io request against bare metal, the exit rate; each target printed as a ratio",
    )
    .option('--json', 'print one JSON object')
    .option('--samples <n>', 'wakeups (and timer expiries) per measurement (default 5000)', number('--samples'))
    .option('--rounds <n>', 'rounds; each figure is the median over rounds (default 5)', number('--rounds'))
    .option('--trace', 'measure the rows with trace recording on, what tracing costs (the default)')
    .option('--no-trace', 'skip the rows with trace recording on')
    .addHelpText('after', '\nExamples:\n  npm run bench\n  npm run bench -- --json --rounds 3')
    .action(async (flags: { json?: boolean; samples?: number; rounds?: number; trace?: boolean }) => {
      if (validateOnly) return;
      const { runBench } = await import('../../bench/wake.ts');
      process.exitCode = await runBench(flags);
    });
  return program;
}

/**
 * Run the command line; bad input is reported in a few lines with exit code
 * 2, never as a stack trace, whether haltlab refused it or commander did.
 */
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
      process.exitCode = EXIT.usage;
    } else if (e instanceof CommanderError) {
      // Commander has printed its message; --help and --version are its successes (exit code 0).
      process.exitCode = e.exitCode === 0 ? EXIT.ok : EXIT.usage;
    } else throw e;
  }
}
