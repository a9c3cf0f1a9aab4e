import { defineConfig } from 'vitest/config';

// The tests `npm run mutate` runs against each mutant: the fast main-thread tests of the code it
// mutates (pure functions, one vCPU driven by the test's thread, HaltPath on a fake clock). Tests
// that run whole VMs execute that code in worker threads, where Stryker's active mutant is not
// switched on (reference/mutation-testing.md), so they would only cost time.
export default defineConfig({
  test: {
    include: ['test/host/*.test.ts', 'test/guest/*.test.ts'],
    exclude: ['**/*.e2e.test.ts', 'test/host/limits.test.ts'],
    setupFiles: ['test/mutate-setup.ts'],
    fileParallelism: false,
    // Stryker re-runs these files once per mutant: keep the modules they import loaded between runs
    // (mutants are switched at run time, and the actor bundles stay built), a third faster. The
    // tests keep no module-level state.
    isolate: false,
    testTimeout: 60_000,
    hookTimeout: 30_000,
  },
});
