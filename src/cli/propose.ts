import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { OpenOutcome } from '../forge/forge.js';
import { openForge } from '../forge/open.js';
import { resolvePython } from '../policy/python.js';
import { CATALOGUE_ROOT, type Candidate, proposeFromCatalogue } from '../propose/catalogue.js';
import { SchemaValidator } from '../schema/validate.js';
import { booleanOption, type Command, numberOption, stringOption } from './command.js';
import { createProgress } from './progress.js';

const DEFAULT_SMOKE_SECONDS = 20;

/** The pull request description a reviewer decides from. */
export function proposalBody(c: Candidate): string {
  const m = c.manifest;
  const plan = c.plan;
  const metrics = Object.entries(c.smoke?.metrics ?? {})
    .slice(0, 6)
    .map(([k, v]) => `${k} = ${Number(v.toPrecision(4))}`)
    .join(', ');
  return [
    `## ${m.title}`,
    '',
    '**Proposed from the built-in catalogue (the first batch); not designed by Claude.**',
    '',
    '### Hypothesis',
    '',
    `> ${m.hypothesis}`,
    '',
    '### Hosts',
    '',
    '| host | cores | memory | GPU | why it fits |',
    '| ---: | ---: | ---: | --- | --- |',
    ...c.fit.map(
      ({ host, why }) =>
        `| ${host.id} | ${host.cores} | ${host.memoryGb} GB | ${host.gpus.map((g) => g.model).join(', ') || 'none'} | ${why} |`,
    ),
    '',
    '### Plan',
    '',
    plan
      ? `${plan.workunits.length} workunits on ${plan.hosts.length} host${plan.hosts.length === 1 ? '' : 's'}, ${plan.cpuHours.toFixed(1)} CPU-hours, ${m.run_duration} s each; credit at most ${m.credit_cap} per result (${m.credit_cap * plan.workunits.length} in total).`
      : 'No plan.',
    '',
    '### Checks',
    '',
    '`axiom check` passed: manifest schema, cross-file rules (hosts exist and fit, limits), script policy.',
    '',
    '### Smoke run',
    '',
    c.smoke
      ? `${c.smoke.status} in ${c.smoke.elapsedSeconds.toFixed(1)} s at a short budget, result envelope valid${metrics ? `; ${metrics}` : ''}.`
      : 'Skipped (--smoke-seconds 0).',
    '',
    '### Provenance',
    '',
    `Catalogue experiment \`${c.name}\`, script sha256 \`${c.scriptSha256}\`. Merging this pull request approves it; deploy then creates its workunits.`,
    '',
  ].join('\n');
}

export const proposeCommand: Command = {
  name: 'propose',
  summary: 'propose experiments matched to the fleet as pull requests (from the built-in catalogue)',
  usage: '',
  description: [
    'Proposes experiments the lab does not have yet (by name, script hash or hypothesis) from the',
    'built-in catalogue, the first batch, targeted at hosts of the fleet snapshot that fit them',
    '(--host ID: only that host). Each proposal is checked as axiom check would (schema, rules, script',
    'policy, host fit) and smoke-run through the local runner with its result envelope validated;',
    'one that fails is reported and not proposed. Each becomes a pull request on branch',
    'axiom/propose/<name> (through AXIOM_FORGE) with the script and manifest and a description a',
    'reviewer can decide from. --dry-run writes the files into the checkout and opens nothing.',
    'Designing new experiments with Claude is not part of this version.',
  ].join('\n'),
  options: {
    root: {
      type: 'string',
      value: 'DIR',
      description: 'the lab repository (default: the current directory)',
    },
    count: { type: 'string', value: 'N', description: 'propose at most N experiments (default 1)' },
    host: { type: 'string', value: 'ID', description: 'propose only for this host' },
    'smoke-seconds': {
      type: 'string',
      value: 'S',
      description: `budget of the smoke run of each script (default ${DEFAULT_SMOKE_SECONDS}; 0 skips it)`,
    },
    'dry-run': { type: 'boolean', description: 'write the files into the checkout; open no pull request' },
    json: { type: 'boolean', description: 'report as JSON' },
  },
  async run(args, io) {
    const root = resolve(io.cwd, stringOption(args, 'root') ?? '.');
    const count = numberOption(args, 'propose', 'count', { min: 1, integer: true }) ?? 1;
    const host = numberOption(args, 'propose', 'host', { min: 1, integer: true });
    const smokeSeconds = numberOption(args, 'propose', 'smoke-seconds', { min: 0 }) ?? DEFAULT_SMOKE_SECONDS;
    const dryRun = booleanOption(args, 'dry-run');
    const progress = createProgress(io);
    const { candidates, skipped } = await proposeFromCatalogue({
      root,
      catalogueRoot: io.env.AXIOM_CATALOGUE_DIR
        ? resolve(io.cwd, io.env.AXIOM_CATALOGUE_DIR)
        : CATALOGUE_ROOT,
      validator: new SchemaValidator(),
      python: resolvePython(io.env),
      count,
      ...(host !== undefined ? { host } : {}),
      smokeSeconds,
      onProgress: (line) => progress.update(line),
    });
    progress.done();
    const forge = dryRun
      ? undefined
      : openForge({ env: io.env, repoDir: root, log: (l) => io.stderr.write(`${l}\n`) });
    const opened: { name: string; pr?: OpenOutcome }[] = [];
    for (const c of candidates) {
      const files = [
        { path: `experiments/${c.name}.py`, content: c.script },
        { path: `manifests/${c.name}.yaml`, content: c.manifestText },
      ];
      if (!forge) {
        for (const f of files) {
          mkdirSync(dirname(join(root, f.path)), { recursive: true });
          writeFileSync(join(root, f.path), f.content);
        }
        opened.push({ name: c.name });
        continue;
      }
      const pr = await forge.openOrUpdate({
        branch: `axiom/propose/${c.name}`,
        base: 'main',
        title: `Propose ${c.name}: ${c.manifest.title}`,
        body: proposalBody(c),
        labels: ['axiom:proposal', 'axiom:catalogue'],
        commitMessage: `Propose experiment ${c.name} (from the catalogue)`,
        files,
      });
      opened.push({ name: c.name, pr });
    }
    const report = {
      proposed: opened.map((o) => ({
        name: o.name,
        pullRequest: o.pr ? { ref: o.pr.pullRequest.ref, action: o.pr.action } : null,
      })),
      skipped,
      dryRun,
    };
    const text = [
      ...opened.map((o) =>
        o.pr ? `proposed ${o.name} in ${o.pr.pullRequest.ref} (${o.pr.action})` : `wrote ${o.name} (dry run)`,
      ),
      ...skipped.map((s) => `skipped ${s.name}: ${s.reason}`),
      opened.length === 0 ? 'nothing to propose' : '',
    ]
      .filter(Boolean)
      .join('\n');
    io.stdout.write(booleanOption(args, 'json') ? `${JSON.stringify(report, null, 2)}\n` : `${text}\n`);
    return 0;
  },
};
