import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { checkAssimilator } from '../src/agent/assimilator.js';
import { agentEnv, agentLab } from './helpers/agent.js';
import { createTestProject, type TestProject } from './helpers/boinc-project.js';
import { REPO_ROOT, runCli } from './helpers/repo.js';

// The agent checks that BOINC's script_assimilator will hand results to the spool it collects from:
// config.xml's daemons, and bin/axiom_assimilate run as the daemon runs it (from cron, PATH=/usr/bin:/bin).

const VERSION = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')).version as string;
const DAEMONS = `<daemons>
  <daemon><cmd>feeder -d 3</cmd></daemon>
  <daemon><cmd>sample_trivial_validator --app axiom --no_credit</cmd></daemon>
  <daemon><cmd>script_assimilator --app axiom --script axiom_assimilate</cmd></daemon>
</daemons>`;

let project: TestProject;
let scratch: string;
let spool: string;
beforeEach(async () => {
  project = await createTestProject();
  scratch = mkdtempSync(join(tmpdir(), 'axiom-assimilator-'));
  spool = join(scratch, 'spool');
  mkdirSync(spool);
});
afterEach(async () => {
  await project.cleanup();
  rmSync(scratch, { recursive: true, force: true });
});

function setDaemons(daemons: string): void {
  const config = join(project.projectDir, 'config.xml');
  writeFileSync(config, readFileSync(config, 'utf8').replace('</boinc>', `${daemons}\n</boinc>`));
}

/** scripts/boinc/axiom_assimilate installed as docs/operating.md says: its three settings edited. */
function install(settings: { home?: string; node?: string; spool?: string } = {}): string {
  const path = join(project.projectDir, 'bin', 'axiom_assimilate');
  const text = readFileSync(join(REPO_ROOT, 'scripts/boinc/axiom_assimilate'), 'utf8')
    .replace(/^AXIOM_HOME=.*$/m, `AXIOM_HOME=${settings.home ?? REPO_ROOT}`)
    .replace(/^AXIOM_NODE=.*$/m, `AXIOM_NODE=${settings.node ?? process.execPath}`)
    .replace(/^export AXIOM_SPOOL_DIR=.*$/m, `export AXIOM_SPOOL_DIR=${settings.spool ?? spool}`);
  writeFileSync(path, text);
  chmodSync(path, 0o755);
  return path;
}

const expected = () => ({ projectDir: project.projectDir, app: 'axiom', spoolDir: spool, home: REPO_ROOT });
const problems = async () =>
  (await checkAssimilator(expected())).lines.filter((l) => l.startsWith('problem: '));

describe("BOINC's assimilator, as the agent checks it", () => {
  it('is ready when config.xml runs it without tokens and bin/axiom_assimilate answers from here', async () => {
    setDaemons(DAEMONS);
    install();
    const check = await checkAssimilator(expected());
    expect(check).toEqual({
      ok: true,
      lines: [
        `bin/axiom_assimilate runs Axiom Lab ${VERSION} at ${REPO_ROOT} under ${process.execPath}, into ${spool}`,
      ],
    });
  });

  it('says what is wrong with config.xml: no validator, no assimilator, a token list, a disabled daemon', async () => {
    install();
    expect(await problems()).toEqual([
      expect.stringMatching(/^problem: config.xml runs no validator for app axiom/),
      expect.stringMatching(/^problem: config.xml runs no script_assimilator for app axiom/),
    ]);
    setDaemons(
      DAEMONS.replace(
        '--script axiom_assimilate',
        '--script "axiom_assimilate wu_name wu_id result_id runtime files"',
      ).replace('<daemon><cmd>sample_trivial_validator', '<daemon><disabled/><cmd>sample_trivial_validator'),
    );
    expect(await problems()).toEqual([
      expect.stringMatching(/^problem: config.xml runs no validator for app axiom/),
      expect.stringContaining(
        'has a token list: servers 1.6.1 and later then call the script with no arguments; use --script axiom_assimilate',
      ),
    ]);
  });

  it('says what is wrong with bin/axiom_assimilate: missing, not executable, no Node on the daemon PATH', async () => {
    setDaemons(DAEMONS);
    expect(await problems()).toEqual([expect.stringContaining('axiom_assimilate does not exist: install')]);
    const path = install({ node: '/nonexistent/node' });
    chmodSync(path, 0o644);
    expect(await problems()).toEqual([expect.stringContaining('axiom_assimilate is not executable')]);
    chmodSync(path, 0o755);
    expect(await problems()).toEqual([
      expect.stringMatching(
        /^problem: bin\/axiom_assimilate does not start as the daemon starts it \(PATH=\/usr\/bin:\/bin\): it did not answer \(exit 1: axiom_assimilate: no Node at \/nonexistent\/node; set AXIOM_NODE/,
      ),
    ]);
  });

  it('says when results would go to another spool, or through another installation, or nowhere', async () => {
    setDaemons(DAEMONS);
    const elsewhere = join(scratch, 'elsewhere');
    mkdirSync(elsewhere);
    install({ spool: elsewhere });
    expect(await problems()).toEqual([
      `problem: bin/axiom_assimilate writes results to ${elsewhere}, but the agent collects from ${spool}: set AXIOM_SPOOL_DIR in it to ${spool}`,
    ]);
    install({ spool: join(scratch, 'missing') });
    expect(await problems()).toContain(`problem: the spool ${join(scratch, 'missing')} does not exist`);
    install();
    expect(
      (await checkAssimilator({ ...expected(), home: '/opt/axiom-lab' })).lines.filter((l) =>
        l.startsWith('problem: '),
      ),
    ).toEqual([
      `problem: bin/axiom_assimilate runs the installation at ${REPO_ROOT}, the agent /opt/axiom-lab: set AXIOM_HOME in it to /opt/axiom-lab`,
    ]);
  });

  it('fails the report until the assimilator is fixed, then finds it ready on the next pass', async () => {
    const { origin } = agentLab();
    const env = agentEnv(scratch, origin, project, { AXIOM_SPOOL_DIR: spool });
    setDaemons(DAEMONS);
    const pass = async () => {
      const run = await runCli(['agent', '--once', '--json'], { cwd: scratch, env });
      return { code: run.code, ...JSON.parse(run.stdout) };
    };
    const broken = await pass();
    expect(broken).toMatchObject({ code: 1, action: 'reconciled', conclusion: 'failure' });
    expect(broken.stages).toContainEqual({ stage: 'assimilate', ok: false, line: 'assimilator: 1 problem' });
    install();
    const fixed = await pass();
    expect(fixed).toMatchObject({ code: 0, action: 'reconciled', conclusion: 'success' });
    expect(fixed.stages).toContainEqual({ stage: 'assimilate', ok: true, line: 'assimilator ready' });
    expect((await pass()).action).toBe('idle');
  });
});
