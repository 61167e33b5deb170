import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RowDataPacket } from 'mysql2/promise';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { reconcileOnce } from '../src/agent/reconcile.js';
import type { PullRequest } from '../src/forge/forge.js';
import { DEFAULT_IDENTITY } from '../src/forge/git.js';
import { LocalForge } from '../src/forge/local.js';
import { LocalReports } from '../src/forge/reports.js';
import { agentEnv, agentLab, agentPassOptions, killedAt } from './helpers/agent.js';
import {
  type AttackLab,
  deployed,
  honestRun,
  makeAttackLab,
  returnResult,
  workunitOn,
} from './helpers/attack-lab.js';
import { createTestProject, type TestProject } from './helpers/boinc-project.js';
import { creditYaml, insertFinishedResults, recordFiles, workunitName } from './helpers/credit.js';
import { git, showFile } from './helpers/git.js';
import { insertFirstBatch } from './helpers/mariadb.js';
import { manifestYaml, OK_SCRIPT, runCli } from './helpers/repo.js';

// The agent on the BOINC server, against the local forge, a real MariaDB and the create_work stand-in.

let project: TestProject;
let scratch: string;
beforeEach(async () => {
  project = await createTestProject();
  await insertFirstBatch(project.db.connection, 1_764_000_000);
  scratch = mkdtempSync(join(tmpdir(), 'axiom-agent-'));
});
afterEach(async () => {
  await project.cleanup();
  rmSync(scratch, { recursive: true, force: true });
});

const lab = agentLab;
const envOf = (origin: string, extra: Record<string, string> = {}) =>
  agentEnv(scratch, origin, project, extra);

async function options(origin: string, checkpoint?: (step: string) => void) {
  return { ...(await agentPassOptions(envOf(origin), scratch)), ...(checkpoint ? { checkpoint } : {}) };
}

async function workunits(): Promise<string[]> {
  const [rows] = await project.db.connection.query<RowDataPacket[]>(
    'SELECT name FROM workunit ORDER BY name',
  );
  return rows.map((r) => String(r.name));
}

const note = (origin: string, commit: string) => new LocalReports(origin).latest(commit);

/** Commits `files` (null: removed) and pushes them to main, as a merge would. */
function commitOnMain(clone: string, files: Record<string, string | null>, message = 'change'): string {
  for (const [path, text] of Object.entries(files)) {
    if (text === null) {
      rmSync(join(clone, path));
      continue;
    }
    mkdirSync(join(clone, path, '..'), { recursive: true });
    writeFileSync(join(clone, path), text);
  }
  git(clone, 'add', '--all');
  git(clone, 'commit', '--quiet', '-m', message);
  git(clone, 'push', '--quiet', '--force', 'origin', 'HEAD:main');
  return git(clone, 'rev-parse', 'HEAD');
}

describe('axiom agent', () => {
  it('deploys main, reports on the commit it acted on, and then has nothing to do', async () => {
    const { origin, clone } = lab();
    const head = git(clone, 'rev-parse', 'HEAD');
    const first = await runCli(['agent', '--once', '--json'], { cwd: scratch, env: envOf(origin) });
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    const pass = JSON.parse(first.stdout);
    expect(pass).toMatchObject({ commit: head, action: 'reconciled', conclusion: 'success' });
    expect(pass.title).toContain('deploy: 3 created, 0 failed');
    expect(await workunits()).toHaveLength(3);
    const report = await note(origin, head);
    expect(report).toMatchObject({ status: 'completed', conclusion: 'success' });
    expect(report?.summary).toContain(`The agent reconciled the BOINC server with ${head}`);
    const second = await runCli(['agent', '--once', '--json'], { cwd: scratch, env: envOf(origin) });
    expect(JSON.parse(second.stdout)).toMatchObject({ commit: head, action: 'idle' });
    expect(await workunits()).toHaveLength(3);
  });

  it('killed at any step of a pass, the next pass converges on what one whole pass does', async () => {
    const { origin, clone } = lab();
    // One pass's options serve every pass: nothing in them outlives a pass.
    const pass = await options(origin);
    const points = [
      'fetched',
      'checked-out',
      'deploy:before',
      'deploy:after',
      'credit:before',
      'credit:after',
      'report:before',
      'report:after',
    ];
    for (const [i, point] of points.entries()) {
      // Every killed pass has work of its own: a new experiment (three workunits) in place of the last.
      const name = `killed_${i}`;
      const retired = i === 0 ? 'mean_test' : `killed_${i - 1}`;
      const head = commitOnMain(
        clone,
        {
          [`manifests/${retired}.yaml`]: null,
          [`experiments/${retired}.py`]: null,
          [`manifests/${name}.yaml`]: manifestYaml(name),
          [`experiments/${name}.py`]: OK_SCRIPT,
        },
        `${name}: a pass is killed at ${point}`,
      );
      // Killed in this process: at these steps nothing of the pass is left to run, as after a SIGKILL
      // (the collection, whose stage would catch a throw, is killed for real below).
      await expect(
        reconcileOnce({
          ...pass,
          checkpoint: (step) => {
            if (step === point) throw new Error(`killed at ${step}`);
          },
        }),
      ).rejects.toThrow(`killed at ${point}`);
      const next = await reconcileOnce(pass);
      expect({ point, action: next.action }).toEqual({ point, action: 'reconciled' });
      const created = (await workunits()).filter((w) => w.startsWith(`axm_${name}_`));
      expect({ point, workunits: created.length }).toEqual({ point, workunits: 3 });
      expect({ point, report: await note(origin, head) }).toMatchObject({
        point,
        report: { status: 'completed', conclusion: 'success' },
      });
      expect({ point, after: (await reconcileOnce(pass)).action }).toEqual({
        point,
        after: 'idle',
      });
    }
  }, 120_000);

  it('stops a pass when main moves under it, and takes the new commit on the next pass', async () => {
    const { origin, clone } = lab();
    let newer = '';
    const moved = await reconcileOnce(
      await options(origin, (step) => {
        if (step === 'checked-out' && !newer) newer = commitOnMain(clone, { 'README.md': 'newer\n' });
      }),
    );
    expect(moved.action).toBe('moved');
    const next = await reconcileOnce(await options(origin));
    expect(next).toMatchObject({ commit: newer, action: 'reconciled' });
    expect(await workunits()).toHaveLength(3);
    // The whole history of main, which collect and credit apply read deployed manifests from.
    const agentClone = join(scratch, 'agent', 'main');
    expect(git(agentClone, 'rev-parse', '--is-shallow-repository')).toBe('false');
    expect(git(agentClone, 'rev-list', '--count', 'HEAD')).toBe(git(clone, 'rev-list', '--count', newer));
    // The commit the cut pass had started on is not left "in progress".
    expect(await note(origin, moved.commit)).toMatchObject({
      status: 'completed',
      conclusion: 'neutral',
      title: `superseded: main moved on to ${newer.slice(0, 12)} before this commit was reconciled`,
    });
  });

  it('refuses a main that was rewritten (a force-push) until an operator accepts it', async () => {
    const { origin, clone } = lab();
    await reconcileOnce(await options(origin));
    git(clone, 'checkout', '--quiet', '--orphan', 'rewrite');
    const rewritten = commitOnMain(
      clone,
      { 'manifests/other_test.yaml': manifestYaml('other_test'), 'experiments/other_test.py': OK_SCRIPT },
      'history rewritten',
    );
    const refused = await runCli(['agent', '--once', '--json'], { cwd: scratch, env: envOf(origin) });
    expect(refused.code).toBe(1);
    expect(JSON.parse(refused.stdout)).toMatchObject({ commit: rewritten, action: 'refused' });
    expect((await note(origin, rewritten))?.title).toMatch(
      /^main was rewritten: [0-9a-f]{12} does not descend from [0-9a-f]{12}; nothing was done$/,
    );
    expect(await workunits()).toHaveLength(3);
    const accepted = await runCli(['agent', '--once', '--json', '--accept-rewrite'], {
      cwd: scratch,
      env: envOf(origin),
    });
    expect(JSON.parse(accepted.stdout)).toMatchObject({ commit: rewritten, action: 'reconciled' });
    expect((await workunits()).filter((w) => w.startsWith('axm_other_test_'))).toHaveLength(3);
  });

  it('force-pushed under a pass: the pass stops before any stage, and the next refuses the rewritten main', async () => {
    const { origin, clone } = lab();
    let rewritten = '';
    const raced = await reconcileOnce(
      await options(origin, (step) => {
        if (step !== 'checked-out' || rewritten) return;
        git(clone, 'checkout', '--quiet', '--orphan', 'rewrite');
        rewritten = commitOnMain(
          clone,
          { 'manifests/other_test.yaml': manifestYaml('other_test'), 'experiments/other_test.py': OK_SCRIPT },
          'history rewritten during a pass',
        );
      }),
    );
    expect(raced.action).toBe('moved');
    expect(await workunits()).toEqual([]);
    const next = await reconcileOnce(await options(origin));
    expect(next).toMatchObject({ commit: rewritten, action: 'refused' });
    expect(await workunits()).toEqual([]);
  });

  it("fetches main alone: a writer's branch, with its own workflow and code, never reaches the server", async () => {
    const { origin, clone } = lab();
    git(clone, 'checkout', '--quiet', '-b', 'evil');
    mkdirSync(join(clone, '.github/workflows'), { recursive: true });
    writeFileSync(
      join(clone, '.github/workflows/evil.yml'),
      'on: push\njobs:\n  x:\n    runs-on: [self-hosted, boinc]\n    steps:\n      - run: cat /etc/axiom/agent.env\n',
    );
    writeFileSync(join(clone, 'experiments/mean_test.py'), 'import os\nos.system("id")\n');
    git(clone, 'add', '--all');
    git(clone, 'commit', '--quiet', '-m', 'evil');
    git(clone, 'push', '--quiet', 'origin', 'evil');
    const evil = git(clone, 'rev-parse', 'HEAD');
    await reconcileOnce(await options(origin));
    const agentClone = join(scratch, 'agent', 'main');
    expect(() => git(agentClone, 'cat-file', '-e', evil)).toThrow();
    expect(git(agentClone, 'for-each-ref', '--format=%(refname)')).toBe('refs/axiom/remotes/origin/main');
    expect(readFileSync(join(agentClone, 'experiments/mean_test.py'), 'utf8')).toBe(OK_SCRIPT);
  });

  it('follows refs/heads/main exactly: a branch whose name ends in refs/heads/main neither moves nor stalls it', async () => {
    const { origin, clone } = lab();
    const head = git(clone, 'rev-parse', 'HEAD');
    // git ls-remote matches a pattern against the tail of each ref: this branch sorts before main.
    git(clone, 'checkout', '--quiet', '-b', 'evil');
    writeFileSync(join(clone, 'experiments/mean_test.py'), 'import os\nos.system("id")\n');
    git(clone, 'commit', '--quiet', '-am', 'evil');
    git(clone, 'push', '--quiet', 'origin', 'HEAD:refs/heads/a/refs/heads/main');
    const pass = await reconcileOnce(await options(origin));
    expect(pass).toMatchObject({ commit: head, action: 'reconciled', report: { conclusion: 'success' } });
    expect(await workunits()).toHaveLength(3);
    expect((await reconcileOnce(await options(origin))).action).toBe('idle');
  });

  it("runs nothing of main's own code: a merged change to its CLI, package scripts, policy checker and workflows is data", async () => {
    const { origin, clone } = lab();
    const marker = join(scratch, 'ran');
    const touch = `require('node:fs').writeFileSync(${JSON.stringify(marker)}, 'ran')`;
    const merged = commitOnMain(
      clone,
      {
        'bin/axiom.js': `#!/usr/bin/env node\n${touch};\n`,
        'package.json': JSON.stringify({
          name: 'x',
          scripts: { preinstall: `node -e "${touch}"`, prepare: `node -e "${touch}"` },
        }),
        'scripts/policy_check.py': `open(${JSON.stringify(marker)}, "w").write("ran")\n`,
        'scripts/boinc/axiom_assimilate': `#!/bin/sh\ntouch ${marker}\n`,
        '.github/workflows/deploy.yml': `on: push\njobs:\n  x:\n    runs-on: [self-hosted, boinc]\n    steps:\n      - run: touch ${marker}\n`,
        '.gitattributes': '* filter=evil\n',
        '.gitmodules': '[submodule "x"]\n\tpath = x\n\turl = ../x\n',
      },
      'a reviewer missed what this changes',
    );
    const pass = await reconcileOnce(await options(origin));
    expect(pass).toMatchObject({ commit: merged, action: 'reconciled', report: { conclusion: 'success' } });
    expect(await workunits()).toHaveLength(3);
    expect(existsSync(marker)).toBe(false);
    // The files are in the agent's checkout, as data it never runs.
    expect(readFileSync(join(scratch, 'agent', 'main', 'scripts/policy_check.py'), 'utf8')).toContain(marker);
  });

  it('checks out a symlink merged to main as the text it holds: no file outside the checkout is read or published', async () => {
    const { origin, clone } = lab();
    const secret = join(scratch, 'agent.env');
    writeFileSync(secret, 'AXIOM_DB_URL=mysql://axiom:hunter2@127.0.0.1/boinc\n');
    rmSync(join(clone, 'experiments/mean_test.py'));
    symlinkSync(secret, join(clone, 'experiments/mean_test.py'));
    const merged = commitOnMain(clone, {}, "a script that is a link to the server's secrets");
    const pass = await reconcileOnce(await options(origin));
    expect(pass).toMatchObject({ commit: merged, action: 'reconciled' });
    const checkedOut = join(scratch, 'agent', 'main', 'experiments/mean_test.py');
    expect(lstatSync(checkedOut).isFile()).toBe(true);
    expect(readFileSync(checkedOut, 'utf8')).toBe(secret);
    const published = readdirSync(join(scratch, 'publish'), { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile())
      .map((e) => readFileSync(join(e.parentPath, e.name), 'utf8'));
    expect(published.join('\n')).not.toContain('hunter2');
  });

  it('grants exactly what the merge put on main, not what the results branch says afterwards', async () => {
    const { origin, clone } = lab();
    const deployedFrom = git(clone, 'rev-parse', 'HEAD');
    await reconcileOnce(await options(origin));
    const items = [60, 267].map((host, i) => ({
      workunit: workunitName('mean_test', host, i),
      host,
      user: i + 1,
    }));
    const ids = await insertFinishedResults(project.db.connection, items);
    const entries = items.map((item, i) => ({
      result: ids[i] as number,
      ...item,
      experiment: 'mean_test',
      team: 0,
      verdict: 'valid',
      quality: 0.5,
      credit: 5,
    }));
    const run = '2026-11-25T120000Z';
    // The results branch as collect proposed it; the reviewer lowered one entry before merging.
    git(clone, 'checkout', '--quiet', '-b', 'axiom/results-x');
    commitOnBranch(
      clone,
      {
        [`results/credit/${run}.yaml`]: creditYaml(run, entries),
        ...recordFiles(run, entries, deployedFrom),
      },
      'axiom/results-x',
    );
    git(clone, 'checkout', '--quiet', 'main');
    git(clone, 'merge', '--quiet', '--squash', 'axiom/results-x');
    const edited = entries.map((e, i) => (i === 0 ? { ...e, credit: 2 } : e));
    commitOnMain(
      clone,
      { [`results/credit/${run}.yaml`]: creditYaml(run, edited), ...recordFiles(run, edited, deployedFrom) },
      'Results (edited)',
    );
    // Afterwards someone pushes a bigger claim to the old branch.
    git(clone, 'checkout', '--quiet', 'axiom/results-x');
    commitOnBranch(
      clone,
      {
        [`results/credit/${run}.yaml`]: creditYaml(
          run,
          entries.map((e) => ({ ...e, credit: 10 })),
        ),
      },
      'axiom/results-x',
    );
    const pass = await reconcileOnce(await options(origin));
    expect(pass.report?.title).toContain('credit: 2 granted, 0 refused');
    const [rows] = await project.db.connection.query<RowDataPacket[]>(
      'SELECT result_id, amount FROM axiom_credit_ledger ORDER BY result_id',
    );
    expect(rows.map((r) => Number(r.amount))).toEqual([2, 5]);
  });
});

function commitOnBranch(clone: string, files: Record<string, string>, branch: string): void {
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(clone, path, '..'), { recursive: true });
    writeFileSync(join(clone, path), text);
  }
  git(clone, 'add', '--all');
  git(clone, 'commit', '--quiet', '-m', `results on ${branch}`);
  git(clone, 'push', '--quiet', '--force', 'origin', branch);
}

/** An attack lab the agent follows, collecting on every pass: its environment, and a pass. */
function agentOnAttackLab(attack: AttackLab) {
  const env = {
    ...attack.env,
    AXIOM_AGENT_REMOTE: attack.lab.origin,
    AXIOM_AGENT_DIR: join(scratch, 'agent'),
  };
  const argv = ['--once', '--collect-every', '0'];
  return { env, argv, pass: async () => reconcileOnce(await agentPassOptions(env, scratch, argv)) };
}

describe('the agent and the quorum', () => {
  it('creates the tie-breaker collect asks for in the same pass, without waiting for main to move', async () => {
    const attack = await makeAttackLab([60, 267, 209]);
    try {
      const { pass } = agentOnAttackLab(attack);
      await pass();
      const inputs = await deployed(attack);
      expect(inputs.size).toBe(3);
      // Two colluders return the same fabrication, one host the honest result: two against one decides nothing.
      const honest = await honestRun(attack, workunitOn(inputs, 209));
      const fabricated = structuredClone(honest);
      fabricated.envelope.metrics.spread *= 1.5;
      fabricated.envelope.metrics.final *= 1.5;
      await returnResult(attack, workunitOn(inputs, 60), 60, fabricated);
      await returnResult(attack, workunitOn(inputs, 267), 267, fabricated);
      await returnResult(attack, workunitOn(inputs, 209), 209, honest);
      const disputed = await pass();
      const collect = disputed.stages.find((s) => s.stage === 'collect');
      expect(collect?.ok).toBe(true);
      const tie = [...(await deployed(attack)).values()].find((i) => i.kind === 'tie-breaker');
      expect(tie).toBeDefined();
      // The tie-breaker is in BOINC already: the pass deployed after collecting.
      const [rows] = await attack.project.db.connection.query<RowDataPacket[]>(
        'SELECT name FROM workunit WHERE name = ?',
        [tie?.wu_name],
      );
      expect(rows).toHaveLength(1);
      expect(disputed.stages.find((s) => s.stage === 'deploy')).toMatchObject({
        ok: true,
        line: 'deploy: 1 created, 0 failed',
      });
    } finally {
      await attack.cleanup();
    }
  }, 240_000);
});

describe("the agent's collection, killed", () => {
  it('after judging and after publishing: the next passes publish the judged run once, in one pull request', async () => {
    const attack = await makeAttackLab([60, 267]);
    try {
      const { env, argv, pass } = agentOnAttackLab(attack);
      await pass();
      const inputs = await deployed(attack);
      const honest = await honestRun(attack, workunitOn(inputs, 60));
      for (const host of [60, 267]) await returnResult(attack, workunitOn(inputs, host), host, honest);
      const pending = join(attack.spool, 'collect-pending.json');
      const forge = new LocalForge({
        repoDir: attack.lab.clone,
        remote: 'origin',
        identity: DEFAULT_IDENTITY,
      });
      expect(await killedAt('collect:judged', env, scratch, argv)).toMatchObject({ signal: 'SIGKILL' });
      expect(existsSync(pending)).toBe(true);
      expect(await forge.listOpen('axiom/results')).toEqual([]);
      const judged = JSON.parse(readFileSync(pending, 'utf8')).run;
      expect(await killedAt('collect:published', env, scratch, argv)).toMatchObject({ signal: 'SIGKILL' });
      const opened = await forge.listOpen('axiom/results');
      expect(opened).toHaveLength(1);
      const done = await pass();
      const collect = done.stages.find((s) => s.stage === 'collect');
      expect(collect).toMatchObject({ ok: true, line: 'collect: 2 results in 1 pull request' });
      expect(collect?.detail).toContain(`run ${judged} (judged before, published now)`);
      expect(existsSync(pending)).toBe(false);
      const open = await forge.listOpen('axiom/results');
      expect(open.map((p) => p.branch)).toEqual(opened.map((p) => p.branch));
      const [file] = await forge.listFiles(open[0] as PullRequest, 'results/credit/');
      const credit = showFile(attack.lab.origin, open[0]?.branch as string, file as string) ?? '';
      expect(credit.match(/^ {2}- result: /gm)).toHaveLength(2);
      const after = await pass();
      expect(after.stages.find((s) => s.stage === 'collect')?.line).toBe('collect: nothing new');
    } finally {
      await attack.cleanup();
    }
  }, 240_000);
});
