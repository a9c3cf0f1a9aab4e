import { paramDefaults, type ModuleParam, type ParamValues } from '../../params/module-param.ts';

/**
 * The guest's cpuidle-haltpoll governor (drivers/cpuidle/governors/haltpoll.c),
 * reference §4: before halting, the guest polls in guest mode for up to
 * poll_limit_ns, a window it adapts from how long its halts last. Pure
 * functions over the per-CPU device state; the interpreter's `cpuidle`
 * instruction runs them on the vCPU thread, in guest mode.
 */

const GOVERNOR = 'drivers/cpuidle/governors/haltpoll.c';

/** /sys/module/haltpoll/parameters: 0644, read on every idle entry. */
export const HALTPOLL_PARAMS = [
  { module: 'haltpoll', name: 'guest_halt_poll_ns', default: 200_000, unit: 'ns', max: 1_000_000_000, doc: 'cpuidle-haltpoll: the ceiling of the guest’s own poll before HLT, ns', source: GOVERNOR },
  { module: 'haltpoll', name: 'guest_halt_poll_grow', default: 2, unit: 'factor', max: 1000, doc: 'cpuidle-haltpoll: multiplier when the guest’s poll window grows', source: GOVERNOR },
  { module: 'haltpoll', name: 'guest_halt_poll_grow_start', default: 50_000, unit: 'ns', max: 1_000_000_000, doc: 'cpuidle-haltpoll: first window when growing from 0, ns', source: GOVERNOR },
  { module: 'haltpoll', name: 'guest_halt_poll_shrink', default: 2, unit: 'divisor', max: 1000, doc: 'cpuidle-haltpoll: divisor when the window shrinks', source: GOVERNOR },
  { module: 'haltpoll', name: 'guest_halt_poll_allow_shrink', default: true, unit: 'bool', doc: 'cpuidle-haltpoll: the window may shrink at all', source: GOVERNOR },
] as const satisfies readonly ModuleParam<'haltpoll'>[];

export type HaltpollParams = ParamValues<typeof HALTPOLL_PARAMS>;
export const HALTPOLL_DEFAULTS: HaltpollParams = paramDefaults(HALTPOLL_PARAMS);

/** The cpuidle-haltpoll driver's states. */
export const CPUIDLE_STATE = { POLL: 0, HALT: 1 } as const;
export type CpuidleState = (typeof CPUIDLE_STATE)[keyof typeof CPUIDLE_STATE];

/** The fields of struct cpuidle_device the governor uses (zeroed when the device is enabled). */
export interface HaltpollDevice {
  poll_limit_ns: number;
  last_state_idx: CpuidleState;
  /** The last poll ended because its time ran out, not because of an event. */
  poll_time_limit: boolean;
}

export const newHaltpollDevice = (): HaltpollDevice => ({ poll_limit_ns: 0, last_state_idx: CPUIDLE_STATE.POLL, poll_time_limit: false });

/** haltpoll_select() (a PM QoS latency requirement of 0 is not modelled: it would always poll). */
export function haltpollSelect(dev: HaltpollDevice): CpuidleState {
  if (dev.poll_limit_ns === 0) return CPUIDLE_STATE.HALT;
  // Last state was poll: halt if it ran out of time, else poll again.
  if (dev.last_state_idx === CPUIDLE_STATE.POLL) return dev.poll_time_limit ? CPUIDLE_STATE.HALT : CPUIDLE_STATE.POLL;
  // Last state was halt: poll.
  return CPUIDLE_STATE.POLL;
}

/** adjust_poll_limit(): grow when the halt fit under the ceiling, shrink when it did not (6.9+: below grow_start, 0). */
export function adjustPollLimit(dev: HaltpollDevice, blockNs: number, p: HaltpollParams): void {
  if (blockNs > dev.poll_limit_ns && blockNs <= p.guest_halt_poll_ns) {
    let val = dev.poll_limit_ns * p.guest_halt_poll_grow;
    if (val < p.guest_halt_poll_grow_start) val = p.guest_halt_poll_grow_start;
    if (val > p.guest_halt_poll_ns) val = p.guest_halt_poll_ns;
    dev.poll_limit_ns = val;
  } else if (blockNs > p.guest_halt_poll_ns && p.guest_halt_poll_allow_shrink) {
    let val = p.guest_halt_poll_shrink === 0 ? 0 : Math.trunc(dev.poll_limit_ns / p.guest_halt_poll_shrink);
    if (val < p.guest_halt_poll_grow_start) val = 0;
    dev.poll_limit_ns = val;
  }
}

/** haltpoll_reflect(): remember the state; after a halt, adapt the window to its residency. */
export function haltpollReflect(dev: HaltpollDevice, index: CpuidleState, lastResidencyNs: number, p: HaltpollParams): void {
  dev.last_state_idx = index;
  if (index !== CPUIDLE_STATE.POLL) adjustPollLimit(dev, lastResidencyNs, p);
}

/** Where a CPU is in its cpuidle call: the `cpuidle` instruction resumes across exits and interrupts. */
export interface HaltpollCpu {
  readonly dev: HaltpollDevice;
  readonly params: HaltpollParams;
  phase: 'select' | 'polling' | 'halted';
  enteredAt: number;
  /** Interrupts delivered to this CPU when the poll began: one more is the event that ends it. */
  interruptsAtStart: number;
  /** Guest-side counts, reported with the results. */
  readonly counts: { polls: number; polls_timed_out: number; halts: number };
}

export const newHaltpollCpu = (params: HaltpollParams): HaltpollCpu => ({
  dev: newHaltpollDevice(),
  params,
  phase: 'select',
  enteredAt: 0,
  interruptsAtStart: 0,
  counts: { polls: 0, polls_timed_out: 0, halts: 0 },
});
