import type { RunResult } from '../host/results.ts';
import { EXIT_REASONS } from '../host/kvm/stats.ts';
import { applyOverrides, describeOverrides } from '../scenarios/overrides.ts';
import type { Policy } from '../scenarios/policies.ts';
import { parseScenario, type Scenario, type ScenarioInput } from '../scenarios/schema.ts';
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
  policies: { label: string; overrides: string; scenario: Scenario; result: RunResult }[];
  rows: CompareRow[];
}

const perSecond = (n: number, r: RunResult) => (r.wall_s > 0 ? n / r.wall_s : 0);
const sumStat = (r: RunResult, k: string) => r.vcpus.reduce((a, v) => a + ((v.stats as Record<string, number | number[]>)[k] as number), 0);
/** A time stat summed over the vCPUs, as % of each vCPU's wall time. */
const shareOfWall = (r: RunResult, k: string) => (r.wall_s > 0 ? (100 * sumStat(r, k)) / 1e9 / r.wall_s / Math.max(1, r.vcpus.length) : 0);
const totalCpuPct = (r: RunResult) => (r.wall_s > 0 ? (100 * r.threads.reduce((a, t) => a + t.cpu_s, 0)) / r.wall_s : 0);

interface MetricDef {
  section: string;
  metric: string;
  unit: string;
  better: Better;
  value: (r: RunResult) => number | null;
  /** Only when the workload has it. */
  when?: (s: Scenario) => boolean;
}

const latency = (section: string, pick: (r: RunResult) => RunResult['total']['wake_latency_ns'] | null, when?: MetricDef['when']): MetricDef[] =>
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
  ...latency('timer lateness', (r) => r.total.timer_lateness_ns, (s) => s.workload.kind === 'timer-latency'),
  ...latency('I/O request latency', (r) => r.block?.io_latency_ns ?? null, (s) => s.workload.kind === 'dsync-io'),
  { section: 'throughput', metric: 'requests completed', unit: '/s', better: 'higher', value: (r) => r.block?.requests_per_s ?? null, when: (s) => s.workload.kind === 'dsync-io' },
  ...latency('spinlock spin time', (r) => r.spinlock?.spin_time_ns ?? null, (s) => s.workload.kind === 'spinlock'),
  { section: 'throughput', metric: 'lock acquisitions', unit: '/s', better: 'higher', value: (r) => r.spinlock?.acquisitions_per_s ?? null, when: (s) => s.workload.kind === 'spinlock' },
  { section: 'throughput', metric: 'interrupts delivered', unit: '/s', better: 'higher', value: (r) => perSecond(sumStat(r, 'irq_injections'), r) },
  { section: 'host CPU', metric: 'per vCPU thread', unit: '% core', better: 'lower', value: (r) => r.total.host_cpu_pct_per_vcpu },
  { section: 'host CPU', metric: 'all threads', unit: '% core', better: 'lower', value: totalCpuPct },
  { section: 'exits', metric: 'all', unit: '/s', better: null, value: (r) => perSecond(sumStat(r, 'exits'), r) },
  ...EXIT_REASONS.map(
    (reason): MetricDef => ({
      section: 'exits',
      metric: reason,
      unit: '/s',
      better: null,
      value: (r) => perSecond(r.vcpus.reduce((a, v) => a + v.exit_reasons[reason], 0), r),
    }),
  ),
  ...(['on_spin_yield_attempted', 'on_spin_yield_successful', 'on_spin_yield_failed'] as const).map(
    (k): MetricDef => ({
      section: 'directed yield (kvm_vcpu_on_spin)',
      metric: k,
      unit: '/s',
      better: null,
      value: (r) => perSecond(r.vcpus.reduce((a, v) => a + v.model[k], 0), r),
      when: (s) => s.workload.kind === 'spinlock',
    }),
  ),
  { section: 'directed yield (kvm_vcpu_on_spin)', metric: 'ple_window (mean at end)', unit: 'cycles', better: null, value: (r) => r.vcpus.reduce((a, v) => a + v.ple_window, 0) / Math.max(1, r.vcpus.length), when: (s) => s.workload.kind === 'spinlock' },
  { section: 'halt', metric: 'halt_exits', unit: '/s', better: null, value: (r) => perSecond(sumStat(r, 'halt_exits'), r) },
  { section: 'halt', metric: 'halt_attempted_poll', unit: '/s', better: null, value: (r) => perSecond(sumStat(r, 'halt_attempted_poll'), r) },
  { section: 'halt', metric: 'halt_successful_poll', unit: '/s', better: null, value: (r) => perSecond(sumStat(r, 'halt_successful_poll'), r) },
  { section: 'halt', metric: 'halt_wakeup', unit: '/s', better: null, value: (r) => perSecond(sumStat(r, 'halt_wakeup'), r) },
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
  { section: 'halt', metric: 'halt_poll_ns (mean at end)', unit: 'ns', better: null, value: (r) => r.vcpus.reduce((a, v) => a + v.halt_poll_ns, 0) / Math.max(1, r.vcpus.length) },
];

export function compareRows(scenario: Scenario, results: RunResult[]): CompareRow[] {
  return COMPARE_METRICS.filter((m) => !m.when || m.when(scenario)).map((m) => {
    const values = results.map((r) => m.value(r));
    const present = values.filter((v): v is number => v !== null);
    let best: number[] = [];
    if (m.better && present.length > 1) {
      const target = m.better === 'lower' ? Math.min(...present) : Math.max(...present);
      if (present.some((v) => v !== target)) best = values.flatMap((v, i) => (v === target ? [i] : []));
    }
    return { section: m.section, metric: m.metric, unit: m.unit, better: m.better, values, best };
  });
}

export async function runCompare(
  base: ScenarioInput,
  source: string,
  policies: Policy[],
  opts: Omit<ExecuteOptions, 'label'>,
): Promise<CompareResult> {
  // Validate every policy's scenario before starting any thread.
  const scenarios = policies.map((p) => parseScenario(applyOverrides(base, p.overrides), `${source} + policy ${p.label}`));
  const out: CompareResult = { status: 'completed', scenario: parseScenario(base, source), policies: [], rows: [] };
  for (const [i, p] of policies.entries()) {
    if (opts.signal.aborted) break;
    if (!opts.quiet) process.stderr.write(`haltlab: policy ${i + 1}/${policies.length}: ${p.label}\n`);
    const result = await execute(scenarios[i], { ...opts, label: `${i + 1}/${policies.length} ${p.label}` });
    out.policies.push({ label: p.label, overrides: describeOverrides(p.overrides), scenario: scenarios[i], result });
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

export function renderCompare(c: CompareResult, color = false): string {
  const first = c.policies[0]?.result;
  const s = c.scenario;
  const head = [
    `haltlab compare · ${s.name} (${s.workload.kind}) · ${s.vm.vcpus} vCPU on ${s.host.pcpus} pCPU · ${s.duration_s} s per policy`,
    ...(first ? [`machine: ${first.machine.cores} cores, ${first.machine.cpu_model}, Node ${first.machine.node}`] : []),
    ...c.policies.map((p, i) => `  [${i + 1}] ${p.label}${p.overrides && p.overrides !== p.label ? ` (${p.overrides})` : ''}`),
    ...(c.status !== 'completed' ? [`STATUS: ${c.status} — the table holds the policies that finished`] : []),
    ...c.policies.flatMap((p) => p.result.warnings.map((w) => `warning (${p.label}): ${w}`)),
    '* best in its row',
    '',
  ];
  const mark = (text: string, best: boolean) => (best ? (color ? `\x1b[1;32m${text}*\x1b[0m` : `${text}*`) : `${text} `);
  const rows: string[][] = [];
  let section = '';
  for (const r of c.rows) {
    if (r.section !== section) {
      section = r.section;
      rows.push([section, ...c.policies.map(() => '')]);
    }
    rows.push([`  ${r.metric} (${r.unit})`, ...r.values.map((v, i) => mark(fmt(v, r.unit), r.best.includes(i)))]);
  }
  return head.join('\n') + grid(['', ...c.policies.map((_, i) => `[${i + 1}] `)], rows);
}
