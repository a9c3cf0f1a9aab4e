// @ts-check
/**
 * `npm run mutate`: StrykerJS over KVM, the host scheduler and the guest kernel pieces, against
 * the fast tests of vitest.mutate.config.ts. Prints the score per file (and per folder: the
 * `kvm` row is src/host/kvm) and writes reports/mutation/mutation.json (and mutation.html).
 * Not part of `npm test`. Code that only runs in worker threads (sched/host-actor.ts) shows as
 * "no coverage": Stryker switches a mutant on in the test's thread only
 * (reference/mutation-testing.md).
 *
 * Surviving mutants judged equivalent, in the halt path, the kicks and the LAPIC timer (and a
 * few beside them). Each is a mutant Stryker reports as survived or no coverage; none changes
 * what a thread can observe, for the reason given. Located by file and the code they change.
 *
 * halt.ts (kvmVcpuHalt, kvmVcpuBlock) and its scratch objects in kvm-vcpu.ts
 *  - the `haltPollParams = { ... }` and `haltPollCap = { ... }` initialisers emptied,
 *    `override_halt_poll_ns: false` made true: scratch objects that readHaltPollParams/
 *    readHaltPollCap fill completely before every use (they exist so that a halt allocates nothing).
 *  - `cur < stop` -> `cur <= stop` (the poll loop): one more check at exactly the deadline. An
 *    event pending then is seen by kvm_vcpu_block's first check anyway, as a successful poll that
 *    never scheduled out (reference §1.5's last variant); the poll's length differs by one clock
 *    read, below any clock's resolution that could tell.
 *  - `if (!waited)` -> `if (true)` (kvm_vcpu_block's loop): on a spurious wake-up the sleeper would
 *    mark itself BLOCKED again (it already is) and call Scheduler.release() again, which returns
 *    at once for a task that holds no pCPU.
 *
 * halt-poll.ts (the window's arithmetic, kvm_main.c)
 *  - clamp `cur > max` -> `>=` and grow's `val < grow_start` -> `<=`: at equality both branches
 *    give the same value.
 *  - step 7's grow case `cur < max && ...` -> `true && ...` or `cur <= max`: it is reached only
 *    when halt_ns > cur, and halt_ns < max; with cur >= max that means halt_ns > max, which the
 *    shrink case before it has taken. KVM's condition carries the same redundancy.
 *
 * kick.ts (kvm_vcpu_wake_up, kvm_vcpu_kick)
 *  - `if (Atomics.load(rcuwait) !== INTERRUPTIBLE) return false` -> `if (false)`: the
 *    compare-and-swap on the next line makes the same decision; the load is there so that a
 *    waker does not take the polling vCPU's cache line exclusive (performance, not semantics).
 *  - the compare-and-swap's failure branch (`return false` -> `true`, no coverage): reached only
 *    when another waker wins the race between that load and the swap; a single-threaded test
 *    cannot get there, and no test hopes two threads collide.
 *  - kickRunning's `if (mode === IN_GUEST_MODE)` (kvm_vcpu_kick's IPI half) -> `if (true)`: the compare-and-swap inside
 *    makes the same check (IN_GUEST_MODE -> EXITING_GUEST_MODE, or nothing).
 *
 * lapic-timer.ts (the host's hrtimer, apic_timer_fn)
 *  - `if (at < expiry) return expiry` -> `if (false)`: the re-check after taking the timer
 *    (`at < armed - advance`) returns the same expiry and gives the timer back (ON_HOST); the
 *    only difference is a moment in HOST_FIRING.
 *  - the compare-and-swap ON_HOST -> HOST_FIRING failing (`return Infinity` skipped), and the
 *    re-check `if (at < armed - advance) { ... return armed - advance }` (three mutants, one with
 *    no coverage): reached only when the vCPU takes the timer back, re-arms it later and sleeps
 *    again between the hrtimer's first read and its swap, a race a single-threaded test cannot
 *    stage. The re-check exists for that race (see its comment).
 *
 * timer-advance.ts (adjust_lapic_timer_advance)
 *  - `delta < 0` -> `delta <= 0`: delta 0 has already returned (|delta| below the adjustment window).
 *
 * Beside them
 *  - ioeventfd.ts `port === 0 || ...` -> `false || ...`: port 0 is never registered, so the
 *    second test rejects it too.
 *  - irqfd.ts irqfdResampleWait's `if (count !== seen) return true` -> `if (false)`: the wait then
 *    returns at once ('not-equal') and the final comparison answers the same.
 *  - ple.ts `if (gap === 0) return false` -> `if (false)`: with a gap of 0 every PAUSE starts a
 *    new loop, whose length is 0, so none exits anyway.
 *  - params.ts kvmParamDefaults' default `arch = 'x86'` -> `''`: x86 adds nothing to the table's
 *    defaults, and neither does an unknown architecture.
 *
 * @type {import('@stryker-mutator/api/core').PartialStrykerOptions}
 */
export default {
  testRunner: 'vitest',
  vitest: {
    configFile: 'vitest.mutate.config.ts',
    // vitest's import graph does not follow `new URL(...)` actor modules; run the configured files.
    related: false,
  },
  mutate: ['src/host/kvm/**/*.ts', 'src/host/sched/**/*.ts', 'src/guest/kernel/**/*.ts'],
  coverageAnalysis: 'perTest',
  // Module-level mutants (the stat-index tables) each need a fresh module graph: far too slow for
  // the 20-minute budget, and the tables are checked by every test that reads a stat.
  ignoreStatic: true,
  reporters: ['clear-text', 'progress', 'json', 'html'],
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  htmlReporter: { fileName: 'reports/mutation/mutation.html' },
  clearTextReporter: { allowColor: false, logTests: false, reportTests: false, reportMutants: false },
  concurrency: 2,
  // A mutant that stops a timer from firing leaves a one-vCPU test blocked for good: give up soon
  // (test/mutate-setup.ts also fails a wait on the test thread that outlasts 1.5 s).
  timeoutMS: 3_000,
  tempDirName: '.stryker-tmp',
  cleanTempDir: 'always',
};
