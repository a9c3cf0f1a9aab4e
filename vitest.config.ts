import { defineConfig } from 'vitest/config';

// Tests on real worker threads share a 2-core machine: run files one at a time so they don't skew each other.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 30_000,
  },
});
