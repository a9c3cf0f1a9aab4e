/**
 * A PELT-like utilisation signal (kernel/sched/pelt.c): a task's util is the
 * geometric average of its "running" state (holding a pCPU), with periods of
 * 1024 µs and y^32 = 1/2, so a contribution's weight halves every ~32 ms. It
 * is what the scheduler believes the task needs. A vCPU waiting in an
 * untrapped WFI holds its pCPU, so it counts as running although its guest
 * is idle: the 2024 reviewers' objection (seeds/003).
 */

export const PELT_PERIOD_NS = 1_024_000;
export const PELT_HALFLIFE_PERIODS = 32;
/** y, with y^32 = 0.5. */
export const PELT_Y = Math.pow(0.5, 1 / PELT_HALFLIFE_PERIODS);

/**
 * The signal `dtNs` later, the task having been running (contribution 1) or
 * not (0) all that time. Continuous in time (the kernel sums whole periods
 * and a partial one), so two steps compose exactly into one.
 */
export function peltAdvance(util: number, running: boolean, dtNs: number): number {
  if (dtNs <= 0) return util;
  const decay = Math.pow(PELT_Y, dtNs / PELT_PERIOD_NS);
  return util * decay + (running ? 1 - decay : 0);
}
