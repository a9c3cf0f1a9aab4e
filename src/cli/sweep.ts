import asciichart from 'asciichart';
import type { AnyRunResult, Backend } from '../host/results.ts';
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

import { analyse, pointOf, type SweepCurve, type SweepPoint, type SweepResult } from '../sweep/analysis.ts';
export { analyse, bestWithinBudget, findKnee, pointOf, type Curve, type SweepCurve, type SweepPoint, type SweepResult } from '../sweep/analysis.ts';

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
