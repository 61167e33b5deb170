import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The slow acceptance runs of the first batch: `npm run test:science`.
    exclude: ['test/science/**', 'node_modules/**'],
    testTimeout: 30_000,
    pool: 'forks',
    // Experiments use every core and are timed against their budget: run files one at a time.
    fileParallelism: false,
    reporters: ['default', './test/helpers/summary-reporter.ts'],
  },
});
