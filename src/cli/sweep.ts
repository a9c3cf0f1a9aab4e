import asciichart from 'asciichart';
import { allThreadsCostPct, type AnyRunResult, type Backend } from '../host/results.ts';
import { applyOverrides, knobPath, parseValue, type Override } from '../scenarios/overrides.ts';
import { parseScenario, ScenarioError, type Scenario, type ScenarioInput } from '../scenarios/schema.ts';
import { execute, type ExecuteOptions } from './execute.ts';
import { grid } from './table.ts';

/**
 * `haltlab sweep KNOB=a..b`: run the scenario at each value of one knob and
 * draw latency against host CPU cost. The knee is the point of the curve
 * farthest below the chord from the cheapest to the dearest point (Kneedle,
 * Satopää et al. 2011) after both axes are scaled to [0, 1]: past it, more CPU
 * buys little latency. A curve that does not fall by a quarter has no knee.
 */

export interface SweepSpec {
  knob: string;
  values: number[];
}

/** `knob=a..b` (with `steps` points), `knob=a..b:step`, or `knob=v1,v2,...`. */
export function parseSweepSpec(text: string, steps = 9): SweepSpec {
  const eq = text.indexOf('=');
  if (eq <= 0) throw new ScenarioError([`"${text}" is not knob=range (for example halt_poll_ns=0..400000)`], '', 'invalid sweep');
  const knob = text.slice(0, eq);
  knobPath(knob); // unknown knobs fail here, before any run
  const spec = text.slice(eq + 1);
  const num = (s: string) => {
    const v = parseValue(s);
    if (typeof v !== 'number') throw new ScenarioError([`${knob}: "${s}" is not a number`], '', 'invalid sweep');
    return v;
  };
  const ends = spec.split('..');
  const range = ends.length === 2 ? [spec, ends[0], ...ends[1].split(':')] : null;
  if (range && range.length > 4) throw new ScenarioError([`${knob}: "${spec}" is not a..b or a..b:step`], '', 'invalid sweep');
  let values: number[];
  if (range) {
    const [a, b] = [num(range[1]), num(range[2])];
    if (b <= a) throw new ScenarioError([`${knob}: the range ${spec} must go up`], '', 'invalid sweep');
    if (range[3] !== undefined) {
      const step = num(range[3]);
      if (step <= 0) throw new ScenarioError([`${knob}: step must be positive, got ${step}`], '', 'invalid sweep');
      values = [];
      for (let v = a; v <= b + 1e-9; v += step) values.push(v);
    } else {
      if (!Number.isInteger(steps) || steps < 2) throw new ScenarioError([`--steps must be an integer >= 2, got ${steps}`], '', 'invalid sweep');
      const ints = Number.isInteger(a) && Number.isInteger(b);
      values = Array.from({ length: steps }, (_, i) => a + ((b - a) * i) / (steps - 1)).map((v) => (ints ? Math.round(v) : v));
    }
  } else {
    values = spec.split(',').filter(Boolean).map(num);
  }
  values = [...new Set(values)].sort((x, y) => x - y);
  if (values.length < 2) throw new ScenarioError([`${knob}: a sweep needs at least two values, got ${values.length}`], '', 'invalid sweep');
  if (values.length > 50) throw new ScenarioError([`${knob}: ${values.length} values is too many (at most 50)`], '', 'invalid sweep');
  return { knob, values };
}

export interface SweepPoint {
  value: number;
  backend: Backend;
  /** Host CPU per vCPU, all haltlab threads, a pCPU held idle in guest mode counted as spent, % of one core: the cost axis. */
  cpu_pct_per_vcpu: number;
  vcpu_thread_cpu_pct: number;
  latency_p50_us: number;
  latency_p99_us: number;
  samples: number;
}

export interface Curve {
  x: number;
  y: number;
}

/** Index of the knee of a decreasing cost→latency curve (points in any order), or -1 if it has none. */
export function findKnee(points: readonly Curve[]): number {
  if (points.length < 3) return -1;
  const order = points.map((p, i) => ({ ...p, i })).sort((a, b) => a.x - b.x);
  const xs = order.map((p) => p.x);
  const ys = order.map((p) => p.y);
  const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  if (x1 === x0 || y1 === y0) return -1;
  // A knee needs a curve that falls: the dearest point at least 25% faster than the cheapest.
  if (ys[ys.length - 1] > 0.75 * ys[0]) return -1;
  const n = order.map((p) => ({ x: (p.x - x0) / (x1 - x0), y: (p.y - y0) / (y1 - y0), i: p.i }));
  const [a, b] = [n[0], n[n.length - 1]];
  // Distance below the chord a->b (positive where the curve sags toward low cost and low latency).
  let best = -1;
  let bestD = 1e-9;
  for (const p of n.slice(1, -1)) {
    const chordY = a.y + ((b.y - a.y) * (p.x - a.x)) / (b.x - a.x || 1);
    const d = chordY - p.y;
    if (d > bestD) {
      bestD = d;
      best = p.i;
    }
  }
  return best;
}

/** The point with the lowest latency whose cost fits the budget, or -1. */
export function bestWithinBudget(points: readonly Curve[], budget: number): number {
  let best = -1;
  points.forEach((p, i) => {
    if (p.x <= budget && (best < 0 || p.y < points[best].y)) best = i;
  });
  return best;
}

/** One backend's curve. */
export interface SweepCurve {
  backend: Backend;
  points: SweepPoint[];
  knee: SweepPoint | null;
  within_budget: SweepPoint | null;
}

export interface SweepResult {
  status: 'completed' | 'interrupted' | 'failed';
  knob: string;
  metric: 'wake_latency' | 'timer_lateness';
  scenario: Scenario;
  /** The first backend's curve (the only one unless --backend lists several). */
  points: SweepPoint[];
  knee: SweepPoint | null;
  cpu_budget_pct: number | null;
  within_budget: SweepPoint | null;
  /** Every backend's curve, in --backend order. */
  curves: SweepCurve[];
  runs: AnyRunResult[];
}

export function pointOf(value: number, r: AnyRunResult, metric: SweepResult['metric']): SweepPoint {
  const lat = metric === 'timer_lateness' ? r.total.timer_lateness_ns : r.total.wake_latency_ns;
  const allCpu = allThreadsCostPct(r);
  return {
    value,
    backend: r.backend,
    cpu_pct_per_vcpu: allCpu / Math.max(1, r.vcpus.length),
    vcpu_thread_cpu_pct: r.total.host_cpu_pct_per_vcpu,
    latency_p50_us: lat.p50 / 1000,
    latency_p99_us: lat.p99 / 1000,
    samples: lat.count,
  };
}

export function analyse(points: SweepPoint[], budget: number | null): Pick<SweepResult, 'knee' | 'within_budget'> {
  const curve = points.map((p) => ({ x: p.cpu_pct_per_vcpu, y: p.latency_p50_us }));
  const k = findKnee(curve);
  const w = budget === null ? -1 : bestWithinBudget(curve, budget);
  return { knee: k >= 0 ? points[k] : null, within_budget: w >= 0 ? points[w] : null };
}

/** The scenario at each value, validated before any thread starts. */
export function sweepScenarios(base: ScenarioInput, source: string, spec: SweepSpec): Scenario[] {
  const path = knobPath(spec.knob);
  return spec.values.map((v) => {
    const o: Override = { knob: spec.knob, path, value: v };
    return parseScenario(applyOverrides(base, [o]), `${source} with ${spec.knob}=${v}`);
  });
}

export async function runSweep(
  base: ScenarioInput,
  source: string,
  spec: SweepSpec,
  budget: number | null,
  opts: Omit<ExecuteOptions, 'label' | 'backend'> & { backends?: Backend[] },
): Promise<SweepResult> {
  const scenarios = sweepScenarios(base, source, spec);
  const kind = scenarios[0].workload.kind;
  const metric = kind === 'timer-latency' || kind === 'hrtimer-rearm' ? 'timer_lateness' : 'wake_latency';
  const backends = opts.backends ?? ['model'];
  const out: SweepResult = {
    status: 'completed',
    knob: spec.knob,
    metric,
    scenario: parseScenario(base, source),
    points: [],
    knee: null,
    cpu_budget_pct: budget,
    within_budget: null,
    curves: [],
    runs: [],
  };
  const all: SweepPoint[] = [];
  // Each backend's whole curve, one after the other: a point's neighbours ran under the same conditions.
  const runs = backends.flatMap((backend) => spec.values.map((v, i) => ({ backend, v, scenario: scenarios[i] })));
  for (const [i, { backend, v, scenario }] of runs.entries()) {
    if (opts.signal.aborted) break;
    const what = `${spec.knob}=${v}${backends.length > 1 ? ` on ${backend}` : ''}`;
    if (!opts.quiet) process.stderr.write(`haltlab: ${what} (${i + 1}/${runs.length})\n`);
    const r = await execute(scenario, { ...opts, backend, label: what });
    out.runs.push(r);
    all.push(pointOf(v, r, metric));
    if (r.status !== 'completed') {
      out.status = r.status;
      break;
    }
  }
  out.curves = backends.map((backend) => {
    const points = all.filter((p) => p.backend === backend);
    return { backend, points, ...analyse(points, budget) };
  });
  Object.assign(out, { points: out.curves[0].points, knee: out.curves[0].knee, within_budget: out.curves[0].within_budget });
  return out;
}

const BACKEND_NAMES: Record<Backend, string> = { model: 'the model', kvm: 'real KVM' };

export function renderSweep(s: SweepResult): string {
  const what = s.metric === 'timer_lateness' ? 'timer lateness' : 'wake latency';
  const lines = [
    `haltlab sweep ${s.knob} · ${s.scenario.name} (${s.scenario.workload.kind}) · ${s.scenario.vm.vcpus} vCPU on ${s.scenario.host.pcpus} pCPU · ${s.scenario.duration_s} s per point`,
    ...(s.status !== 'completed' ? [`STATUS: ${s.status} — the points that finished`] : []),
  ];
  for (const c of s.curves) {
    if (s.curves.length > 1) lines.push('', `on ${BACKEND_NAMES[c.backend]}:`);
    lines.push('', ...curveLines(s, c, what));
  }
  return lines.join('\n');
}

function curveLines(s: SweepResult, c: SweepCurve, what: string): string[] {
  const lines = [
    grid(
      [s.knob, `${what} p50 µs`, 'p99 µs', 'CPU/vCPU %', 'vCPU thread %', 'samples', ''],
      c.points.map((p) => [
        String(p.value),
        p.latency_p50_us.toFixed(2),
        p.latency_p99_us.toFixed(1),
        p.cpu_pct_per_vcpu.toFixed(1),
        p.vcpu_thread_cpu_pct.toFixed(1),
        p.samples,
        [p === c.knee ? 'knee' : '', p === c.within_budget ? `best within ${s.cpu_budget_pct}% CPU` : ''].filter(Boolean).join(', '),
      ]),
    ),
  ];
  if (c.points.length >= 2) {
    const cfg = { height: 8, format: (x: number) => x.toFixed(1).padStart(8) };
    // Each step as several columns, so the sketch is readable at a few points.
    const cols = Math.max(1, Math.floor(60 / c.points.length));
    const widen = (ys: number[]) => ys.flatMap((y) => Array<number>(cols).fill(y));
    const axis = ' '.repeat(10) + c.points.map((_, i) => String(i).padEnd(cols)).join('');
    lines.push('', `${what} p50 (µs) by step`, asciichart.plot(widen(c.points.map((p) => p.latency_p50_us)), cfg), axis);
    lines.push('', 'host CPU per vCPU (% of a core) by step', asciichart.plot(widen(c.points.map((p) => p.cpu_pct_per_vcpu)), cfg), axis);
    lines.push(`steps: ${c.points.map((p, i) => `${i}=${p.value}`).join(' ')}`);
  }
  lines.push(
    '',
    c.knee
      ? `knee: ${s.knob}=${c.knee.value} (${c.knee.latency_p50_us.toFixed(2)} µs p50 at ${c.knee.cpu_pct_per_vcpu.toFixed(1)}% CPU per vCPU): past it, more CPU buys little latency`
      : 'knee: none (the curve has no bend: too few points, or latency does not fall as CPU rises)',
  );
  if (s.cpu_budget_pct !== null) {
    lines.push(
      c.within_budget
        ? `within ${s.cpu_budget_pct}% CPU per vCPU: ${s.knob}=${c.within_budget.value} gives the lowest p50 (${c.within_budget.latency_p50_us.toFixed(2)} µs)`
        : `within ${s.cpu_budget_pct}% CPU per vCPU: no point fits`,
    );
  }
  return lines;
}
