// @ts-check
/**
 * `npm run mutate`: StrykerJS over KVM, the host scheduler and the guest kernel pieces, against
 * the fast tests of vitest.mutate.config.ts. Prints the score per file and writes
 * reports/mutation/mutation.json (and mutation.html). Not part of `npm test`.
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
  clearTextReporter: { allowColor: false, logTests: false, maxTestsToLog: 0, reportMutants: false },
  concurrency: 2,
  // A mutant that stops a timer from firing leaves a one-vCPU test blocked for good: give up soon.
  timeoutMS: 3_000,
  tempDirName: '.stryker-tmp',
  cleanTempDir: 'always',
};
