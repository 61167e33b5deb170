import { execFileSync } from 'node:child_process';
import { chmodSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import {
  type AppIdentity,
  type AppRegistration,
  type Credential,
  covers,
  GitHubApps,
  type Level,
  type Permissions,
  type Refusal,
} from './github-apps.js';
import { type CheckRunFields, type CheckRunState, CheckRuns } from './github-checks.js';
import { checkRequest, checkResponse, exampleAt, shaped } from './openapi.js';

/**
 * A strict local stand-in for the parts of GitHub's REST API Axiom Lab uses. Refs come from a real
 * bare repository (the one the forge pushes to); pull requests, labels and comments are kept in
 * memory. Every request must have been expected, every expectation must be used, and requests and
 * responses are checked against GitHub's OpenAPI description; `verify()` reports all of it.
 */

export interface StandInRequest {
  route: string;
  params: Record<string, string>;
  query: URLSearchParams;
  body: unknown;
  headers: IncomingMessage['headers'];
  credential: Credential;
}

export interface Reply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

interface Expectation {
  route: string;
  reply?: (request: StandInRequest) => Reply | undefined;
  used: boolean;
}

export interface PullState {
  number: number;
  title: string;
  body: string;
  head: string;
  /** The owner of the head repository when the pull request comes from a fork. */
  headOwner?: string;
  base: string;
  state: 'open' | 'closed';
  mergedAt: string | null;
  mergeCommit: string | null;
  labels: string[];
}

export interface CommentState {
  id: number;
  issue: number;
  body: string;
  login: string;
  type: 'Bot' | 'User';
  association: string;
}

const ROUTES = [
  'GET /repos/{owner}/{repo}/pulls',
  'POST /repos/{owner}/{repo}/pulls',
  'GET /repos/{owner}/{repo}/pulls/{pull_number}',
  'PATCH /repos/{owner}/{repo}/pulls/{pull_number}',
  'POST /repos/{owner}/{repo}/issues/{issue_number}/labels',
  'DELETE /repos/{owner}/{repo}/issues/{issue_number}/labels/{name}',
  'GET /repos/{owner}/{repo}/issues/{issue_number}/comments',
  'POST /repos/{owner}/{repo}/issues/{issue_number}/comments',
  'PATCH /repos/{owner}/{repo}/issues/comments/{comment_id}',
  'GET /repos/{owner}/{repo}/commits/{commit_sha}/pulls',
  'GET /users/{username}',
  'GET /repos/{owner}/{repo}/installation',
  'POST /app/installations/{installation_id}/access_tokens',
  'POST /repos/{owner}/{repo}/check-runs',
  'PATCH /repos/{owner}/{repo}/check-runs/{check_run_id}',
  'GET /repos/{owner}/{repo}/commits/{ref}/check-runs',
  'GET /repos/{owner}/{repo}/commits/{ref}',
] as const;
export type Route = (typeof ROUTES)[number];

/** Routes an App calls with its JWT; every other route takes a token. */
const APP_ROUTES: readonly Route[] = [
  'GET /repos/{owner}/{repo}/installation',
  'POST /app/installations/{installation_id}/access_tokens',
];

/**
 * The permission each route needs of an installation token, any one of the alternatives
 * (docs.github.com, "Permissions required for GitHub Apps"; comments and labels on a pull request
 * take Issues or Pull requests). The repository is private here, so reads need their permission too.
 */
const NEEDS: Partial<Record<Route, [string, Level][]>> = {
  'GET /repos/{owner}/{repo}/pulls': [['pull_requests', 'read']],
  'POST /repos/{owner}/{repo}/pulls': [['pull_requests', 'write']],
  'GET /repos/{owner}/{repo}/pulls/{pull_number}': [['pull_requests', 'read']],
  'PATCH /repos/{owner}/{repo}/pulls/{pull_number}': [['pull_requests', 'write']],
  'GET /repos/{owner}/{repo}/issues/{issue_number}/comments': [
    ['issues', 'read'],
    ['pull_requests', 'read'],
  ],
  'POST /repos/{owner}/{repo}/issues/{issue_number}/comments': [
    ['issues', 'write'],
    ['pull_requests', 'write'],
  ],
  'PATCH /repos/{owner}/{repo}/issues/comments/{comment_id}': [
    ['issues', 'write'],
    ['pull_requests', 'write'],
  ],
  'POST /repos/{owner}/{repo}/issues/{issue_number}/labels': [
    ['issues', 'write'],
    ['pull_requests', 'write'],
  ],
  'DELETE /repos/{owner}/{repo}/issues/{issue_number}/labels/{name}': [
    ['issues', 'write'],
    ['pull_requests', 'write'],
  ],
  'GET /repos/{owner}/{repo}/commits/{commit_sha}/pulls': [['contents', 'read']],
  'POST /repos/{owner}/{repo}/check-runs': [['checks', 'write']],
  'PATCH /repos/{owner}/{repo}/check-runs/{check_run_id}': [['checks', 'write']],
  'GET /repos/{owner}/{repo}/commits/{ref}/check-runs': [['checks', 'read']],
  'GET /repos/{owner}/{repo}/commits/{ref}': [['contents', 'read']],
};

const ALL_WRITE: Permissions = {
  contents: 'write',
  pull_requests: 'write',
  issues: 'write',
  checks: 'write',
  metadata: 'read',
};

function matchRoute(
  method: string,
  path: string,
): { route: Route; params: Record<string, string> } | undefined {
  for (const route of ROUTES) {
    const [routeMethod, template] = route.split(' ') as [string, string];
    if (routeMethod !== method) continue;
    const names: string[] = [];
    const pattern = template.replace(/\{(\w+)\}/g, (_, name: string) => {
      names.push(name);
      // A commit reference may be heads/BRANCH or tags/TAG (REST docs, "Get a commit").
      return name === 'ref' ? '(.+?)' : '([^/]+)';
    });
    const match = new RegExp(`^${pattern}$`).exec(path);
    if (match) {
      const params = Object.fromEntries(names.map((n, i) => [n, decodeURIComponent(match[i + 1] as string)]));
      return { route, params };
    }
  }
  return undefined;
}

export const DOCS = 'https://docs.github.com/rest';

export const BOT = { login: 'axiom-lab[bot]', type: 'Bot' as const };
export const BOT_ID = 149000001;
/** The App whose installation token the stand-in's own `token` is. */
export const BOT_APP: AppIdentity = { id: 1_000_001, slug: 'axiom-lab' };

export class GitHubStandIn {
  readonly failures: string[] = [];
  readonly log: string[] = [];
  readonly pulls: PullState[] = [];
  readonly comments: CommentState[] = [];
  /** The repository's labels: adding one that does not exist creates it, which needs Issues: write. */
  readonly labels = new Set<string>();
  /**
   * The installation token's permissions that bite (docs.github.com, "Permissions required for GitHub
   * Apps"): creating a label needs Issues: write; a push that creates or changes anything under
   * .github/workflows needs Workflows: write (enforced by the origin's pre-receive hook).
   */
  readonly permissions = { issues: true, workflows: false };
  /** Refused authentications, as GitHub answered them (not failures: a test may ask for them). */
  readonly refusals: string[] = [];
  /** The clock for JWTs, token lifetimes and check-run times; a test may move it. */
  clock: () => number = Date.now;
  readonly apps = new GitHubApps(() => this.clock());
  readonly checkRuns = new CheckRuns(() => this.clock());
  private readonly expectations: Expectation[] = [];
  private readonly allowed = new Set<Route>();
  private nextId = 1000;

  private constructor(
    private readonly server: Server,
    readonly owner: string,
    readonly repo: string,
    readonly origin: string,
    readonly token: string,
  ) {}

  static async start(options: {
    owner: string;
    repo: string;
    origin: string;
    token: string;
  }): Promise<GitHubStandIn> {
    const server = createServer();
    const standIn = new GitHubStandIn(server, options.owner, options.repo, options.origin, options.token);
    standIn.apps.issue(options.token, { app: BOT_APP, permissions: ALL_WRITE });
    standIn.installPushRules();
    server.on('request', (req, res) => void standIn.handle(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return standIn;
  }

  /**
   * GitHub refuses a push from an App without the Workflows permission when it would create or
   * change a file under .github/workflows: an update is judged by what it changes between the old
   * and the new tip, a new branch by the commits it brings that the repository does not have yet.
   * ("refusing to allow a GitHub App to create or update workflow … without `workflows`
   * permission"). A pre-receive hook in the origin does the same.
   */
  private installPushRules(): void {
    const hook = join(this.origin, 'hooks', 'pre-receive');
    writeFileSync(
      hook,
      `#!/bin/sh
[ -f "$GIT_DIR/axiom-workflows-permission" ] && exit 0
zero=0000000000000000000000000000000000000000
while read old new ref; do
  [ "$new" = "$zero" ] && continue
  if [ "$old" = "$zero" ]; then
    changed=$(git rev-list "$new" --not --all | while read c; do git diff-tree --root --no-commit-id --name-only -r "$c"; done)
  else
    changed=$(git diff --name-only "$old" "$new")
  fi
  workflow=$(printf '%s\n' "$changed" | grep '^.github/workflows/' | head -n 1)
  if [ -n "$workflow" ]; then
    echo "refusing to allow a GitHub App to create or update workflow \\\`$workflow\\\` without \\\`workflows\\\` permission" >&2
    exit 1
  fi
done
exit 0
`,
    );
    chmodSync(hook, 0o755);
  }

  /** Grants or takes the Workflows permission for pushes. */
  setWorkflowsPermission(granted: boolean): void {
    this.permissions.workflows = granted;
    const marker = join(this.origin, 'axiom-workflows-permission');
    if (granted) writeFileSync(marker, 'granted\n');
    else rmSync(marker, { force: true });
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Expects one request on `route`; `reply` may answer it instead of the stand-in's own model. */
  expect(route: Route, reply?: Expectation['reply']): this {
    this.expectations.push({ route, used: false, ...(reply ? { reply } : {}) });
    return this;
  }

  /** Allows any number of requests on `route` (a poller's), answered by the model and still checked. */
  allow(...routes: Route[]): this {
    for (const route of routes) this.allowed.add(route);
    return this;
  }

  /** Expects `times` requests on `route`, answered by the model. */
  expectTimes(route: Route, times: number): this {
    for (let i = 0; i < times; i++) this.expect(route);
    return this;
  }

  /** Installs a GitHub App on repositories of this owner (its key pair's public half is GitHub's). */
  installApp(app: AppRegistration): void {
    this.apps.register(app);
  }

  /** A token with these permissions, as GitHub gives a workflow job (GITHUB_TOKEN) or an App. */
  issueToken(permissions: Permissions, app: AppIdentity = BOT_APP): string {
    const token = `ghs_${app.slug}_${this.nextId++}`;
    this.apps.issue(token, { app, permissions, repositories: [this.repo] });
    return token;
  }

  /** Throws when any request was unexpected or malformed, or any expectation went unused. */
  verify(): void {
    const unused = this.expectations
      .filter((e) => !e.used)
      .map((e) => `expected request never made: ${e.route}`);
    const problems = [...this.failures, ...unused];
    this.expectations.length = 0;
    this.failures.length = 0;
    this.allowed.clear();
    if (problems.length > 0) throw new Error(`GitHub stand-in:\n  ${problems.join('\n  ')}`);
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }

  seedComment(
    issue: number,
    body: string,
    author: { login: string; type: 'Bot' | 'User'; association: string },
  ): void {
    this.comments.push({ id: this.nextId++, issue, body, ...author });
  }

  /**
   * GitHub keeps each pull request's head as refs/pull/<number>/head, moved with every push while it
   * is open and kept after it is closed (its branch may be deleted).
   */
  private syncPullRefs(): void {
    for (const pull of this.pulls) {
      if (pull.state !== 'open' || pull.headOwner) continue;
      const tip = this.git('rev-parse', '--verify', '--quiet', `refs/heads/${pull.head}`);
      if (tip) this.git('update-ref', `refs/pull/${pull.number}/head`, tip);
    }
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.syncPullRefs();
    const url = new URL(req.url ?? '/', this.url);
    const method = req.method ?? 'GET';
    const text = await readBody(req);
    const matched = matchRoute(method, url.pathname);
    if (!matched) return this.refuse(res, `unexpected request ${method} ${url.pathname}`, 404);
    const { route, params } = matched;
    this.log.push(`${method} ${url.pathname}${url.search}`);
    const credential = this.apps.authenticate(req.headers.authorization, APP_ROUTES.includes(route));
    const denied = 'status' in credential ? credential : this.deny(route, credential, params);
    if (denied) return this.answerRefusal(res, route, denied);
    if (!String(req.headers.accept).includes('application/vnd.github'))
      this.failures.push(`${route}: accept header is ${req.headers.accept}`);
    if (params.owner !== undefined && (params.owner !== this.owner || params.repo !== this.repo))
      return this.refuse(res, `${route}: repository ${params.owner}/${params.repo}`, 404);
    let body: unknown;
    try {
      body = text === '' ? undefined : JSON.parse(text);
    } catch {
      return this.refuse(res, `${route}: body is not JSON`, 400);
    }
    for (const problem of checkRequest(route, url.searchParams, body))
      this.failures.push(`${route}: ${problem}`);
    const expectation = this.expectations.find((e) => !e.used && e.route === route);
    if (!expectation && !this.allowed.has(route))
      return this.refuse(res, `unexpected request ${route} (${method} ${url.pathname}${url.search})`, 500);
    if (expectation) expectation.used = true;
    const request = {
      route,
      params,
      query: url.searchParams,
      body,
      headers: req.headers,
      credential: credential as Credential,
    };
    const reply = expectation?.reply?.(request) ?? this.model(request);
    for (const problem of checkResponse(route, reply.status, reply.body))
      this.failures.push(`${route} answered ${reply.status}: ${problem}`);
    res.writeHead(reply.status, { 'content-type': 'application/json; charset=utf-8', ...reply.headers });
    res.end(reply.body === undefined ? '' : JSON.stringify(reply.body));
  }

  /** Whether the credential may make this request: a JWT only on App routes, a token with the permission. */
  private deny(route: Route, credential: Credential, params: Record<string, string>): Refusal | undefined {
    if (credential.kind === 'jwt') return undefined;
    if (
      credential.repositories &&
      params.repo !== undefined &&
      !credential.repositories.includes(params.repo)
    )
      return { status: 404, message: 'Not Found' };
    const needs = NEEDS[route];
    const allowed = !needs || needs.some(([name, level]) => covers(credential.permissions[name], level));
    return allowed ? undefined : { status: 403, message: 'Resource not accessible by integration' };
  }

  private answerRefusal(res: ServerResponse, route: string, refusal: Refusal): void {
    this.refusals.push(`${route}: ${refusal.status} ${refusal.message}`);
    res.writeHead(refusal.status, { 'content-type': 'application/json; charset=utf-8' });
    res.end(JSON.stringify({ message: refusal.message, documentation_url: DOCS }));
  }

  private refuse(res: ServerResponse, problem: string, status: number): void {
    this.failures.push(problem);
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
    res.end(JSON.stringify({ message: problem }));
  }

  // ---- the model of GitHub behind the default replies ----

  private model(request: StandInRequest): Reply {
    const handlers: Record<string, (r: StandInRequest) => Reply> = {
      'GET /repos/{owner}/{repo}/pulls': (r) => this.listPulls(r),
      'POST /repos/{owner}/{repo}/pulls': (r) => this.createPull(r),
      'GET /repos/{owner}/{repo}/pulls/{pull_number}': (r) => this.getPull(r),
      'PATCH /repos/{owner}/{repo}/pulls/{pull_number}': (r) => this.updatePull(r),
      'POST /repos/{owner}/{repo}/issues/{issue_number}/labels': (r) => this.addLabels(r),
      'DELETE /repos/{owner}/{repo}/issues/{issue_number}/labels/{name}': (r) => this.removeLabel(r),
      'GET /repos/{owner}/{repo}/issues/{issue_number}/comments': (r) => this.listComments(r),
      'POST /repos/{owner}/{repo}/issues/{issue_number}/comments': (r) => this.createComment(r),
      'PATCH /repos/{owner}/{repo}/issues/comments/{comment_id}': (r) => this.updateComment(r),
      'GET /repos/{owner}/{repo}/commits/{commit_sha}/pulls': (r) => this.pullsOfCommit(r),
      'GET /users/{username}': (r) => this.user(r),
      'GET /repos/{owner}/{repo}/installation': (r) => this.installation(r),
      'POST /app/installations/{installation_id}/access_tokens': (r) => this.accessToken(r),
      'POST /repos/{owner}/{repo}/check-runs': (r) => this.createCheckRun(r),
      'PATCH /repos/{owner}/{repo}/check-runs/{check_run_id}': (r) => this.updateCheckRun(r),
      'GET /repos/{owner}/{repo}/commits/{ref}/check-runs': (r) => this.listCheckRuns(r),
      'GET /repos/{owner}/{repo}/commits/{ref}': (r) => this.commit(r),
    };
    return (handlers[request.route] as (r: StandInRequest) => Reply)(request);
  }

  private git(...args: string[]): string | undefined {
    try {
      return execFileSync('git', args, {
        cwd: this.origin,
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      }).trim();
    } catch {
      return undefined;
    }
  }

  private pullJson(route: string, status: number, pull: PullState): Record<string, unknown> {
    const web = `https://github.example/${this.owner}/${this.repo}`;
    const ref = (name: string, owner = this.owner) => ({
      ref: name,
      label: `${owner}:${name}`,
      sha: this.git('rev-parse', `refs/heads/${name}`) ?? '0'.repeat(40),
      repo: {
        name: this.repo,
        full_name: `${owner}/${this.repo}`,
        fork: owner !== this.owner,
        owner: { login: owner },
      },
    });
    return shaped(route, status, {
      number: pull.number,
      title: pull.title,
      body: pull.body,
      state: pull.state,
      merged_at: pull.mergedAt,
      merge_commit_sha: pull.mergeCommit,
      html_url: `${web}/pull/${pull.number}`,
      user: BOT,
      head: ref(pull.head, pull.headOwner),
      base: ref(pull.base),
      labels: pull.labels.map((name) => this.labelJson(name)),
    });
  }

  private labelJson(name: string): Record<string, unknown> {
    return shaped('POST /repos/{owner}/{repo}/issues/{issue_number}/labels', 200, {
      name,
      id: name.length,
      description: '',
    });
  }

  private findPull(number: string): PullState | undefined {
    return this.pulls.find((p) => p.number === Number(number));
  }

  /** GET /pulls as GitHub answers it: `head` is `owner:branch` of the head repository, 30 a page. */
  private listPulls({ route, query }: StandInRequest): Reply {
    const state = query.get('state') ?? 'open';
    const head = query.get('head');
    const all = this.pulls.filter(
      (p) =>
        (state === 'all' || p.state === state) &&
        (!head || `${p.headOwner ?? this.owner}:${p.head}` === head),
    );
    const perPage = Number(query.get('per_page') ?? 30);
    const page = Number(query.get('page') ?? 1);
    const last = Math.max(1, Math.ceil(all.length / perPage));
    const headers: Record<string, string> = {};
    if (page < last) {
      const base = `${this.url}/repos/${this.owner}/${this.repo}/pulls`;
      const rest = `state=${state}${head ? `&head=${encodeURIComponent(head)}` : ''}`;
      headers.link = `<${base}?${rest}&per_page=${perPage}&page=${page + 1}>; rel="next", <${base}?${rest}&per_page=${perPage}&page=${last}>; rel="last"`;
    }
    return {
      status: 200,
      body: all.slice((page - 1) * perPage, page * perPage).map((p) => this.pullJson(route, 200, p)),
      headers,
    };
  }

  private createPull({ route, body }: StandInRequest): Reply {
    const {
      title,
      head,
      base,
      body: text,
    } = body as { title: string; head: string; base: string; body?: string };
    const invalid = (message: string): Reply => ({
      status: 422,
      body: {
        message: 'Validation Failed',
        errors: [{ resource: 'PullRequest', code: 'custom', message }],
        documentation_url: DOCS,
      },
    });
    if (!this.git('rev-parse', '--verify', `refs/heads/${head}`))
      return invalid(`head ${head} does not exist`);
    if (!this.git('rev-parse', '--verify', `refs/heads/${base}`))
      return invalid(`base ${base} does not exist`);
    if (this.pulls.some((p) => p.state === 'open' && p.head === head))
      return invalid(`A pull request already exists for ${this.owner}:${head}.`);
    if (this.git('rev-list', '--count', `${base}..${head}`) === '0')
      return invalid(`No commits between ${base} and ${head}`);
    const pull: PullState = {
      number: this.pulls.length + 1,
      title,
      body: text ?? '',
      head,
      base,
      state: 'open',
      mergedAt: null,
      mergeCommit: null,
      labels: [],
    };
    this.pulls.push(pull);
    return { status: 201, body: this.pullJson(route, 201, pull) };
  }

  private getPull({ route, params }: StandInRequest): Reply {
    const pull = this.findPull(params.pull_number as string);
    return pull ? { status: 200, body: this.pullJson(route, 200, pull) } : notFound();
  }

  private updatePull({ route, params, body }: StandInRequest): Reply {
    const pull = this.findPull(params.pull_number as string);
    if (!pull) return notFound();
    const change = body as { title?: string; body?: string; state?: 'open' | 'closed' };
    if (change.title !== undefined) pull.title = change.title;
    if (change.body !== undefined) pull.body = change.body;
    if (change.state !== undefined) pull.state = change.state;
    return { status: 200, body: this.pullJson(route, 200, pull) };
  }

  /** The accounts GitHub knows here: the App's bot (its id is the one in its noreply address). */
  private user({ route, params }: StandInRequest): Reply {
    if (params.username !== BOT.login) return notFound();
    return { status: 200, body: shaped(route, 200, { login: BOT.login, id: BOT_ID, type: 'Bot' }) };
  }

  private addLabels({ params, body }: StandInRequest): Reply {
    const pull = this.findPull(params.issue_number as string);
    if (!pull) return notFound();
    const names = (body as { labels: string[] }).labels;
    if (names.some((n) => !this.labels.has(n)) && !this.permissions.issues)
      return {
        status: 403,
        body: {
          message: 'Resource not accessible by integration',
          documentation_url: 'https://docs.github.com/rest/issues/labels#add-labels-to-an-issue',
          status: '403',
        },
      };
    for (const name of names) {
      this.labels.add(name);
      if (!pull.labels.includes(name)) pull.labels.push(name);
    }
    return { status: 200, body: pull.labels.map((name) => this.labelJson(name)) };
  }

  private removeLabel({ params }: StandInRequest): Reply {
    const pull = this.findPull(params.issue_number as string);
    if (!pull?.labels.includes(params.name as string)) return notFound();
    pull.labels = pull.labels.filter((l) => l !== params.name);
    return { status: 200, body: pull.labels.map((name) => this.labelJson(name)) };
  }

  private commentJson(route: string, status: number, comment: CommentState): Record<string, unknown> {
    return shaped(route, status, {
      id: comment.id,
      body: comment.body,
      user: { login: comment.login, type: comment.type },
      author_association: comment.association,
      html_url: `https://github.example/${this.owner}/${this.repo}/pull/${comment.issue}#issuecomment-${comment.id}`,
    });
  }

  private listComments({ route, params, query }: StandInRequest): Reply {
    const all = this.comments.filter((c) => c.issue === Number(params.issue_number));
    const perPage = Number(query.get('per_page') ?? 30);
    const page = Number(query.get('page') ?? 1);
    const items = all.slice((page - 1) * perPage, page * perPage);
    const last = Math.max(1, Math.ceil(all.length / perPage));
    const headers: Record<string, string> = {};
    if (page < last) {
      const base = `${this.url}/repos/${this.owner}/${this.repo}/issues/${params.issue_number}/comments`;
      headers.link = `<${base}?per_page=${perPage}&page=${page + 1}>; rel="next", <${base}?per_page=${perPage}&page=${last}>; rel="last"`;
    }
    return { status: 200, body: items.map((c) => this.commentJson(route, 200, c)), headers };
  }

  /** The bot account an App's token acts as: axiom-lab[bot] for the stand-in's own token. */
  private botOf(credential: Credential): { login: string; type: 'Bot' } {
    return credential.kind === 'token' && credential.app.id !== BOT_APP.id
      ? { login: `${credential.app.slug}[bot]`, type: 'Bot' }
      : BOT;
  }

  private createComment({ route, params, body, credential }: StandInRequest): Reply {
    if (!this.findPull(params.issue_number as string)) return notFound();
    const comment: CommentState = {
      id: this.nextId++,
      issue: Number(params.issue_number),
      body: (body as { body: string }).body,
      ...this.botOf(credential),
      association: 'NONE',
    };
    this.comments.push(comment);
    return { status: 201, body: this.commentJson(route, 201, comment) };
  }

  private updateComment({ route, params, body, credential }: StandInRequest): Reply {
    const comment = this.comments.find((c) => c.id === Number(params.comment_id));
    if (!comment) return notFound();
    if (comment.login !== this.botOf(credential).login)
      return { status: 403, body: { message: 'Must have admin rights to Repository.' } };
    comment.body = (body as { body: string }).body;
    return { status: 200, body: this.commentJson(route, 200, comment) };
  }

  private pullsOfCommit({ route, params }: StandInRequest): Reply {
    const pulls = this.pulls.filter((p) => p.mergeCommit === params.commit_sha);
    return { status: 200, body: pulls.map((p) => this.pullJson(route, 200, p)) };
  }

  // ---- Apps, check runs and commits ----

  private installation({ route, params, credential }: StandInRequest): Reply {
    if (credential.kind !== 'jwt') return notFound();
    const app = this.apps.installationOn(credential.app, params.repo as string);
    if (!app) return notFound();
    return {
      status: 200,
      body: shaped(route, 200, {
        id: app.installationId,
        app_id: app.id,
        app_slug: app.slug,
        target_type: 'Organization',
        account: { ...(exampleAt(route, 200, ['account']) as object), login: this.owner },
        permissions: app.permissions,
        repository_selection: 'selected',
      }),
    };
  }

  private accessToken({ route, params, body, credential }: StandInRequest): Reply {
    if (credential.kind !== 'jwt') return notFound();
    const request = (body ?? {}) as { repositories?: string[]; permissions?: Permissions };
    const minted = this.apps.mint(credential.app, Number(params.installation_id), request);
    if ('status' in minted) return basicError(minted);
    const item = exampleAt(route, 201, ['repositories', 'items']) as Record<string, unknown>;
    return {
      status: 201,
      body: shaped(route, 201, {
        token: minted.token,
        expires_at: new Date(minted.expiresAt).toISOString().replace(/\.\d{3}Z$/, 'Z'),
        permissions: minted.permissions,
        repository_selection: 'selected',
        repositories: minted.repositories.map((name) => ({
          ...item,
          name,
          full_name: `${this.owner}/${name}`,
        })),
      }),
    };
  }

  private checkRunJson(route: string, status: number, run: CheckRunState): Record<string, unknown> {
    const web = `https://github.example/${this.owner}/${this.repo}`;
    return shaped(route, status, {
      id: run.id,
      name: run.name,
      head_sha: run.headSha,
      status: run.status,
      conclusion: run.conclusion,
      started_at: run.startedAt,
      completed_at: run.completedAt,
      html_url: `${web}/runs/${run.id}`,
      details_url: run.detailsUrl ?? `${web}/runs/${run.id}`,
      external_id: run.externalId ?? '',
      output: {
        title: run.output?.title ?? null,
        summary: run.output?.summary ?? null,
        text: run.output?.text ?? null,
        annotations_count: 0,
      },
      app: { id: run.app.id, slug: run.app.slug, name: run.app.slug },
      check_suite: { id: run.id },
      pull_requests: [],
    });
  }

  private createCheckRun({ route, body, credential }: StandInRequest): Reply {
    if (credential.kind !== 'token') return notFound();
    const run = this.checkRuns.create(
      credential.app,
      body as CheckRunFields,
      (sha) => this.git('cat-file', '-e', `${sha}^{commit}`) !== undefined,
    );
    return 'message' in run
      ? validationError(run)
      : { status: 201, body: this.checkRunJson(route, 201, run) };
  }

  private updateCheckRun({ route, params, body }: StandInRequest): Reply {
    const run = this.checkRuns.update(Number(params.check_run_id), body as CheckRunFields);
    if ('message' in run) return run.status === 404 ? notFound() : validationError(run);
    return { status: 200, body: this.checkRunJson(route, 200, run) };
  }

  /** A ref as GitHub resolves it in these routes: a commit id, a branch, or a tag. */
  private resolve(ref: string): string | undefined {
    for (const name of [ref, `refs/heads/${ref}`, `refs/tags/${ref}`]) {
      const sha = this.git('rev-parse', '--verify', '--quiet', `${name}^{commit}`);
      if (sha) return sha;
    }
    return undefined;
  }

  private listCheckRuns({ route, params, query }: StandInRequest): Reply {
    const sha = this.resolve(params.ref as string);
    // As GET /commits/{ref} answers an unknown ref.
    if (!sha) return validationError({ status: 422, message: `No commit found for SHA: ${params.ref}` });
    const runs = this.checkRuns.list(sha, query);
    const perPage = Number(query.get('per_page') ?? 30);
    const page = Number(query.get('page') ?? 1);
    const item = 'POST /repos/{owner}/{repo}/check-runs';
    return {
      status: 200,
      body: shaped(route, 200, {
        total_count: runs.length,
        check_runs: runs
          .slice((page - 1) * perPage, page * perPage)
          .map((r) => this.checkRunJson(item, 201, r)),
      }),
    };
  }

  private commit({ route, params }: StandInRequest): Reply {
    const sha = this.resolve(params.ref as string);
    if (!sha) return basicError({ status: 422, message: `No commit found for SHA: ${params.ref}` });
    const message = this.git('log', '-1', '--format=%B', sha) ?? '';
    const parents = (this.git('log', '-1', '--format=%P', sha) ?? '').split(' ').filter((p) => p !== '');
    return {
      status: 200,
      body: shaped(route, 200, {
        sha,
        html_url: `https://github.example/${this.owner}/${this.repo}/commit/${sha}`,
        commit: { message, tree: { sha: this.git('rev-parse', `${sha}^{tree}`) } },
        parents: parents.map((p) => ({
          sha: p,
          url: `${this.url}/repos/${this.owner}/${this.repo}/commits/${p}`,
        })),
      }),
    };
  }
}

function notFound(): Reply {
  return { status: 404, body: { message: 'Not Found', documentation_url: DOCS } };
}

function basicError(refusal: Refusal): Reply {
  return { status: refusal.status, body: { message: refusal.message, documentation_url: DOCS } };
}

/** GitHub's 422 for a request it cannot take: its Validation Error shape. */
function validationError(refusal: Refusal): Reply {
  return {
    status: refusal.status,
    body: {
      message: refusal.message,
      errors: [{ resource: 'CheckRun', code: 'invalid', message: refusal.message }],
      documentation_url: DOCS,
    },
  };
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}
