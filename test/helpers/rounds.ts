import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { git, type Lab, makeLab } from './git.js';
import { REPO_ROOT } from './repo.js';

/** The collection run a recorded round belongs to, and the batch its results are in. */
export const ROUND_RUN = '2026-11-25T120000Z';

/** One result of a recorded round, as collect would have written it. */
export interface RecordedResult {
  id: number;
  host: number;
  outcome: 'supported' | 'not supported' | 'inconclusive';
  reason?: string;
  metrics: Record<string, number>;
  series?: Record<string, number[]>;
  params?: Record<string, number>;
  status?: 'ok' | 'partial';
  progress?: number;
  verdict?: 'valid' | 'invalid' | 'suspicious';
  /** The credit merged for it, when a reviewer changed what code proposed (proposed is 20). */
  credit?: number;
  receivedAt?: string;
  replicaKey?: string;
  decided?: 'unanimous' | 'tie-breakers' | 'alone' | 'person';
}

/** A lab (bare origin and clone) with the repository's fleet and configuration, and these first-batch experiments. */
export function labWith(experiments: readonly string[]): Lab {
  const files: Record<string, string> = {
    'README.md': '# lab\n',
    'axiom.yaml': readFileSync(join(REPO_ROOT, 'axiom.yaml'), 'utf8'),
    'fleet.yaml': readFileSync(join(REPO_ROOT, 'fleet.yaml'), 'utf8'),
  };
  for (const name of experiments) {
    files[`manifests/${name}.yaml`] = readFileSync(join(REPO_ROOT, 'manifests', `${name}.yaml`), 'utf8');
    files[`experiments/${name}.py`] = readFileSync(join(REPO_ROOT, 'experiments', `${name}.py`), 'utf8');
  }
  return makeLab(files);
}

/**
 * Writes one experiment's round into the lab's record: its batch's data file and review (with the
 * anchor of every result), and a credit file when a reviewer changed a credit; commits and pushes it.
 */
export function recordRound(
  lab: Lab,
  experiment: string,
  results: readonly RecordedResult[],
  batch = ROUND_RUN,
): void {
  const dir = join(lab.clone, 'results', experiment);
  mkdirSync(dir, { recursive: true });
  const lines = results.map((r) => {
    const review = {
      result: r.id,
      workunit: `axm_${experiment}_0123456789ab_h${r.host}_r0`,
      experiment,
      host: r.host,
      user: 1,
      run: ROUND_RUN,
      batch,
      received_at: r.receivedAt ?? '2026-11-25T11:00:00Z',
      verdict: r.verdict ?? 'valid',
      outcome: r.outcome,
      ...(r.reason ? { outcome_reason: r.reason } : {}),
      quality: 1,
      proposed_credit: 20,
      judged_by: 'rules',
      checks: [{ rule: 'envelope', passed: true }],
      ...(r.replicaKey
        ? {
            replica_key: r.replicaKey,
            replication: { decided: r.decided ?? 'unanimous', standing: 'agreed', quorum: 2, classes: [] },
          }
        : {}),
    };
    const envelope = {
      experiment,
      version: '1',
      status: r.status ?? 'ok',
      ...(r.progress !== undefined ? { progress: r.progress } : {}),
      seed: 100 + r.id,
      params: r.params ?? {},
      budget_seconds: 600,
      elapsed_seconds: 300,
      metrics: r.metrics,
      series: r.series ?? {},
      summary: `result ${r.id} of ${experiment}`,
    };
    return `${JSON.stringify({ result: r.id, review, envelope })}\n`;
  });
  writeFileSync(join(dir, `${batch}.jsonl`), lines.join(''));
  writeFileSync(
    join(dir, `${batch}.md`),
    `# ${experiment}: batch ${batch}\n\n${results.map((r) => `| <a id="result-${r.id}"></a>${r.id} | ${r.host} | ${r.outcome} |\n`).join('')}`,
  );
  const edited = results.filter((r) => r.credit !== undefined);
  if (edited.length) {
    mkdirSync(join(lab.clone, 'results', 'credit'), { recursive: true });
    writeFileSync(
      join(lab.clone, 'results', 'credit', `${batch}.yaml`),
      stringify({
        run: ROUND_RUN,
        judged_by: 'rules',
        entries: edited.map((r) => ({
          result: r.id,
          workunit: `axm_${experiment}_0123456789ab_h${r.host}_r0`,
          experiment,
          host: r.host,
          user: 1,
          verdict: r.verdict ?? 'valid',
          quality: 1,
          credit: r.credit,
        })),
      }),
    );
  }
  git(lab.clone, 'add', '.');
  git(lab.clone, 'commit', '--quiet', '-m', `Results of ${experiment}`);
  git(lab.clone, 'push', '--quiet', 'origin', 'main');
}

/** Copies a file of this repository into the lab, for experiments that are not first-batch ones. */
export function copyIntoLab(lab: Lab, path: string, to = path): void {
  mkdirSync(join(lab.clone, to, '..'), { recursive: true });
  cpSync(join(REPO_ROOT, path), join(lab.clone, to));
}
