#!/usr/bin/env node
// Waits for the agent's report on this run's commit (its check run "axiom agent") and writes it
// into the job summary. When main has moved past this commit, the agent acts on the newer tip,
// which contains this one: its report there is shown instead. Fails when the agent reports a
// failure, or has reported nothing within AXIOM_AGENT_WAIT seconds (default 1800): then the agent
// is not running, or cannot reach GitHub. Only the agent's own App's check runs count: any App, and
// a workflow on any branch with its GITHUB_TOKEN, may create a check run of the same name. Standard
// library only.
//   GITHUB_TOKEN (checks: read, contents: read), GITHUB_API_URL, GITHUB_REPOSITORY, GITHUB_SHA,
//   GITHUB_STEP_SUMMARY  set by GitHub Actions
//   AXIOM_AGENT_APP_ID  the agent's GitHub App's numeric App ID (its settings page shows it)
//   AXIOM_AGENT_WAIT, AXIOM_AGENT_POLL  seconds (defaults 1800 and 15)
import { appendFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

const CHECK_NAME = 'axiom agent';
const api = (process.env.GITHUB_API_URL ?? 'https://api.github.com').replace(/\/$/, '');
const repository = process.env.GITHUB_REPOSITORY ?? '';
const sha = process.env.GITHUB_SHA ?? '';
const wait = Number(process.env.AXIOM_AGENT_WAIT ?? 1800);
const poll = Number(process.env.AXIOM_AGENT_POLL ?? 15);
const summary = process.env.GITHUB_STEP_SUMMARY;
const appId = process.env.AXIOM_AGENT_APP_ID ?? '';

async function get(path) {
  const response = await fetch(`${api}${path}`, {
    headers: {
      accept: 'application/vnd.github+json',
      authorization: `Bearer ${process.env.GITHUB_TOKEN ?? ''}`,
      'x-github-api-version': '2022-11-28',
      'user-agent': 'axiom-lab-await-report',
    },
    signal: AbortSignal.timeout(30_000),
  });
  if (!response.ok)
    throw new Error(`GET ${path}: HTTP ${response.status} ${(await response.text()).slice(0, 200)}`);
  return response.json();
}

/** The agent's latest completed report on a commit, if any: its own App's run, never another's. */
async function reportOn(commit) {
  const { check_runs: runs } = await get(
    `/repos/${repository}/commits/${commit}/check-runs?check_name=${encodeURIComponent(CHECK_NAME)}&app_id=${appId}&filter=latest`,
  );
  return runs.find((r) => r.status === 'completed' && String(r.app?.id) === appId);
}

function write(text) {
  if (summary) appendFileSync(summary, text);
  console.log(text);
}

if (!/^[0-9a-f]{40}$/.test(sha) || !/^[^/]+\/[^/]+$/.test(repository)) {
  console.error('GITHUB_SHA and GITHUB_REPOSITORY must be set (this runs in GitHub Actions)');
  process.exit(1);
}
if (!/^[1-9][0-9]*$/.test(appId)) {
  console.error(
    `AXIOM_AGENT_APP_ID must be the agent's GitHub App's numeric App ID (the variable of the agent environment); found ${JSON.stringify(appId)}`,
  );
  process.exit(1);
}
const deadline = Date.now() + wait * 1000;
process.on('uncaughtException', (error) => {
  console.error(`cannot read the agent's report: ${error.message}`);
  process.exit(1);
});
for (;;) {
  let report = await reportOn(sha);
  let on = sha;
  if (!report) {
    // heads/main, never a bare main: a tag of that name (anyone who can push can make one) would do.
    const tip = (await get(`/repos/${repository}/commits/heads/main`)).sha;
    if (tip !== sha) {
      report = await reportOn(tip);
      on = tip;
    }
  }
  if (report) {
    const moved =
      on === sha
        ? ''
        : `main has moved on to ${on.slice(0, 12)}; the agent's report there covers ${sha.slice(0, 12)}.\n\n`;
    write(
      `## The agent on the BOINC server: ${report.conclusion}\n\n${moved}**${report.output?.title ?? ''}**\n\n${report.output?.summary ?? ''}\n\n[the check run](${report.html_url})\n`,
    );
    process.exit(['success', 'neutral', 'skipped'].includes(report.conclusion) ? 0 : 1);
  }
  if (Date.now() >= deadline) {
    write(
      `## The agent on the BOINC server has not reported\n\nNo "${CHECK_NAME}" check run on ${sha.slice(0, 12)} (or main's tip) after ${wait} s: is \`axiom agent\` running on the BOINC server, and can it reach GitHub? See docs/operating.md.\n`,
    );
    process.exit(1);
  }
  await sleep(poll * 1000);
}
