import { Command, InvalidArgumentError, Option } from 'commander';
import { writeFileSync } from 'node:fs';
import { KVM_PARAMS } from '../host/kvm/params.ts';
import { haltlabVersion, type RunResult } from '../host/results.ts';
import { createVm } from '../host/vm.ts';
import { WORKLOADS } from '../guest/workloads/index.ts';
import { parseScenario, ScenarioError, type ScenarioInput } from '../scenario.ts';
import { renderRun } from './table.ts';

/** haltlab's command line: a thin layer over createVm(scenario).run(). */

function int(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\s*-?\d+(\.\d+)?(e\d+)?\s*$/i.test(value) || !Number.isFinite(n)) {
      throw new InvalidArgumentError(`${name} takes a number, got "${value}"`);
    }
    return n;
  };
}

const kebab = (s: string) => s.replaceAll('_', '-');

interface RunFlags {
  vcpus?: number;
  pcpus?: number;
  duration?: number;
  interval?: number;
  kernel?: string;
  capHaltPoll?: number;
  json?: string | boolean;
  [param: string]: unknown;
}

function scenarioFromFlags(workload: string, f: RunFlags): ScenarioInput {
  const kvm: Record<string, unknown> = {};
  for (const p of KVM_PARAMS) {
    const key = p.name.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
    if (f[key] !== undefined) kvm[p.name] = f[key];
  }
  return {
    name: workload,
    ...(f.duration !== undefined && { duration_s: f.duration }),
    host: {
      ...(f.pcpus !== undefined && { pcpus: f.pcpus }),
      ...(f.kernel !== undefined && { kernel: f.kernel as '6.11' }),
      ...(f.capHaltPoll !== undefined && { kvm_cap_halt_poll: f.capHaltPoll }),
      kvm,
    },
    vm: { ...(f.vcpus !== undefined && { vcpus: f.vcpus }) },
    workload:
      workload === 'irq-wake'
        ? { kind: 'irq-wake', ...(f.interval !== undefined && { gap_ns: Math.round(f.interval * 1000) }) }
        : { kind: 'timer-latency', ...(f.interval !== undefined && { delta_ns: Math.round(f.interval * 1000) }) },
  };
}

async function runCommand(workload: string, flags: RunFlags): Promise<number> {
  if (!(workload in WORKLOADS)) {
    process.stderr.write(`haltlab: unknown scenario "${workload}"; \`haltlab list\` shows the built-in ones\n`);
    return 2;
  }
  const scenario = parseScenario(scenarioFromFlags(workload, flags), 'command line');
  const ac = new AbortController();
  const onSigint = () => {
    if (ac.signal.aborted) process.exit(130); // a second Ctrl-C: leave now
    process.stderr.write('\nhaltlab: stopping (Ctrl-C again to quit at once)…\n');
    ac.abort();
  };
  process.on('SIGINT', onSigint);
  const toStdout = flags.json === true;
  if (!toStdout) {
    process.stderr.write(`haltlab: running ${workload} for ${scenario.duration_s} s on ${scenario.vm.vcpus} vCPU / ${scenario.host.pcpus} pCPU…\n`);
  }
  let result: RunResult;
  try {
    result = await createVm(scenario).run({ signal: ac.signal });
  } finally {
    process.off('SIGINT', onSigint);
  }
  const json = JSON.stringify(result, null, 2);
  if (toStdout) process.stdout.write(`${json}\n`);
  else process.stdout.write(`${renderRun(result)}\n`);
  let saveTo = typeof flags.json === 'string' ? flags.json : undefined;
  if (!saveTo && result.status !== 'completed') saveTo = `haltlab-${workload}-${result.started_at.replace(/[:.]/g, '-')}.json`;
  if (saveTo) {
    writeFileSync(saveTo, `${json}\n`);
    process.stderr.write(`haltlab: results ${result.status === 'completed' ? '' : `(${result.status}, partial) `}saved to ${saveTo}\n`);
  }
  if (result.status === 'failed') {
    process.stderr.write(`haltlab: run failed in ${result.failure?.actor}: ${result.failure?.message}\n`);
    if (result.failure?.stack) process.stderr.write(`${result.failure.stack}\n`);
    return 1;
  }
  return result.status === 'interrupted' ? 130 : 0;
}

export function buildProgram(): Command {
  const program = new Command('haltlab')
    .description('What should a vCPU do when its guest has nothing to do? KVM halt polling, exits and wakeups, run on real threads.')
    .version(haltlabVersion())
    .showHelpAfterError('(haltlab --help for usage)');

  const run = program
    .command('run')
    .description('run a scenario and print wake latency, timer lateness, KVM halt statistics and CPU cost per vCPU')
    .argument('[scenario]', 'a built-in scenario (haltlab list)', 'timer-latency')
    .option('--vcpus <n>', 'vCPUs in the VM (one thread each)', int('--vcpus'))
    .option('--pcpus <n>', 'pCPUs the host scheduler owns', int('--pcpus'))
    .option('--duration <seconds>', 'how long to run', int('--duration'))
    .option('--interval <us>', 'the workload’s interval in µs: timer-latency’s re-arm delta, irq-wake’s mean gap between device interrupts', int('--interval'))
    .addOption(new Option('--kernel <version>', 'host kernel whose kvm module defaults apply').choices(['6.11', '6.10']))
    .option('--cap-halt-poll <ns>', 'enable KVM_CAP_HALT_POLL on the VM with this max (overrides --halt-poll-ns)', int('--cap-halt-poll'));
  for (const p of KVM_PARAMS) {
    run.option(`--${kebab(p.name)} <${p.unit}>`, `kvm.${p.name}: ${p.doc} (default ${p.default})`, int(`--${kebab(p.name)}`));
  }
  run
    .option('--json [file]', 'print the results as JSON (or write them to file and print the table)')
    .addHelpText(
      'after',
      `
Examples:
  haltlab run timer-latency                       # defaults: 2 vCPUs, 2 pCPUs, 5 s, x86 halt_poll_ns=200000
  haltlab run timer-latency --halt-poll-ns 0      # no halt polling: every halt sleeps
  haltlab run --interval 500 --duration 10 --json out.json`,
    )
    .action(async (scenario: string, flags: RunFlags) => {
      process.exitCode = await runCommand(scenario, flags);
    });

  program
    .command('list')
    .description('list the built-in scenarios')
    .action(() => {
      const width = Math.max(...Object.keys(WORKLOADS).map((k) => k.length));
      for (const [name, w] of Object.entries(WORKLOADS)) process.stdout.write(`${name.padEnd(width)}  ${w.summary}\n`);
    });

  program
    .command('bench')
    .description('wake latency of haltlab against raw Atomics and spin baselines, measured in the same run')
    .option('--json', 'print one JSON object')
    .option('--samples <n>', 'wakeups per measurement (default 5000)', int('--samples'))
    .option('--rounds <n>', 'rounds; each figure is the median over rounds (default 5)', int('--rounds'))
    .action(async (flags: { json?: boolean; samples?: number; rounds?: number }) => {
      const { runBench } = await import('../../bench/wake.ts');
      process.exitCode = await runBench(flags);
    });
  return program;
}

try {
  await buildProgram().parseAsync(process.argv);
} catch (e) {
  if (e instanceof ScenarioError) {
    process.stderr.write(`haltlab: ${e.message}\n`);
    process.exitCode = 2;
  } else throw e;
}
