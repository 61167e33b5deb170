import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, runProcess } from './helpers/repo.js';

const made: string[] = [];
// The clone holds node_modules and a demo lab: deleting it takes more than the default 10 s on a busy machine.
afterAll(() => {
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
}, 120_000);

/** The shell commands of README's Quick start, as a reader copies them: each ```sh block's lines. */
function quickStartCommands(): string[][] {
  const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
  const section = readme.slice(
    readme.indexOf('## Quick start'),
    readme.indexOf('\n## ', readme.indexOf('## Quick start') + 1),
  );
  return [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => (m[1] as string).trim().split('\n'));
}

/** What a clone of this repository holds: its tracked files as they are now. */
function cloneLike(): string {
  const dir = mkdtempSync(join(tmpdir(), 'axiom-newcomer-'));
  made.push(dir);
  const files = execFileSync('git', ['ls-files', '-z'], { cwd: REPO_ROOT, encoding: 'utf8' })
    .split('\0')
    .filter(Boolean);
  for (const file of files) {
    if (!existsSync(join(REPO_ROOT, file))) continue;
    mkdirSync(dirname(join(dir, file)), { recursive: true });
    copyFileSync(join(REPO_ROOT, file), join(dir, file));
  }
  return join(dir);
}

describe("README's quick start, as a newcomer runs it", () => {
  it('sets up and runs the whole loop with the first command, and the commands it prints work as printed', async () => {
    const [setup, tests] = quickStartCommands();
    expect(setup).toEqual(['scripts/quickstart.sh']);
    expect(tests).toEqual(['npm test']);
    const repo = cloneLike();
    // The reader's own home: npm's cache and settings (e.g. where node-gyp finds Node's headers) live there.
    const env = { PATH: process.env.PATH, HOME: process.env.HOME ?? tmpdir() };
    const quick = await runProcess('bash', ['-c', (setup as string[]).join('\n')], { cwd: repo, env });
    expect(quick.status, `${quick.stdout}\n${quick.stderr}`.slice(-3000)).toBe(0);
    expect(quick.stdout).toMatch(/^The loop ran in \d+ s: 10 experiments produced results this run\.$/m);
    expect(quick.stdout).toMatch(/^What the results say of their hypotheses: /m);
    // What README says is there, is there.
    for (const path of [
      'axiom-demo/lab',
      'axiom-demo/origin.git',
      'axiom-demo/boinc.sqlite',
      'axiom-demo/site/index.html',
    ])
      expect(existsSync(join(repo, path)), path).toBe(true);
    // The command the summary tells the reader to run, copied as printed, in the directory it names.
    const printed = /^Pull requests: (node \S+ pr list --all), in (\S+) \(/m.exec(quick.stdout);
    if (!printed) throw new Error(`no pull request command in:\n${quick.stdout}`);
    const [command, ...argv] = (printed[1] as string).split(' ');
    const listed = await runProcess(command as string, argv, {
      cwd: resolve(repo, printed[2] as string),
      env,
    });
    expect(listed.status, listed.stderr).toBe(0);
    expect(listed.stdout).toMatch(/^merged {2}axiom\/results-/m);
    // The ten first-batch proposals, and the second round's follow-ups of them.
    const followUps = Number(
      / took \d+ s: (\d+) follow-ups? produced results this run/.exec(quick.stdout)?.[1],
    );
    expect(followUps).toBeGreaterThan(0);
    expect(listed.stdout.match(/^merged {2}axiom\/propose\//gm)).toHaveLength(10 + followUps);
  }, 900_000);
});
