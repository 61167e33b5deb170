import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { DEFAULT_IDENTITY } from '../src/forge/git.js';
import { LocalForge } from '../src/forge/local.js';
import { proposeFromCatalogue } from '../src/propose/catalogue.js';
import { SchemaValidator } from '../src/schema/validate.js';
import { writeResultsTree } from './fixtures/results-tree.mjs';
import { ClaudeStandIn } from './helpers/claude-standin.js';
import { GOOD_DESIGN, resultScript } from './helpers/designs.js';
import { git, type Lab, makeLab, PERSON, showFile } from './helpers/git.js';
import { GitHubStandIn } from './helpers/github-standin.js';
import { manifestYaml, REPO_ROOT, runCli } from './helpers/repo.js';

function lab(): Lab {
  return makeLab({
    'README.md': '# lab\n',
    'axiom.yaml': readFileSync(join(REPO_ROOT, 'axiom.yaml'), 'utf8'),
    'fleet.yaml': readFileSync(join(REPO_ROOT, 'fleet.yaml'), 'utf8'),
  });
}

const script = resultScript;

/** A small catalogue: one good experiment, one no host can run, one the script policy refuses. */
function catalogue(root: string): string {
  const dir = join(root, 'catalogue');
  mkdirSync(join(dir, 'manifests'), { recursive: true });
  mkdirSync(join(dir, 'experiments'), { recursive: true });
  writeFileSync(join(dir, 'manifests/mean_test.yaml'), manifestYaml('mean_test'));
  writeFileSync(join(dir, 'experiments/mean_test.py'), script('mean_test'));
  writeFileSync(
    join(dir, 'manifests/huge_memory.yaml'),
    manifestYaml('huge_memory').replace('min_memory_gb: 1', 'min_memory_gb: 4096'),
  );
  writeFileSync(join(dir, 'experiments/huge_memory.py'), script('huge_memory'));
  writeFileSync(join(dir, 'manifests/phones_home.yaml'), manifestYaml('phones_home'));
  writeFileSync(join(dir, 'experiments/phones_home.py'), `import socket\n${script('phones_home')}`);
  return dir;
}

const env = (l: Lab, dir: string) => ({
  PATH: process.env.PATH,
  HOME: l.root,
  AXIOM_CATALOGUE_DIR: dir,
  AXIOM_FORGE: 'local',
});

describe('axiom propose (catalogue mode)', () => {
  it('proposes what fits and passes check and a smoke run, as a pull request a reviewer can decide from', async () => {
    const l = lab();
    const dir = catalogue(l.root);
    const result = await runCli(['propose', '--count', '3', '--smoke-seconds', '20', '--json'], {
      cwd: l.clone,
      env: env(l, dir),
    });
    // Only progress lines on stderr: each check and smoke run can take a while.
    expect(result.stderr).toBe('propose: checking mean_test\npropose: checking phones_home\n');
    expect(result.code).toBe(0);
    const report = JSON.parse(result.stdout);
    expect(report.proposed).toEqual([
      { name: 'mean_test', pullRequest: { ref: 'axiom/propose/mean_test', action: 'created' } },
    ]);
    expect(report.skipped).toEqual([
      { name: 'huge_memory', reason: 'no host of the fleet fits it' },
      { name: 'phones_home', reason: expect.stringMatching(/^axiom check: .*policy\/network/) },
    ]);
    expect(showFile(l.origin, 'axiom/propose/mean_test', 'experiments/mean_test.py')).toBe(
      script('mean_test').trimEnd(),
    );
    const manifest = parse(
      showFile(l.origin, 'axiom/propose/mean_test', 'manifests/mean_test.yaml') as string,
    );
    expect(manifest.targets.map((t: { host: number }) => t.host)).toEqual([60, 267]);
    const pull = await new LocalForge({ repoDir: l.clone, remote: 'origin', identity: DEFAULT_IDENTITY }).get(
      'axiom/propose/mean_test',
    );
    expect(pull.labels).toEqual(['axiom:proposal', 'axiom:catalogue']);
    expect(pull.body).toContain(
      '**Proposed from the built-in catalogue (the first batch); not designed by Claude.**',
    );
    expect(pull.body).toMatch(/\| 60 \| 8 \| 16 GB \| none \| 8 cores ≥ 1, 16 GB ≥ 1 GB, linux \|/);
    expect(pull.body).toContain('3 workunits on 2 hosts');
    expect(pull.body).toMatch(
      /Smoke run: \*\*ok\*\* in \d+\.\d s at a short budget in the sandbox, result envelope valid; `mean` = /,
    );

    // Again while the pull request is open: the same pull request, no new commit (only the smoke-run
    // line of the description may change), never a second one.
    const tip = git(l.origin, 'rev-parse', 'axiom/propose/mean_test');
    const again = JSON.parse(
      (await runCli(['propose', '--count', '3', '--json'], { cwd: l.clone, env: env(l, dir) })).stdout,
    );
    expect(again.proposed[0].pullRequest.ref).toBe('axiom/propose/mean_test');
    expect(git(l.origin, 'rev-parse', 'axiom/propose/mean_test')).toBe(tip);
    expect(git(l.origin, 'branch', '--list', 'axiom/*').split('\n')).toHaveLength(1);

    // Once merged, the lab has it: nothing left to propose.
    await new LocalForge({ repoDir: l.clone, remote: 'origin', identity: DEFAULT_IDENTITY }).merge(
      'axiom/propose/mean_test',
      {
        approver: PERSON,
        at: new Date(),
      },
    );
    git(l.clone, 'pull', '--quiet', 'origin', 'main');
    const after = await runCli(['propose', '--count', '3', '--smoke-seconds', '0'], {
      cwd: l.clone,
      env: env(l, dir),
    });
    expect(after.stdout).toContain('skipped mean_test: the lab already has an experiment of this name');
    expect(after.stdout).toContain('nothing to propose');
  });

  it('respects a closed proposal: not proposed again until someone labels it axiom:reopen', async () => {
    const l = lab();
    const dir = catalogue(l.root);
    const run = async () =>
      JSON.parse(
        (
          await runCli(['propose', '--count', '1', '--smoke-seconds', '0', '--json'], {
            cwd: l.clone,
            env: env(l, dir),
          })
        ).stdout,
      );
    expect((await run()).proposed[0].pullRequest.action).toBe('created');
    const tip = git(l.origin, 'rev-parse', 'axiom/propose/mean_test');
    const closed = await runCli(['pr', 'close', 'axiom/propose/mean_test'], {
      cwd: l.clone,
      env: env(l, dir),
    });
    expect(closed.stdout).toBe('closed axiom/propose/mean_test without merging\n');
    const after = await run();
    expect(after.proposed).toEqual([]);
    expect(after.skipped).toContainEqual({
      name: 'mean_test',
      reason:
        'its pull request axiom/propose/mean_test was closed without merging; label it axiom:reopen to have it proposed again',
    });
    expect(git(l.origin, 'rev-parse', 'axiom/propose/mean_test')).toBe(tip);
    const forge = new LocalForge({ repoDir: l.clone, remote: 'origin', identity: DEFAULT_IDENTITY });
    expect((await forge.get('axiom/propose/mean_test')).state).toBe('closed');
    await forge.setLabels(await forge.get('axiom/propose/mean_test'), { add: ['axiom:reopen'] });
    expect((await run()).proposed[0]).toMatchObject({ name: 'mean_test' });
    expect((await forge.get('axiom/propose/mean_test')).state).toBe('open');
  });

  it('targets only the host asked for, and --dry-run writes the files without a pull request', async () => {
    const l = lab();
    const dir = catalogue(l.root);
    const result = await runCli(['propose', '--host', '267', '--dry-run', '--smoke-seconds', '0', '--json'], {
      cwd: l.clone,
      env: env(l, dir),
    });
    expect(JSON.parse(result.stdout).proposed).toEqual([{ name: 'mean_test', pullRequest: null }]);
    const manifest = parse(readFileSync(join(l.clone, 'manifests/mean_test.yaml'), 'utf8'));
    expect(manifest.targets).toEqual([{ host: 267 }]);
    expect(git(l.origin, 'branch', '--list', 'axiom/*')).toBe('');
    const fresh = lab();
    const none = await runCli(['propose', '--host', '99999', '--smoke-seconds', '0', '--dry-run'], {
      cwd: fresh.clone,
      env: env(fresh, catalogue(fresh.root)),
    });
    expect(none.stdout).toContain('skipped huge_memory: host 99999 does not fit it');
  });

  it('checks and smoke-runs candidates a wave at a time, and accepts them in the catalogue order', async () => {
    const l = lab();
    const dir = catalogue(l.root);
    for (const name of ['quiet_b', 'quiet_c']) {
      writeFileSync(join(dir, 'manifests', `${name}.yaml`), manifestYaml(name));
      writeFileSync(join(dir, 'experiments', `${name}.py`), script(name));
    }
    const propose = async (parallel: number) => {
      const checking: string[] = [];
      const found = await proposeFromCatalogue({
        root: l.clone,
        catalogueRoot: dir,
        validator: new SchemaValidator(),
        python: '/usr/bin/python3',
        count: 2,
        smokeSeconds: 20,
        parallel,
        onProgress: (line) => checking.push(line),
      });
      return { ...found, checking };
    };
    const waves = await propose(2);
    // In the catalogue's order: mean_test and phones_home in the first wave (phones_home refused),
    // then only quiet_b, the one proposal still wanted: quiet_c is never checked.
    expect(waves.candidates.map((c) => c.name)).toEqual(['mean_test', 'quiet_b']);
    for (const c of waves.candidates) expect(c.smoke?.status, c.name).toBe('ok');
    expect(waves.skipped).toEqual([
      { name: 'huge_memory', reason: 'no host of the fleet fits it' },
      { name: 'phones_home', reason: expect.stringMatching(/^axiom check: .*policy\/network/) },
    ]);
    expect(waves.checking).toEqual([
      'propose: checking mean_test',
      'propose: checking phones_home',
      'propose: checking quiet_b',
    ]);
    // One at a time decides the same.
    const one = await propose(1);
    expect(one.candidates.map((c) => c.name)).toEqual(waves.candidates.map((c) => c.name));
    expect(one.skipped).toEqual(waves.skipped);
  }, 120_000);

  it('proposes all ten first-batch experiments to an empty lab with the first-batch fleet', async () => {
    const l = lab();
    const result = await runCli(['propose', '--count', '10', '--smoke-seconds', '0', '--dry-run', '--json'], {
      cwd: l.clone,
      env: { PATH: process.env.PATH, HOME: l.root },
    });
    expect(result.code).toBe(0);
    const report = JSON.parse(result.stdout);
    // The retired experiments are kept for their results and not proposed, and say so.
    expect(report.skipped).toEqual([
      { name: 'emergent_abilities', reason: 'retired: its manifest says so (kept for the results it has)' },
      { name: 'power_law_forgetting', reason: 'retired: its manifest says so (kept for the results it has)' },
    ]);
    expect(report.proposed).toHaveLength(10);
    for (const { name } of report.proposed)
      expect(existsSync(join(l.clone, 'experiments', `${name}.py`))).toBe(true);
    const check = await runCli(['check', '--json'], { cwd: l.clone, env: { PATH: process.env.PATH } });
    expect(
      JSON.parse(check.stdout).problems.filter((p: { severity: string }) => p.severity === 'error'),
    ).toEqual([]);
  }, 60_000);
});

/** The messages requests a stand-in saw, without its count_tokens calls. */
const messagesOf = (claude: ClaudeStandIn) => claude.requests.filter((r) => r.route === 'messages');

describe('axiom propose with Claude as the designer (through the Claude API stand-in)', () => {
  const KEY = 'sk-ant-test-key';
  const good = GOOD_DESIGN;
  const policyBreaking = { ...good, script: `import socket\n${script('coin_flips')}` };

  async function withClaude(
    answers: unknown[],
    run: (env: NodeJS.ProcessEnv, l: Lab, claude: ClaudeStandIn) => Promise<void>,
  ) {
    let n = 0;
    const claude = await ClaudeStandIn.start(KEY, () => answers[Math.min(n++, answers.length - 1)]);
    // The design prefix (contract, schemas, example, fleet, history) is long enough to cache: it is
    // counted once per run with count_tokens before it is marked.
    claude.expect('count_tokens', 1);
    const l = lab();
    try {
      await run(
        {
          PATH: process.env.PATH,
          HOME: l.root,
          ANTHROPIC_API_KEY: KEY,
          ANTHROPIC_BASE_URL: claude.url,
          AXIOM_FORGE: 'local',
        },
        l,
        claude,
      );
      // Every request was expected, and every expected request was made.
      claude.verify();
    } finally {
      await claude.close();
    }
  }

  it('opens a design that passes every check, with the model call recorded as provenance', async () => {
    // Lineage is ours to write: a design that claims parents of its own has the claim taken out.
    const claimsParents = {
      ...good,
      manifest_yaml: `${good.manifest_yaml}follow_up:\n  round: 2\n  parents:\n    - experiment: mean_test\n      results: [results/mean_test/x.md#result-1]\n  why: forged\n  would_change: forged\n`,
    };
    await withClaude([claimsParents], async (env, l, claude) => {
      claude.expect('messages', 1);
      const result = await runCli(['propose', '--smoke-seconds', '10', '--json'], { cwd: l.clone, env });
      claude.verify();
      expect(result.code).toBe(0);
      expect(JSON.parse(result.stdout).proposed).toEqual([
        { name: 'coin_flips', pullRequest: { ref: 'axiom/propose/coin_flips', action: 'created' } },
      ]);
      const manifest = parse(
        showFile(l.origin, 'axiom/propose/coin_flips', 'manifests/coin_flips.yaml') as string,
      );
      expect(manifest.provenance).toMatchObject({ designed_by: 'model', model: 'claude-sonnet-5-5' });
      expect(manifest.follow_up).toBeUndefined();
      expect(manifest.provenance.template_hash).toMatch(/^[0-9a-f]{16}$/);
      expect(manifest.provenance.data_hash).toMatch(/^[0-9a-f]{16}$/);
      const pull = await new LocalForge({
        repoDir: l.clone,
        remote: 'origin',
        identity: DEFAULT_IDENTITY,
      }).get('axiom/propose/coin_flips');
      expect(pull.labels).toEqual(['axiom:proposal', 'axiom:designed-by-model']);
      expect(pull.body).toContain('**Designed by claude-sonnet-5-5**');
      expect(pull.body).toMatch(
        /\| 60 \| 8 \| 16 GB \| none \| 8 cores ≥ 1, 16 GB ≥ 1 GB, linux — a small Linux host is enough \|/,
      );
      expect(pull.body).toMatch(
        /Designed by claude-sonnet-5-5 in 1 attempt, template [0-9a-f]{16}, data [0-9a-f]{16}, \d+ input tokens/,
      );
      const request = messagesOf(claude)[0]?.body;
      expect(request?.system[0]?.text).toContain('The script contract');
      expect(request?.messages[0]?.content[0]?.text).toContain('host 60: 8 cores, 16 GB, linux');
      expect(request?.messages[0]?.content[0]?.text).toContain('- none yet');
    });
  });

  it('sends a failing design back with its problems, and opens the repaired one', async () => {
    await withClaude([policyBreaking, good], async (env, l, claude) => {
      claude.expect('messages', 2);
      const result = await runCli(['propose', '--smoke-seconds', '10', '--json'], { cwd: l.clone, env });
      claude.verify();
      expect(JSON.parse(result.stdout).proposed[0].name).toBe('coin_flips');
      const retry = messagesOf(claude)[1]?.body?.messages[0]?.content[1]?.text ?? '';
      expect(retry).toContain('Your previous answer was:');
      expect(retry).toMatch(/policy\/network/);
      expect(showFile(l.origin, 'axiom/propose/coin_flips', 'experiments/coin_flips.py')).not.toContain(
        'socket',
      );
    });
  });

  it('gives a design up after the repairs run out: a report, no pull request, exit 1', async () => {
    await withClaude([policyBreaking, { not: 'a design' }, policyBreaking], async (env, l, claude) => {
      claude.expect('messages', 3);
      const result = await runCli(['propose', '--repairs', '2', '--smoke-seconds', '10'], {
        cwd: l.clone,
        env,
      });
      claude.verify();
      expect(result.code).toBe(1);
      expect(result.stdout).toMatch(/gave up a design after 3 attempts:\n {2}.*policy\/network/);
      expect(git(l.origin, 'branch', '--list', 'axiom/*')).toBe('');
    });
  });

  it('gets through 429 and 529 answers (the SDK retries a design once, then a second attempt), and records the cost once', async () => {
    await withClaude([good], async (env, l, claude) => {
      claude.failNext(429, 529);
      claude.expect('messages', 3);
      const result = await runCli(['propose', '--smoke-seconds', '0', '--json'], { cwd: l.clone, env });
      claude.verify();
      expect(result.code).toBe(0);
      const pull = await new LocalForge({
        repoDir: l.clone,
        remote: 'origin',
        identity: DEFAULT_IDENTITY,
      }).get('axiom/propose/coin_flips');
      // One answer, so one cost: the two refused requests cost nothing and are not counted.
      const tokens = Number(
        /in 2 attempts, template [0-9a-f]{16}, data [0-9a-f]{16}, (\d+) input tokens/.exec(pull.body)?.[1],
      );
      const answered = claude.requests.filter((r) => r.route === 'messages').at(-1)?.body;
      expect(tokens).toBeGreaterThan(0);
      expect(tokens).toBeLessThan(JSON.stringify(answered).length);
    });
  });

  it('refuses a design that repeats an experiment the lab has, and says why', async () => {
    const repeat = {
      ...good,
      name: 'mean_test',
      script: script('mean_test'),
      manifest_yaml: manifestYaml('mean_test'),
    };
    await withClaude([repeat, good], async (env, l, claude) => {
      mkdirSync(join(l.clone, 'manifests'), { recursive: true });
      mkdirSync(join(l.clone, 'experiments'), { recursive: true });
      writeFileSync(join(l.clone, 'manifests/mean_test.yaml'), manifestYaml('mean_test'));
      writeFileSync(join(l.clone, 'experiments/mean_test.py'), script('mean_test'));
      claude.expect('messages', 2);
      const result = await runCli(['propose', '--smoke-seconds', '0', '--json'], { cwd: l.clone, env });
      claude.verify();
      expect(JSON.parse(result.stdout).proposed[0].name).toBe('coin_flips');
      const first = messagesOf(claude)[0]?.body?.messages[0]?.content[1]?.text ?? '';
      expect(first).toContain('Names already taken: mean_test.');
      const retry = messagesOf(claude)[1]?.body?.messages[0]?.content[1]?.text ?? '';
      expect(retry).toContain('the lab already has an experiment of this name; design something new');
    });
  });

  it('gives the designer the fleet and the history of results, with verdicts and headline metrics', async () => {
    await withClaude([good], async (env, l, claude) => {
      writeResultsTree(l.clone, { repo: REPO_ROOT, experiments: ['double_descent'], perExperiment: 5 });
      claude.expect('messages', 1);
      // A dry run that may spend: designed, written into the checkout, no pull request.
      await runCli(['propose', '--smoke-seconds', '0', '--dry-run', '--spend'], { cwd: l.clone, env });
      claude.verify();
      const context = messagesOf(claude)[0]?.body?.messages[0]?.content[0]?.text ?? '';
      expect(context).toContain('- host 194: 128 cores, 62 GB, linux');
      expect(context).toContain('running: double_descent');
      // What the experiment taught: acceptance outcomes, what failed, the spread across hosts.
      expect(context).toMatch(
        /- double_descent: With minimum-norm least squares .* \(5 results, 3 valid; acceptance: large_over_classical_min < 1 met by \d\/3; .*failed checks: runtime ×1; large_over_classical_min [0-9.e+]+ to [0-9.e+]+ over \d hosts?/,
      );
      const system = messagesOf(claude)[0]?.body?.system[0]?.text ?? '';
      // The contract: the policy's modules, fixed work, the runtime rule, tolerances, the lab's
      // limits, an example script.
      expect(system).toContain('dataclasses, datetime, decimal');
      expect(system).toContain("declare it in the manifest's `work`");
      expect(system).toContain('a run under a fifth of the time its planned');
      expect(system).toContain("replicas must agree within each metric's `tolerance`");
      expect(system).toContain("The lab's limits (axiom.yaml): run_duration 30 to 14400 s");
      expect(system).toContain('Its script:');
    });
  });

  it("stops on a 400 with the API's message, opening nothing", async () => {
    const refused = {
      $error: { status: 400, type: 'invalid_request_error', message: 'output_config: not supported' },
    };
    await withClaude([refused], async (env, l, claude) => {
      claude.expect('messages', 1);
      const result = await runCli(['propose', '--smoke-seconds', '0'], { cwd: l.clone, env });
      claude.verify();
      expect(result.code).toBe(1);
      expect(result.stderr).toContain(
        'the Claude API answered 400 (invalid_request_error): output_config: not supported',
      );
      expect(git(l.origin, 'branch', '--list', 'axiom/*')).toBe('');
    });
  });

  it('retries a truncated design, then reports it, and keeps the other designs of the run', async () => {
    const cut = { $stop: 'max_tokens' };
    await withClaude([good, cut, cut], async (env, l, claude) => {
      claude.expect('messages', 3);
      const result = await runCli(
        ['propose', '--count', '2', '--repairs', '1', '--smoke-seconds', '0', '--json'],
        {
          cwd: l.clone,
          env,
        },
      );
      claude.verify();
      const report = JSON.parse(result.stdout);
      expect(report.proposed.map((p: { name: string }) => p.name)).toEqual(['coin_flips']);
      expect(report.abandoned).toEqual([
        { attempts: 2, problems: ['no usable answer: the answer was cut off at max_tokens (48000)'] },
      ]);
    });
  });

  it('prints the exact design request with --print-request, and a dry run asks nothing', async () => {
    await withClaude([good], async (env, l, claude) => {
      // Nothing is counted either: this cancels the count withClaude expects of a designing run.
      claude.expect('count_tokens', -1);
      const printed = await runCli(['propose', '--print-request'], { cwd: l.clone, env });
      expect(printed.code).toBe(0);
      const line = JSON.parse(printed.stdout);
      expect(line.params).toMatchObject({ model: 'claude-sonnet-5-5', max_tokens: 48000 });
      expect(line.params.output_config.effort).toBe('medium');
      expect(line.estimated_input_tokens).toBeGreaterThan(1000);
      expect(line.worst_case_usd).toBeGreaterThan(0);
      const dry = await runCli(['propose', '--dry-run'], { cwd: l.clone, env });
      expect(dry.stderr).toContain('a dry run asks nothing');
      expect(claude.requests).toEqual([]);
      claude.verify();
    });
  });

  it('opens the design on GitHub (through the GitHub stand-in)', async () => {
    await withClaude([good], async (env, l, claude) => {
      const github = await GitHubStandIn.start({
        owner: 'axiom-lab',
        repo: 'research',
        origin: l.origin,
        token: 'ghs_token',
      });
      try {
        // Closed proposals first (a person's "no" stands), then the open one for the branch.
        github
          .expect('GET /repos/{owner}/{repo}/pulls')
          .expect('GET /repos/{owner}/{repo}/pulls')
          .expect('POST /repos/{owner}/{repo}/pulls');
        github.expect('POST /repos/{owner}/{repo}/issues/{issue_number}/labels');
        claude.expect('messages', 1);
        const result = await runCli(['propose', '--smoke-seconds', '0', '--json'], {
          cwd: l.clone,
          env: {
            ...env,
            AXIOM_FORGE: 'github',
            GITHUB_TOKEN: 'ghs_token',
            GITHUB_REPOSITORY: 'axiom-lab/research',
            GITHUB_API_URL: github.url,
          },
        });
        github.verify();
        claude.verify();
        expect(JSON.parse(result.stdout).proposed).toEqual([
          { name: 'coin_flips', pullRequest: { ref: '#1', action: 'created' } },
        ]);
        expect(github.pulls[0]?.body).toContain('**Designed by claude-sonnet-5-5**');
        expect(showFile(l.origin, 'axiom/propose/coin_flips', 'manifests/coin_flips.yaml')).toContain(
          'designed_by: model',
        );
      } finally {
        await github.close();
      }
    });
  });
});
