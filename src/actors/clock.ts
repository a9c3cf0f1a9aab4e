/**
 * One clock for every thread: CLOCK_MONOTONIC through libuv's uv_hrtime, which
 * process.hrtime reads in every worker alike. performance.now() is not used
 * because each worker has its own timeOrigin.
 */

/** Nanoseconds on the process-wide monotonic clock (exact as a double for ~104 days of uptime). */
export function now(): number {
  return Number(process.hrtime.bigint());
}

/** Busy-wait until the clock reaches `deadlineNs` (real CPU time, for modelled costs). */
export function spinUntil(deadlineNs: number): void {
  while (now() < deadlineNs) {
    // burn: this is the cost being modelled
  }
}

export const CLOCK_DESCRIPTION = 'CLOCK_MONOTONIC via process.hrtime.bigint(), shared by all threads';
