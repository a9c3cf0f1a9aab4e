import pc from 'picocolors';
import { allThreadsCostPct, allThreadsCpuPct, perSecond, sumVcpuStat, vcpuCostPct, type AnyRunResult, type Backend, type RunResult } from '../host/results.ts';
import { ARM64_EXIT_REASONS, X86_EXIT_REASONS } from '../host/kvm/stats.ts';
import { applyOverrides, describeOverrides } from '../scenarios/overrides.ts';
import type { Policy } from '../scenarios/policies.ts';
import { parseScenario, ScenarioError, type Scenario, type ScenarioInput } from '../scenarios/schema.ts';
import { inertKnobs } from '../scenarios/inert.ts';
import { execute, type ExecuteOptions } from './execute.ts';
import { grid } from './table.ts';

/**
 * `haltlab compare`: the same scenario under two or more policies, one after
 * another with identical seeds, in one table whose rows are metrics and whose
 * columns are policies; the best cell of each row where "best" means something.
 */

export type Better = 'lower' | 'higher' | null;

export interface CompareRow {
  section: string;
  metric: string;
  unit: string;
  better: Better;
  values: (number | null)[];
  /** Indexes of the best cells (ties share), empty when `better` is null. */
  best: number[];
}

export interface CompareResult {
  status: 'completed' | 'interrupted' | 'failed';
  scenario: Scenario;
  /** One entry per policy and backend, policy by policy (each policy on each backend, one after another). */
  policies: { label: string; backend: Backend; overrides: string; scenario: Scenario; result: AnyRunResult }[];
  rows: CompareRow[];
}

const sumModel = (r: RunResult, k: keyof RunResult['vcpus'][number]['model']) => r.vcpus.reduce((a, v) => a + v.model[k], 0);
/** A time stat summed over the vCPUs, as % of each vCPU's wall time. */
const shareOfWall = (r: AnyRunResult, k: string) => (r.wall_s > 0 ? (100 * sumVcpuStat(r, k)) / 1e9 / r.wall_s / Math.max(1, r.vcpus.length) : 0);
/** A vCPU run state's share of each vCPU's wall time, mean over vCPUs. */
const stateShare = (r: RunResult, state: string) =>
  r.vcpus.length ? (100 * r.vcpus.reduce((a, v) => a + (v.cpu.wall_s > 0 ? (v.cpu.state_s[state] ?? 0) / v.cpu.wall_s : 0), 0)) / r.vcpus.length : 0;

interface MetricDef {
  section: string;
  metric: string;
  unit: string;
  better: Better;
  value: (r: AnyRunResult) => number | null;
  /** Only when the workload has it (in the base scenario or in any policy's). */
  when?: (s: Scenario) => boolean;
}

const isArm64 = (s: Scenario) => s.host.arch === 'arm64';
const meanVcpu = (r: RunResult, f: (v: RunResult['vcpus'][number]) => number) => r.vcpus.reduce((a, v) => a + f(v), 0) / Math.max(1, r.vcpus.length);
const idleShare = (r: RunResult, k: 'shallow_s' | 'deep_s') => (r.wall_s > 0 ? (100 * r.host.pcpu_idle.reduce((a, p) => a + p[k], 0)) / r.wall_s / Math.max(1, r.host.pcpu_idle.length) : 0);

/** A figure only the model has (its scheduler, pCPUs, own counters): no value on real KVM. */
const onModel =
  (f: (r: RunResult) => number | null) =>
  (r: AnyRunResult): number | null =>
    r.backend === 'model' ? f(r) : null;

const latency = (section: string, pick: (r: AnyRunResult) => AnyRunResult['total']['wake_latency_ns'] | null, when?: MetricDef['when']): MetricDef[] =>
  (['p50', 'p90', 'p99', 'p999', 'max'] as const).map((p) => ({
    section,
    metric: p === 'p999' ? 'p99.9' : p,
    unit: 'µs',
    better: 'lower',
    value: (r) => {
      const l = pick(r);
      return l?.count ? l[p] / 1000 : null;
    },
    when,
  }));

export const COMPARE_METRICS: MetricDef[] = [
  ...latency('wake latency', (r) => r.total.wake_latency_ns),
  ...latency('I/O request latency', (r) => r.block?.io_latency_ns ?? null, (s) => s.workload.kind === 'dsync-io'),
  ...latency('block device service time', (r) => r.block?.service_ns ?? null, (s) => s.workload.kind === 'dsync-io'),
  { section: 'throughput', metric: 'requests completed', unit: '/s', better: 'higher', value: (r) => r.block?.requests_per_s ?? null, when: (s) => s.workload.kind === 'dsync-io' },
  ...latency('timer lateness', (r) => r.total.timer_lateness_ns, (s) => s.workload.kind === 'timer-latency' || s.workload.kind === 'hrtimer-rearm' || s.workload.kind === 'idle-tick'),
  ...latency('spinlock spin time', (r) => r.spinlock?.spin_time_ns ?? null, (s) => s.workload.kind === 'spinlock'),
  { section: 'throughput', metric: 'lock acquisitions', unit: '/s', better: 'higher', value: (r) => r.spinlock?.acquisitions_per_s ?? null, when: (s) => s.workload.kind === 'spinlock' },
  ...latency('deferred work: queue wait', (r) => r.deferred?.wait_ns.all ?? null, (s) => s.workload.kind === 'deferred-work'),
  ...(['workers', 'vcpus', 'fallback'] as const).map(
    (by): MetricDef => ({
      section: 'deferred work: run by',
      metric: by === 'vcpus' ? 'idle vCPUs' : by === 'workers' ? 'workqueue threads' : 'fallback timer',
      unit: '% items',
      better: null,
      value: (r) => {
        const d = r.deferred;
        if (!d) return null;
        const all = d.done.workers + d.done.vcpus + d.done.fallback;
        return all ? (100 * d.done[by]) / all : 0;
      },
      when: (s) => s.workload.kind === 'deferred-work',
    }),
  ),
  { section: 'simulation loop', metric: 'simulated time per wall second', unit: '×', better: 'higher', value: (r) => r.sim?.sim_per_wall ?? null, when: (s) => s.workload.kind === 'sim-loop' },
  { section: 'simulation loop', metric: 'wall time blocked in the kernel', unit: '% wall', better: null, value: (r) => (r.sim ? 100 * r.sim.blocked_share : null), when: (s) => s.workload.kind === 'sim-loop' },
  { section: 'throughput', metric: 'interrupts delivered', unit: '/s', better: 'higher', value: (r) => perSecond(r, sumVcpuStat(r, 'irq_injections') + (r.backend === 'model' ? sumModel(r, 'posted_interrupts') : 0)) },
  { section: 'throughput', metric: 'of which posted (no exit)', unit: '/s', better: null, value: onModel((r) => perSecond(r, sumModel(r, 'posted_interrupts'))) },
  // The cost rows count a pCPU a vCPU holds idle in guest mode (native HLT/MWAIT, untrapped WFx) as spent:
  // its thread sleeps, but no other task can run there, so no policy looks cheap by hiding its cost.
  { section: 'host CPU', metric: 'per vCPU, pCPU held idle included', unit: '% core', better: 'lower', value: vcpuCostPct },
  { section: 'host CPU', metric: 'all threads, pCPU held idle included', unit: '% core', better: 'lower', value: allThreadsCostPct },
  { section: 'host CPU', metric: 'per vCPU thread (OS CPU time)', unit: '% core', better: null, value: (r) => r.total.host_cpu_pct_per_vcpu },
  { section: 'host CPU', metric: 'all threads (OS CPU time)', unit: '% core', better: null, value: allThreadsCpuPct },
  { section: 'exits', metric: 'all', unit: '/s', better: null, value: (r) => perSecond(r, sumVcpuStat(r, 'exits')) },
  ...[...X86_EXIT_REASONS, ...ARM64_EXIT_REASONS].map(
    (reason): MetricDef => ({
      section: 'exits',
      metric: reason,
      unit: '/s',
      better: null,
      // Real KVM has a statistic for some reasons only (halt_exits, irq_exits, io_exits...).
      value: (r) => (r.vcpus.every((v) => v.exit_reasons[reason] !== undefined) ? perSecond(r, r.vcpus.reduce((a, v) => a + (v.exit_reasons[reason] ?? 0), 0)) : null),
      when: (ARM64_EXIT_REASONS as readonly string[]).includes(reason) ? isArm64 : reason === 'INTERRUPT_WINDOW' ? undefined : (s) => !isArm64(s),
    }),
  ),
  ...(['on_spin_yield_attempted', 'on_spin_yield_successful', 'on_spin_yield_failed'] as const).map(
    (k): MetricDef => ({
      section: 'directed yield (kvm_vcpu_on_spin)',
      metric: k,
      unit: '/s',
      better: null,
      value: onModel((r) => perSecond(r, r.vcpus.reduce((a, v) => a + v.model[k], 0))),
      when: (s) => s.workload.kind === 'spinlock',
    }),
  ),
  { section: 'directed yield (kvm_vcpu_on_spin)', metric: 'ple_window (mean at end)', unit: 'cycles', better: null, value: onModel((r) => r.vcpus.reduce((a, v) => a + v.ple_window, 0) / Math.max(1, r.vcpus.length)), when: (s) => s.workload.kind === 'spinlock' },
  {
    section: 'exits',
    metric: 'lazy tscdeadline re-arms',
    unit: '/s',
    better: null,
    value: onModel((r) => perSecond(r, r.vcpus.reduce((a, v) => a + v.model.lazy_tscdeadline_rearms, 0))),
    when: (s) => s.workload.kind === 'hrtimer-rearm',
  },
  { section: 'arm64 WFx', metric: 'wfi_exit_stat', unit: '/s', better: null, value: onModel((r) => perSecond(r, sumVcpuStat(r, 'wfi_exit_stat'))), when: isArm64 },
  { section: 'arm64 WFx', metric: 'wfe_exit_stat', unit: '/s', better: null, value: onModel((r) => perSecond(r, sumVcpuStat(r, 'wfe_exit_stat'))), when: isArm64 },
  { section: 'arm64 WFx', metric: 'WFI untrapped', unit: '/s', better: null, value: onModel((r) => perSecond(r, sumModel(r, 'wfi_native'))), when: isArm64 },
  { section: 'arm64 WFx', metric: 'WFE untrapped', unit: '/s', better: null, value: onModel((r) => perSecond(r, sumModel(r, 'wfe_native'))), when: isArm64 },
  { section: 'arm64 WFx', metric: 'native_idle (pCPU kept)', unit: '% wall', better: null, value: onModel((r) => stateShare(r, 'native_idle')), when: isArm64 },
  { section: 'arm64 WFx', metric: 'loads with WFI trapped', unit: '%', better: null, value: onModel((r) => (sumModel(r, 'vcpu_loads') ? (100 * sumModel(r, 'vcpu_loads_twi')) / sumModel(r, 'vcpu_loads') : null)), when: isArm64 },
  { section: 'scheduler', metric: 'PELT util (mean)', unit: '%', better: null, value: onModel((r) => 100 * meanVcpu(r, (v) => v.sched.util)) },
  { section: 'scheduler', metric: 'guest busy (mean)', unit: '%', better: null, value: onModel((r) => 100 * meanVcpu(r, (v) => v.sched.guest_busy_share)) },
  { section: 'scheduler', metric: '|util error| (mean)', unit: '% pts', better: 'lower', value: onModel((r) => 100 * r.total.util_error_abs_mean) },
  { section: 'scheduler', metric: 'runnable, waiting for a pCPU', unit: '% wall', better: 'lower', value: onModel((r) => stateShare(r, 'runnable')) },
  { section: 'pCPU idle', metric: 'shallow', unit: '% wall', better: null, value: onModel((r) => idleShare(r, 'shallow_s')) },
  { section: 'pCPU idle', metric: 'deep (power saved)', unit: '% wall', better: 'higher', value: onModel((r) => idleShare(r, 'deep_s')) },
  { section: 'pCPU idle', metric: 'exit latency paid', unit: '% wall', better: 'lower', value: onModel((r) => (r.wall_s > 0 ? (100 * r.host.pcpu_idle.reduce((a, p) => a + p.exit_latency_s, 0)) / r.wall_s : 0)), when: (s) => s.host.cpuidle.enabled },
  { section: 'halt', metric: 'halt_exits', unit: '/s', better: null, value: (r) => perSecond(r, sumVcpuStat(r, 'halt_exits')) },
  { section: 'halt', metric: 'halt_attempted_poll', unit: '/s', better: null, value: (r) => perSecond(r, sumVcpuStat(r, 'halt_attempted_poll')) },
  { section: 'halt', metric: 'halt_successful_poll', unit: '/s', better: null, value: (r) => perSecond(r, sumVcpuStat(r, 'halt_successful_poll')) },
  { section: 'halt', metric: 'halt_wakeup', unit: '/s', better: null, value: (r) => perSecond(r, sumVcpuStat(r, 'halt_wakeup')) },
  {
    section: 'halt',
    metric: 'halt_poll_success_ns',
    unit: '% wall',
    better: null,
    value: (r) => shareOfWall(r, 'halt_poll_success_ns'),
  },
  {
    section: 'halt',
    metric: 'halt_poll_fail_ns',
    unit: '% wall',
    better: 'lower',
    value: (r) => shareOfWall(r, 'halt_poll_fail_ns'),
  },
  {
    section: 'halt',
    metric: 'halt_wait_ns',
    unit: '% wall',
    better: null,
    value: (r) => shareOfWall(r, 'halt_wait_ns'),
  },
  { section: 'halt', metric: 'halt_poll_ns (mean at end)', unit: 'ns', better: null, value: onModel((r) => r.vcpus.reduce((a, v) => a + v.halt_poll_ns, 0) / Math.max(1, r.vcpus.length)) },
  // The x86 HLT/MWAIT family: where idle time went outside KVM's halt path, and what reached the VMM.
  { section: 'idle outside KVM', metric: 'HLT/MWAIT in guest (native_idle)', unit: '% wall', better: null, value: onModel((r) => stateShare(r, 'native_idle')), when: (s) => !isArm64(s) },
  { section: 'idle outside KVM', metric: 'halted in the VMM (vmm_halted)', unit: '% wall', better: null, value: onModel((r) => stateShare(r, 'vmm_halted')) },
  { section: 'idle outside KVM', metric: 'KVM_EXIT_HLT to the VMM', unit: '/s', better: null, value: onModel((r) => perSecond(r, sumModel(r, 'kvm_exit_hlt'))) },
  { section: 'idle outside KVM', metric: 'KVM_EXIT_MWAIT to the VMM', unit: '/s', better: null, value: onModel((r) => perSecond(r, sumModel(r, 'kvm_exit_mwait'))) },
  { section: 'idle outside KVM', metric: 'MWAIT yields', unit: '/s', better: null, value: onModel((r) => perSecond(r, sumModel(r, 'mwait_yields'))) },
];

/**
 * The table's rows. "Best" is among the columns of one backend: the model and the kernel are
 * compared with each other for agreement, not ranked.
 */
export function compareRows(scenario: Scenario, results: AnyRunResult[]): CompareRow[] {
  return COMPARE_METRICS.filter((m) => !m.when || m.when(scenario) || results.some((r) => m.when!(r.scenario))).map((m) => {
    const values = results.map((r) => m.value(r));
    const best: number[] = [];
    for (const backend of new Set(results.map((r) => r.backend))) {
      const mine = values.map((v, i) => (results[i].backend === backend ? v : null));
      const present = mine.filter((v): v is number => v !== null);
      if (!m.better || present.length < 2) continue;
      const target = m.better === 'lower' ? Math.min(...present) : Math.max(...present);
      if (present.some((v) => v !== target)) best.push(...mine.flatMap((v, i) => (v === target ? [i] : [])));
    }
    return { section: m.section, metric: m.metric, unit: m.unit, better: m.better, values, best };
  });
}

/**
 * A policy that sets knobs, every one of which nothing reads in this scenario, would add a column
 * of run-to-run noise presented as its effect: refuse it, naming each knob and why it is inert.
 */
export function refuseInertPolicy(p: Policy, scenario: Scenario, source: string): void {
  if (!p.overrides.length) return;
  const inert = inertKnobs(scenario);
  const why = p.overrides.map((o) => ({ o, k: inert.find((k) => k.path.join('.') === o.path.join('.')) }));
  if (why.every((x) => x.k)) {
    throw new ScenarioError(
      [`policy "${p.label}" changes nothing in this scenario: ${why.map(({ o, k }) => `${o.knob} (${o.path.join('.')}): ${k!.why}`).join('; ')}`],
      `${source} + policy ${p.label}`,
      'invalid policy',
    );
  }
}

/** Every policy's scenario, validated (and refused if it changes nothing) before any thread starts. */
export function policyScenarios(base: ScenarioInput, source: string, policies: Policy[]): Scenario[] {
  const scenarios = policies.map((p) => parseScenario(applyOverrides(base, p.overrides), `${source} + policy ${p.label}`));
  policies.forEach((p, i) => refuseInertPolicy(p, scenarios[i], source));
  return scenarios;
}

export async function runCompare(
  base: ScenarioInput,
  source: string,
  policies: Policy[],
  opts: Omit<ExecuteOptions, 'label' | 'backend'> & { backends?: Backend[] },
): Promise<CompareResult> {
  const scenarios = policyScenarios(base, source, policies);
  const backends = opts.backends ?? ['model'];
  const out: CompareResult = { status: 'completed', scenario: parseScenario(base, source), policies: [], rows: [] };
  const runs = policies.flatMap((p, i) => backends.map((backend) => ({ p, scenario: scenarios[i], backend })));
  for (const [i, { p, scenario, backend }] of runs.entries()) {
    if (opts.signal.aborted) break;
    const label = backends.length > 1 ? `${p.label} on ${backend}` : p.label;
    if (!opts.quiet) process.stderr.write(`haltlab: policy ${i + 1}/${runs.length}: ${label}\n`);
    const result = await execute(scenario, { ...opts, backend, label: `${i + 1}/${runs.length} ${label}` });
    out.policies.push({ label: p.label, backend, overrides: describeOverrides(p.overrides), scenario, result });
    if (result.status !== 'completed') {
      out.status = result.status;
      break;
    }
  }
  out.rows = compareRows(out.scenario, out.policies.map((p) => p.result));
  return out;
}

const fmt = (v: number | null, unit: string) => {
  if (v === null) return '–';
  if (v === 0) return '0';
  if (unit === 'µs') return v < 10 ? v.toFixed(2) : v < 1000 ? v.toFixed(1) : v.toFixed(0);
  if (unit.startsWith('%')) return v.toFixed(1);
  return v >= 100 ? Math.round(v).toLocaleString('en-US') : v.toFixed(1);
};

/** A row every policy has at zero (or not at all) says nothing: hidden unless asked for. */
export const isAllZero = (r: CompareRow): boolean => r.values.every((v) => v === null || v === 0);

export function renderCompare(c: CompareResult, opts: { all?: boolean } = {}): string {
  const first = c.policies[0]?.result;
  const s = c.scenario;
  const multi = new Set(c.policies.map((p) => p.backend)).size > 1;
  const kvmRuns = c.policies.flatMap((p) => (p.result.backend === 'kvm' ? [p.result] : []));
  const described = [...new Map(c.policies.filter((p) => p.overrides && p.overrides !== p.label).map((p) => [p.label, p])).values()];
  const head = [
    `haltlab compare · ${s.name} (${s.workload.kind}) · ${s.vm.vcpus} vCPU on ${s.host.pcpus} pCPU · ${s.duration_s} s per policy`,
    ...(first ? [`machine: ${first.machine.cores} cores, ${first.machine.cpu_model}, Node ${first.machine.node}`] : []),
    ...kvmRuns.slice(0, 1).map((r) => {
      const k = r.machine.kvm;
      const busy = kvmRuns.map((x) => `${x.kvm.machine_busy_pct.toFixed(0)}%`).join(' / ');
      return `real KVM: ${k?.vendor_module ?? 'kvm'}, Linux ${k?.kernel ?? '?'}, module halt_poll_ns ${k?.module_params.halt_poll_ns ?? '?'}; the machine busy ${busy} over its runs (KVM's polls end while another task can run)`;
    }),
    ...described.map((p) => `  ${p.label}: ${p.overrides}`),
    ...(c.status !== 'completed' ? [`STATUS: ${c.status} — the table holds the policies that finished`] : []),
    ...c.policies.flatMap((p) => p.result.warnings.map((w) => `warning (${p.label}): ${w}`)),
    c.policies.some((p) => p.backend === 'kvm') ? '* best in its row among the same backend’s columns; – the backend has no such figure' : '* best in its row',
    '',
  ];
  const mark = (text: string, best: boolean) => (best ? pc.bold(pc.green(`${text}*`)) : `${text} `);
  const shown = opts.all ? c.rows : c.rows.filter((r) => !isAllZero(r));
  const rows: string[][] = [];
  let section = '';
  for (const r of shown) {
    if (r.section !== section) {
      section = r.section;
      rows.push([section, ...c.policies.map(() => '')]);
    }
    rows.push([`  ${r.metric} (${r.unit})`, ...r.values.map((v, i) => mark(fmt(v, r.unit), r.best.includes(i)))]);
  }
  const hidden = c.rows.length - shown.length;
  const foot = hidden ? `\n(${hidden} rows zero under every policy not shown: --all shows them)` : '';
  // A cell's star takes a column of its own, so the heads end one space in.
  const column = (p: CompareResult['policies'][number]) => (multi ? `${p.label} on ${p.backend === 'kvm' ? 'real KVM' : 'the model'} ` : `${p.label} `);
  return head.join('\n') + grid(['', ...c.policies.map(column)], rows) + foot;
}
