import { openGit } from '../forge/git.js';

export interface TimelineEntry {
  commit: string;
  /** ISO 8601, the commit date. */
  date: string;
  kind: 'proposal' | 'deployment' | 'results' | 'credit';
  subject: string;
}

const MAX_ENTRIES = 1000;

/** What a commit on main did to the research record, from the paths it touched. */
function kindOf(files: string[], subject: string): TimelineEntry['kind'] | undefined {
  const touches = (prefix: string) => files.some((f) => f.startsWith(prefix));
  if (touches('results/credit/')) return 'credit';
  if (touches('results/')) return 'results';
  if (touches('manifests/') || touches('experiments/'))
    return /^Merge /.test(subject) ? 'deployment' : 'proposal';
  return undefined;
}

/**
 * Proposals, deployments and results from the first-parent history of HEAD: one `git log` call,
 * so long histories stay fast. A merge into main that brings in experiments is a deployment
 * (deploy runs on every such push); other commits touching them are proposals.
 */
export async function readTimeline(root: string): Promise<TimelineEntry[]> {
  let out: string;
  try {
    out = await openGit(root).raw([
      'log',
      '--first-parent',
      '-m',
      `--max-count=${MAX_ENTRIES}`,
      '--format=%x1e%H%x1f%cI%x1f%s',
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
  return out
    .split('\x1e')
    .filter((chunk) => chunk.trim() !== '')
    .flatMap((chunk): TimelineEntry[] => {
      const [header = '', ...files] = chunk.split('\n');
      const [commit = '', date = '', subject = ''] = header.split('\x1f');
      const kind = kindOf(
        files.filter((f) => f !== ''),
        subject,
      );
      return kind ? [{ commit, date, kind, subject }] : [];
    });
}
