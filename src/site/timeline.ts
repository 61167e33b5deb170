import { openGit } from '../forge/git.js';
import { EXPERIMENT_NAME_PATTERN } from '../manifest/name.js';

/** One commit of main's first-parent history that touched the research record. */
export interface HistoryCommit {
  commit: string;
  /** ISO 8601, the commit date. */
  date: string;
  subject: string;
  /** Paths it changed against its first parent. */
  files: string[];
  /** The pull request it merged: its branch, and GitHub's number when GitHub merged it. */
  pullRequest?: { branch: string; number?: number };
  /** Who approved the merge: the local forge's Approved-by trailer, else the merge's author on GitHub. */
  approver?: string;
  /** When the merged branch was last committed to: when it was proposed as it was merged. */
  proposedAt?: string;
}

export interface TimelineEntry {
  commit: string;
  date: string;
  kind: 'proposed' | 'approved' | 'deployed' | 'collected' | 'credited';
  subject: string;
  /** The pull request and who approved it, when the event is a merge. */
  pullRequest?: HistoryCommit['pullRequest'];
  approver?: string;
}

const MAX_ENTRIES = 1000;
const GITHUB_MERGE = /^Merge pull request #(\d+) from [^/\s]+\/(\S+)/;

/**
 * main's first-parent history of manifests, experiments and results: one `git log` call (and one
 * for the dates of merged branches), so long histories stay fast. Empty outside a git repository.
 */
export async function readHistory(root: string): Promise<HistoryCommit[]> {
  const git = openGit(root);
  let out: string;
  try {
    out = await git.raw([
      'log',
      '--first-parent',
      '-m',
      `--max-count=${MAX_ENTRIES}`,
      '--format=%x1e%H%x1f%cI%x1f%s%x1f%P%x1f%an <%ae>%x1f%(trailers:key=Pull-Request,valueonly,separator=%x2c)%x1f%(trailers:key=Approved-by,valueonly,separator=%x2c)',
      '--name-only',
      'HEAD',
      '--',
      'manifests',
      'experiments',
      'results',
    ]);
  } catch {
    return [];
  }
  const commits = out
    .split('\x1e')
    .filter((chunk) => chunk.trim() !== '')
    .map((chunk) => {
      const [header = '', ...files] = chunk.split('\n');
      const [commit = '', date = '', subject = '', parents = '', author = '', branch = '', approvedBy = ''] =
        header.split('\x1f');
      const github = GITHUB_MERGE.exec(subject);
      const merged = parents.split(' ')[1];
      const pullRequest = branch.trim()
        ? { branch: branch.trim() }
        : github
          ? { branch: github[2] as string, number: Number(github[1]) }
          : undefined;
      return {
        entry: {
          commit,
          date,
          subject,
          files: files.filter((f) => f !== ''),
          ...(pullRequest ? { pullRequest } : {}),
          ...(pullRequest ? { approver: approvedBy.trim() || author } : {}),
        } as HistoryCommit,
        merged,
      };
    });
  const branchTips = commits.flatMap((c) => (c.merged && c.entry.pullRequest ? [c.merged] : []));
  if (branchTips.length > 0) {
    const dates = new Map(
      (await git.raw(['log', '--no-walk=unsorted', '--format=%H %cI', ...branchTips]))
        .split('\n')
        .filter(Boolean)
        .map((l) => l.split(' ') as [string, string]),
    );
    for (const c of commits) if (c.merged && dates.has(c.merged)) c.entry.proposedAt = dates.get(c.merged);
  }
  return commits.map((c) => c.entry);
}

/**
 * The events of the research record, newest first: an experiment proposed (its branch) and
 * approved (the merge that deploys it), deployed (a commit whose workunits results came back from:
 * their wu.json names it), results collected (their branch) and their credit approved (the merge
 * that grants it). Commits to main outside a pull request are listed by what they touch.
 */
export function timelineOf(
  history: readonly HistoryCommit[],
  deployedFrom: ReadonlyMap<string, readonly string[]> = new Map(),
): TimelineEntry[] {
  return history.flatMap((c): TimelineEntry[] => {
    const deployed = deployedFrom.get(c.commit);
    const deployment: TimelineEntry[] = deployed?.length
      ? [
          {
            commit: c.commit,
            date: c.date,
            kind: 'deployed',
            subject: `workunits of ${deployed.join(', ')} were created from this commit (their results came back)`,
          },
        ]
      : [];
    return [...deployment, ...eventsOf(c)];
  });
}

/** What one commit of main did to the record. */
function eventsOf(c: HistoryCommit): TimelineEntry[] {
  const touches = (prefix: string) => c.files.some((f) => f.startsWith(prefix));
  const results = touches('results/');
  const experiments = touches('manifests/') || touches('experiments/');
  if (!results && !experiments) return [];
  const what = results ? 'results' : 'experiment';
  if (!c.pullRequest)
    return [{ commit: c.commit, date: c.date, kind: results ? 'collected' : 'proposed', subject: c.subject }];
  const merged: TimelineEntry = {
    commit: c.commit,
    date: c.date,
    kind: results ? 'credited' : 'approved',
    subject: c.subject,
    pullRequest: c.pullRequest,
    ...(c.approver ? { approver: c.approver } : {}),
  };
  const opened: TimelineEntry[] = c.proposedAt
    ? [
        {
          commit: c.commit,
          date: c.proposedAt,
          kind: results ? 'collected' : 'proposed',
          subject: `${what} proposed on ${c.pullRequest.branch}`,
          pullRequest: c.pullRequest,
        },
      ]
    : [];
  return [merged, ...opened];
}

/**
 * main's history indexed once, so that every result page finds its pull requests without walking
 * the whole history again: by commit position, by each experiment's manifest changes, and by the
 * first commit that brought each record file (and each folder above it) onto main.
 */
export class RecordHistory {
  private readonly position = new Map<string, number>();
  private readonly manifestChanges = new Map<string, number[]>();
  private readonly firstTouch = new Map<string, HistoryCommit>();

  /** `commits`: newest first, as readHistory gives them. */
  constructor(readonly commits: readonly HistoryCommit[]) {
    commits.forEach((c, index) => {
      this.position.set(c.commit, index);
      for (const file of c.files) {
        const experiment = MANIFEST_FILE.exec(file)?.[1];
        if (!experiment) continue;
        const changes = this.manifestChanges.get(experiment);
        if (changes) changes.push(index);
        else this.manifestChanges.set(experiment, [index]);
      }
    });
    // Oldest first, so that the first commit to touch a path (or a folder above it) is kept.
    for (let index = commits.length - 1; index >= 0; index--) {
      const c = commits[index] as HistoryCommit;
      for (const file of c.files)
        for (let path = file; path.includes('/'); path = path.slice(0, path.lastIndexOf('/')))
          if (!this.firstTouch.has(path)) this.firstTouch.set(path, c);
    }
  }

  /** The merge that brought in the manifest a workunit was created from: at or before its commit. */
  proposalMerge(experiment: string, manifestCommit?: string): HistoryCommit | undefined {
    const from = manifestCommit ? (this.position.get(manifestCommit) ?? 0) : 0;
    const index = this.manifestChanges.get(experiment)?.find((i) => i >= from);
    return index === undefined ? undefined : this.commits[index];
  }

  /** The commit that first brought a result's record file (its batch, or its folder) onto main. */
  resultsMerge(file: string): HistoryCommit | undefined {
    return this.firstTouch.get(file);
  }
}

const MANIFEST_FILE = new RegExp(`^manifests/(${EXPERIMENT_NAME_PATTERN})\\.yaml$`);
