import { defineConfig } from 'vitest/config';

// `npm run test:science`: the first batch's acceptance checks at a 120 s budget on 2 cores. Too slow
// for `npm test` (about ten minutes), so kept apart.
export default defineConfig({
  test: {
    include: ['test/science/**/*.test.ts'],
    pool: 'forks',
    fileParallelism: false,
    reporters: ['default'],
  },
});
