import { parseScenario, type Scenario } from '../scenarios/schema.ts';
import type { AnyRunResult } from '../host/results.ts';
import { grid } from './table.ts';
import { execute } from './execute.ts';

/**
 * `haltlab calibrate`: what this machine's real KVM costs, measured, beside the model's
 * corresponding figures measured in the same command and the model's defaults: the exit round
 * trip to the VMM, the wake of a vCPU asleep in KVM (no polling), and the timer's floor (with
 * polling) and its latency without. Each kvm run reports the machine's busy share: halt polling
 * gives up at once while other tasks run.
 */

export interface CalibrationRow {
  figure: string;
  kvm_ns: number | null;
  model_ns: number | null;
  /** kvm / model. */
  ratio: number | null;
  /** What the model has for it: a knob's default, or how the figure arises. */
  model_note: string;
  /** How the kvm figure was measured (its machine's busy share, its poll success). */
  kvm_note: string;
}

export interface Calibration {
  rows: CalibrationRow[];
  runs: { label: string; backend: string; result: AnyRunResult }[];
  status: 'completed' | 'interrupted' | 'failed';
}

const scenario = (kind: 'irq-wake' | 'timer-latency', cap: number, seconds: number): Scenario =>
  parseScenario({ name: `calibrate-${kind}`, duration_s: seconds, vm: { vcpus: 1 }, host: { kvm_cap_halt_poll: cap }, workload: { kind } });

const pollNote = (r: AnyRunResult) => {
  const v = r.vcpus[0];
  const attempted = (v?.stats.halt_attempted_poll as number) ?? 0;
  const ok = (v?.stats.halt_successful_poll as number) ?? 0;
  const busy = r.backend === 'kvm' ? `machine ${r.kvm.machine_busy_pct.toFixed(0)}% busy` : '';
  return [busy, attempted ? `${ok}/${attempted} polls successful` : 'no polls'].filter(Boolean).join(', ');
};

export async function calibrate(o: { seconds: number; signal: AbortSignal; progress: (s: string) => void }): Promise<Calibration> {
  const { measureExitRate } = await import('../real-kvm/exit-rate.ts');
  const out: Calibration = { rows: [], runs: [], status: 'completed' };
  o.progress('exit round trip on real KVM…');
  const exits = await measureExitRate(Math.min(o.seconds, 2));
  out.rows.push({
    figure: 'exit to the VMM and back (KVM_EXIT_IO round trip)',
    kvm_ns: exits.round_trip_ns,
    model_ns: null,
    ratio: null,
    model_note: 'exit_cost_ns, default 0: the model pays only its own code per exit; --set exit_cost_ns=N adds N ns',
    kvm_note: `${Math.round(exits.exits_per_s)} round trips/s through haltlab's vCPU loop`,
  });
  const configs = [
    { figure: 'wake of a vCPU asleep in KVM (irq-wake, no polling), p50', kind: 'irq-wake' as const, cap: 0, pick: (r: AnyRunResult) => r.total.wake_latency_ns.p50 },
    { figure: 'timer floor (timer-latency, polling 1 ms), p50', kind: 'timer-latency' as const, cap: 1_000_000, pick: (r: AnyRunResult) => r.total.timer_lateness_ns.p50 },
    { figure: 'timer without polling (timer-latency), p50', kind: 'timer-latency' as const, cap: 0, pick: (r: AnyRunResult) => r.total.timer_lateness_ns.p50 },
  ];
  for (const c of configs) {
    const got: Partial<Record<'kvm' | 'model', AnyRunResult>> = {};
    for (const backend of ['kvm', 'model'] as const) {
      if (o.signal.aborted) break;
      o.progress(`${c.figure}: ${backend}…`);
      const r = await execute(scenario(c.kind, c.cap, o.seconds), { signal: o.signal, quiet: true, backend });
      out.runs.push({ label: c.figure, backend, result: r });
      if (r.status !== 'completed') out.status = r.status;
      got[backend] = r;
    }
    const k = got.kvm && got.kvm.status === 'completed' ? c.pick(got.kvm) : null;
    const m = got.model && got.model.status === 'completed' ? c.pick(got.model) : null;
    out.rows.push({
      figure: c.figure,
      kvm_ns: k,
      model_ns: m,
      ratio: k !== null && m ? k / m : null,
      model_note: got.model ? pollNote(got.model) : '',
      kvm_note: got.kvm ? pollNote(got.kvm) : '',
    });
    if (out.status !== 'completed') break;
  }
  return out;
}

export function renderCalibration(c: Calibration): string {
  const us = (ns: number | null) => (ns === null ? '–' : (ns / 1000).toFixed(ns < 10_000 ? 2 : 1));
  return [
    `haltlab calibrate: this machine's real KVM beside the model, each measured here${c.status !== 'completed' ? ` (${c.status}: partial)` : ''}`,
    '',
    grid(
      ['figure', 'real KVM µs', 'model µs', 'KVM / model'],
      c.rows.map((r) => [r.figure, us(r.kvm_ns), us(r.model_ns), r.ratio === null ? '–' : `${r.ratio.toFixed(2)}x`]),
    ),
    '',
    ...c.rows.map((r) => `${r.figure}:\n  real KVM: ${r.kvm_note}\n  model: ${r.model_note}`),
  ].join('\n');
}
