import { allThreadsCostPct, type AnyRunResult, type Backend } from '../host/results.ts';
import type { Scenario } from '../scenarios/schema.ts';

/**
 * A sweep's analysis: one point per value of the knob (cost against latency),
 * the knee of the curve and the best point within a CPU budget. Pure: the
 * CLI's sweep runs the points and the findings read the same analysis.
 */

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
