import { beforeAll, vi } from 'vitest';

// npm run mutate runs the test files without isolation, one mutant after another in the same
// thread: a test that a mutant made fail may be cut short (Stryker bails) before its afterEach
// restores a spy, and a fake clock left behind would slow every later test. Start each file clean.
beforeAll(() => {
  vi.restoreAllMocks();
});

// npm run mutate only (vitest.mutate.config.ts): a mutant that loses a wakeup leaves the test's own
// thread blocked in Atomics.wait for good, and Stryker can only notice by its timeout and then has
// to restart the whole test runner. Cap a wait on this thread instead: one that outlasts
// WAIT_CAP_MS fails the test at once with what happened. No test here waits nearly that long for a
// wake that comes (the longest, a worker's store, takes milliseconds); worker threads keep their own
// Atomics, unpatched.
const WAIT_CAP_MS = 1_500;
const wait = Atomics.wait.bind(Atomics);

Atomics.wait = ((array: Int32Array | BigInt64Array, index: number, value: never, timeout?: number) => {
  const capped = timeout === undefined || timeout > WAIT_CAP_MS;
  const r = wait(array as Int32Array, index, value, capped ? WAIT_CAP_MS : timeout);
  if (capped && r === 'timed-out') throw new Error(`Atomics.wait on the test thread blocked for ${WAIT_CAP_MS} ms: a wakeup was lost (npm run mutate caps such waits)`);
  return r;
}) as typeof Atomics.wait;
