import { RequestError } from '@octokit/request-error';
import { Octokit } from '@octokit/rest';
import { ForgeError } from '../errors.js';
import { cutText } from './body.js';
import { AGENT_CHECK_NAME, type CommitReport, type CommitReporter } from './reports.js';

/** GitHub refuses a check run whose output summary is longer than this (REST docs, "Create a check run"). */
const SUMMARY_LIMIT = 65_535;

/**
 * Reports as the check run "axiom agent" on the commit (docs.github.com, "Check runs"): created
 * once per commit and updated in place, so a commit carries one report however often the agent
 * passes. Only a GitHub App's installation token may create check runs, but any App may name one
 * "axiom agent" (a workflow on any branch can, with its GITHUB_TOKEN): the agent reads and updates
 * only its own App's runs (`app_id`).
 */
export class GitHubCheckRuns implements CommitReporter {
  private readonly owner: string;
  private readonly repo: string;

  constructor(
    private readonly options: {
      repository: string;
      apiUrl: string;
      token: () => Promise<string>;
      /** The agent's App's numeric ID. */
      appId: () => Promise<number>;
    },
  ) {
    [this.owner, this.repo] = options.repository.split('/') as [string, string];
  }

  private async client(): Promise<Octokit> {
    return new Octokit({
      auth: await this.options.token(),
      baseUrl: this.options.apiUrl.replace(/\/$/, ''),
      userAgent: 'axiom-lab',
    });
  }

  private async find(client: Octokit, commit: string) {
    const { data } = await client.rest.checks.listForRef({
      owner: this.owner,
      repo: this.repo,
      ref: commit,
      check_name: AGENT_CHECK_NAME,
      app_id: await this.options.appId(),
      filter: 'latest',
    });
    return data.check_runs[0];
  }

  async report(commit: string, report: CommitReport): Promise<void> {
    const output = { title: cutText(report.title, 1000), summary: cutText(report.summary, SUMMARY_LIMIT) };
    const fields = {
      owner: this.owner,
      repo: this.repo,
      status: report.status,
      output,
      ...(report.status === 'completed'
        ? { conclusion: report.conclusion ?? 'neutral', completed_at: new Date().toISOString() }
        : {}),
    };
    await this.call(`report on ${commit.slice(0, 12)}`, async () => {
      const client = await this.client();
      const existing = await this.find(client, commit);
      if (existing) await client.rest.checks.update({ ...fields, check_run_id: existing.id });
      else await client.rest.checks.create({ ...fields, name: AGENT_CHECK_NAME, head_sha: commit });
    });
  }

  async latest(commit: string): Promise<CommitReport | undefined> {
    const run = await this.call(`read the report on ${commit.slice(0, 12)}`, async () =>
      this.find(await this.client(), commit),
    );
    if (!run) return undefined;
    return {
      status: run.status === 'completed' ? 'completed' : 'in_progress',
      ...(run.conclusion ? { conclusion: run.conclusion as CommitReport['conclusion'] } : {}),
      title: run.output.title ?? '',
      summary: run.output.summary ?? '',
    };
  }

  private async call<T>(what: string, request: () => Promise<T>): Promise<T> {
    try {
      return await request();
    } catch (error) {
      if (!(error instanceof RequestError)) throw error;
      throw new ForgeError(
        `GitHub refused to ${what} (HTTP ${error.status}): ${error.message.split(' - ')[0]}`,
        error.status,
        {
          cause: error,
        },
      );
    }
  }
}
