#!/usr/bin/env node
// Runs the benchmarks (all, or those named) and writes bench-results.json at the repository root:
// an array of { name, value, unit, target, pass }. Entries of benchmarks not run are kept.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { benchAgent } from './agent.mjs';
import { benchBudgetFill } from './budget-fill.mjs';
import { benchCheck } from './check.mjs';
import { benchCollect } from './collect.mjs';
import { benchCopyCheck } from './copy-check.mjs';
import { benchCoreUsage } from './core-usage.mjs';
import { benchCredit } from './credit.mjs';
import { benchDemo } from './demo.mjs';
import { benchDeploy } from './deploy.mjs';
import { benchJudgeTokens } from './judge-tokens.mjs';
import { benchMemory } from './memory.mjs';
import { benchSandbox } from './sandbox.mjs';
import { benchSite } from './site.mjs';

const BENCHMARKS = {
  'check-1000-manifests-s': benchCheck,
  'experiment-core-usage': benchCoreUsage,
  'experiment-budget-fill': benchBudgetFill,
  'experiment-memory': benchMemory,
  'sandbox-overhead': benchSandbox,
  'deploy-bulk-speedup': benchDeploy,
  'credit-apply-10k-s': benchCredit,
  'site-1000-results-s': benchSite,
  'collect-10k': benchCollect,
  'copy-check-100k': benchCopyCheck,
  'judge-input-tokens-per-result': benchJudgeTokens,
  'agent-reconcile': benchAgent,
  'demo-two-rounds': benchDemo,
};

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const names = process.argv.slice(2);
if (names.includes('--help') || names.includes('-h')) {
  console.log(`Usage: npm run bench [-- NAME...]\n\nBenchmarks: ${Object.keys(BENCHMARKS).join(', ')}`);
  process.exit(0);
}
const unknown = names.filter((n) => !(n in BENCHMARKS));
if (unknown.length > 0) {
  console.error(`unknown benchmark: ${unknown.join(', ')}; known: ${Object.keys(BENCHMARKS).join(', ')}`);
  process.exit(2);
}

const resultsFile = join(root, 'bench-results.json');
const previous = existsSync(resultsFile) ? JSON.parse(readFileSync(resultsFile, 'utf8')) : [];
const results = new Map(previous.map((r) => [r.name, r]));
let failed = false;
for (const name of names.length > 0 ? names : Object.keys(BENCHMARKS)) {
  console.log(`bench ${name} ...`);
  const entries = await BENCHMARKS[name]({ root, log: (line) => console.log(`  ${line}`) });
  for (const entry of entries) {
    results.set(entry.name, entry);
    console.log(
      `  ${entry.name}: ${entry.value} ${entry.unit} (target ${entry.target}) ${entry.pass ? 'PASS' : 'FAIL'}`,
    );
    failed ||= !entry.pass;
  }
}
writeFileSync(resultsFile, `${JSON.stringify([...results.values()], null, 2)}\n`);
console.log(`wrote ${resultsFile}`);
process.exit(failed ? 1 : 0);
