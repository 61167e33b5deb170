import { ForgeError } from '../errors.js';
import { DEFAULT_IDENTITY, gitMessage, identityEnv, openGit } from './git.js';

/**
 * The `CommitReporter` port: what the agent on the BOINC server tells the forge about a commit it
 * acted on. On GitHub a check run named "axiom agent" on the commit (`check-runs.ts`); on the local
 * forge a git note on the commit in the origin, under refs/notes/axiom-agent.
 */
export interface CommitReport {
  /** `in_progress` while the agent works on the commit. */
  status: 'in_progress' | 'completed';
  conclusion?: 'success' | 'failure' | 'neutral';
  /** One line: what it did. */
  title: string;
  /** Markdown: every stage in detail. */
  summary: string;
}

export interface CommitReporter {
  report(commit: string, report: CommitReport): Promise<void>;
  /** The last report on a commit, if any. */
  latest(commit: string): Promise<CommitReport | undefined>;
}

/** GitHub's name for the agent's check run, and the notes ref of the local forge. */
export const AGENT_CHECK_NAME = 'axiom agent';
const NOTES_REF = 'refs/notes/axiom-agent';

/** Reports as git notes in the local forge's origin (a bare repository on this machine). */
export class LocalReports implements CommitReporter {
  constructor(private readonly origin: string) {}

  async report(commit: string, report: CommitReport): Promise<void> {
    try {
      // A note is a commit: its identity is the local forge's own, not whatever the machine has.
      await openGit(this.origin, identityEnv(DEFAULT_IDENTITY)).raw([
        'notes',
        `--ref=${NOTES_REF}`,
        'add',
        '--force',
        '--message',
        JSON.stringify(report),
        commit,
      ]);
    } catch (error) {
      throw new ForgeError(`cannot report on ${commit.slice(0, 12)} in ${this.origin}: ${gitMessage(error)}`);
    }
  }

  async latest(commit: string): Promise<CommitReport | undefined> {
    try {
      const text = await openGit(this.origin).raw(['notes', `--ref=${NOTES_REF}`, 'show', commit]);
      return JSON.parse(text) as CommitReport;
    } catch {
      return undefined;
    }
  }
}
