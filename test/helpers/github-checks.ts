import type { AppIdentity, Refusal } from './github-apps.js';

/**
 * Check runs as GitHub keeps them (REST docs, "Check runs"): only a GitHub App creates one, on a
 * commit of the repository; `conclusion` is required with `status: completed` or `completed_at`, and
 * giving it completes the run; the output's title and summary come together, the summary and text at
 * most 65,535 characters, at most 50 annotations a request. Any App's run may carry any name, so a
 * reader that trusts a name alone trusts whichever App wrote it; `app_id` narrows a listing to one
 * App. `filter=latest` (the default) keeps the newest run of each name and App. GitHub answers a run it
 * cannot take with 422 (for a commit it does not have, "No commit found for SHA: …", as for statuses,
 * rust-lang/homu #141), though its description lists only 201 and 200.
 */

export interface CheckOutput {
  title: string;
  summary: string;
  text?: string;
  annotations?: unknown[];
}

export interface CheckRunState {
  id: number;
  name: string;
  headSha: string;
  status: 'queued' | 'in_progress' | 'completed';
  conclusion: string | null;
  startedAt: string;
  completedAt: string | null;
  output: CheckOutput | null;
  app: AppIdentity;
  detailsUrl?: string;
  externalId?: string;
}

export interface CheckRunFields {
  name?: string;
  head_sha?: string;
  status?: CheckRunState['status'];
  conclusion?: string;
  started_at?: string;
  completed_at?: string;
  output?: CheckOutput;
  details_url?: string;
  external_id?: string;
}

const LIMIT = 65_535;
const invalid = (message: string): Refusal => ({ status: 422, message });

function problemWith(fields: CheckRunFields, current?: CheckRunState): Refusal | undefined {
  if (fields.name !== undefined && fields.name.trim() === '') return invalid('name must not be blank');
  const completes = fields.status === 'completed' || fields.completed_at !== undefined;
  if (completes && fields.conclusion === undefined && current?.conclusion == null)
    return invalid('conclusion is required when status is completed or completed_at is given');
  const output = fields.output;
  if (output) {
    if (typeof output.title !== 'string' || typeof output.summary !== 'string')
      return invalid('output needs a title and a summary');
    if ([...output.summary].length > LIMIT)
      return invalid(`output.summary is longer than ${LIMIT} characters`);
    if (output.text !== undefined && [...output.text].length > LIMIT)
      return invalid(`output.text is longer than ${LIMIT} characters`);
    if ((output.annotations?.length ?? 0) > 50) return invalid('at most 50 annotations per request');
  }
  return undefined;
}

export class CheckRuns {
  readonly runs: CheckRunState[] = [];
  private nextId = 7_000_000;

  constructor(private readonly now: () => number) {}

  private timestamp(): string {
    return new Date(this.now()).toISOString().replace(/\.\d{3}Z$/, 'Z');
  }

  create(
    app: AppIdentity,
    fields: CheckRunFields,
    commitExists: (sha: string) => boolean,
  ): CheckRunState | Refusal {
    if (!fields.name || !fields.head_sha) return invalid('name and head_sha are required');
    if (!/^[0-9a-f]{40}$/.test(fields.head_sha) || !commitExists(fields.head_sha))
      return invalid(`No commit found for SHA: ${fields.head_sha}`);
    const problem = problemWith(fields);
    if (problem) return problem;
    const run: CheckRunState = {
      id: this.nextId++,
      name: fields.name,
      headSha: fields.head_sha,
      status: 'queued',
      conclusion: null,
      startedAt: fields.started_at ?? this.timestamp(),
      completedAt: null,
      output: null,
      app,
    };
    this.apply(run, fields);
    this.runs.push(run);
    return run;
  }

  update(id: number, fields: CheckRunFields): CheckRunState | Refusal {
    const run = this.runs.find((r) => r.id === id);
    if (!run) return { status: 404, message: 'Not Found' };
    const problem = problemWith(fields, run);
    if (problem) return problem;
    this.apply(run, fields);
    return run;
  }

  private apply(run: CheckRunState, fields: CheckRunFields): void {
    if (fields.name !== undefined) run.name = fields.name;
    if (fields.status !== undefined) run.status = fields.status;
    if (fields.conclusion !== undefined) {
      run.conclusion = fields.conclusion;
      run.status = 'completed';
    }
    if (run.status === 'completed')
      run.completedAt = fields.completed_at ?? run.completedAt ?? this.timestamp();
    if (fields.output !== undefined) run.output = fields.output;
    if (fields.details_url !== undefined) run.detailsUrl = fields.details_url;
    if (fields.external_id !== undefined) run.externalId = fields.external_id;
  }

  /** GET /commits/{ref}/check-runs on a resolved commit: newest first. */
  list(sha: string, query: URLSearchParams): CheckRunState[] {
    const name = query.get('check_name');
    const status = query.get('status');
    const appId = query.get('app_id');
    const matching = this.runs
      .filter(
        (r) =>
          r.headSha === sha &&
          (name === null || r.name === name) &&
          (status === null || r.status === status) &&
          (appId === null || String(r.app.id) === appId),
      )
      .sort((a, b) => b.id - a.id);
    if ((query.get('filter') ?? 'latest') === 'all') return matching;
    const seen = new Set<string>();
    return matching.filter((r) => {
      const key = `${r.app.id}\0${r.name}`;
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    });
  }
}
