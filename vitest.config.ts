import { readFileSync } from 'node:fs';
import { defineConfig } from 'vitest/config';

/** GitHub's workflow parser, loaded through Vite: its JSON import has no import attribute, which Node 20 refuses. */
const WORKFLOW_PARSER = /[\\/]@actions[\\/]workflow-parser[\\/]dist[\\/].*\.js$/;

export default defineConfig({
  plugins: [
    {
      // Its published source maps name sources the package does not ship; without them, no warnings.
      name: 'workflow-parser-without-source-maps',
      enforce: 'pre',
      load(id) {
        if (!WORKFLOW_PARSER.test(id)) return undefined;
        return readFileSync(id, 'utf8').replace(/\n\/\/# sourceMappingURL=\S+\s*$/, '\n');
      },
    },
  ],
  test: {
    include: ['test/**/*.test.ts'],
    // The slow acceptance runs of the first batch: `npm run test:science`.
    exclude: ['test/science/**', 'node_modules/**'],
    testTimeout: 30_000,
    pool: 'forks',
    // Experiments use every core and are timed against their budget: run files one at a time.
    fileParallelism: false,
    reporters: ['default', './test/helpers/summary-reporter.ts'],
    server: { deps: { inline: ['@actions/workflow-parser'] } },
  },
});
