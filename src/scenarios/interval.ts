import type { ScenarioInput } from './schema.ts';

/** The workload of a scenario not yet validated (the schema's default when it names none). */
export const workloadKind = (input: ScenarioInput): string => (input.workload as { kind?: string } | undefined)?.kind ?? 'timer-latency';

/**
 * Each workload's "interval" knob, the one `--interval` (µs) and the demo's
 * interval control set: timer-latency's re-arm delta, a device's gap,
 * hrtimer-rearm's event interval, idle-tick's tick, overcommit's tick. dsync-io has none: its
 * guest writes back to back.
 */
const INTERVAL_KNOB: Readonly<Record<string, string>> = {
  'timer-latency': 'delta_ns',
  'irq-wake': 'gap_ns',
  mixed: 'gap_ns',
  'hrtimer-rearm': 'event_ns',
  'idle-tick': 'tick_ns',
  'deferred-work': 'gap_ns',
  'sim-loop': 'tick_ns',
  overcommit: 'delta_ns',
};

export const intervalKnob = (workloadKind: string): string | null => INTERVAL_KNOB[workloadKind] ?? null;
