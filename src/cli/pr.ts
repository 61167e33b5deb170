import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseCheckReport, renderMarkdown } from '../check/report.js';
import { ConfigurationError, UsageError } from '../errors.js';
import type { Forge, PullRequest } from '../forge/forge.js';
import { openGit } from '../forge/git.js';
import { type Approval, LocalForge, parseIdentity } from '../forge/local.js';
import { openForge } from '../forge/open.js';
import { booleanOption, defineCommand, type Io, type ParsedArgs, stringOption } from './command.js';

const prOptions = {
  root: {
    type: 'string',
    value: 'DIR',
    description: 'the clone to work in (default: the current directory)',
  },
  all: { type: 'boolean', description: 'list: include merged and closed pull requests' },
  diff: { type: 'boolean', description: 'show: the full diff of what it changes, after the file list' },
  approver: { type: 'string', value: '"NAME <EMAIL>"', description: 'merge: who approves' },
  purpose: { type: 'string', value: 'NAME', description: 'comment: which sticky comment, e.g. plan' },
  'body-file': { type: 'string', value: 'FILE', description: 'comment: the comment text (Markdown)' },
  'check-report': {
    type: 'string',
    value: 'FILE',
    description: 'comment: render the comment from a report of `axiom check --report` (checked as data)',
  },
  'dry-run': { type: 'boolean', description: 'merge, close, comment: say what would happen; change nothing' },
  json: { type: 'boolean', description: 'report as JSON' },
} as const;

interface PrContext {
  args: ParsedArgs<typeof prOptions>;
  io: Io;
  forge: Forge;
  repoDir: string;
  json: boolean;
}

function write(context: PrContext, data: unknown, text: string): void {
  context.io.stdout.write(context.json ? `${JSON.stringify(data, null, 2)}\n` : text);
}

function requireLocal(context: PrContext, what: string): LocalForge {
  if (context.forge instanceof LocalForge) return context.forge;
  throw new UsageError(`pr ${what} works on the local forge; on GitHub, use GitHub for this`, 'pr');
}

function argument(context: PrContext, what: string): string {
  const [, value, extra] = context.args.positionals;
  if (!value || extra !== undefined) throw new UsageError(`pr ${what}: expected one pull request`, 'pr');
  return value;
}

function line(pull: PullRequest): string {
  return `${pull.state.padEnd(6)}  ${pull.ref}  ${pull.title}${pull.labels.length ? `  [${pull.labels.join(', ')}]` : ''}\n`;
}

async function list(context: PrContext): Promise<number> {
  const forge = requireLocal(context, 'list');
  const all = booleanOption(context.args, 'all');
  const pulls = (await forge.list()).filter((p) => all || p.state === 'open');
  const text =
    pulls.length === 0 ? `no ${all ? '' : 'open '}pull requests\n` : pulls.map((p) => line(p)).join('');
  write(context, pulls, text);
  return 0;
}

const STATUS: Record<string, string> = { A: 'added', M: 'changed', D: 'deleted', T: 'type changed' };

async function show(context: PrContext): Promise<number> {
  const forge = context.forge;
  const pull = await forge.get(argument(context, 'show'));
  const local = forge instanceof LocalForge;
  const comments = local ? await forge.comments(pull) : [];
  const changes = local ? await forge.changes(pull) : undefined;
  const diff = booleanOption(context.args, 'diff');
  const text = [
    `${pull.title}`,
    `${pull.ref} into ${pull.base} (${pull.state})${pull.labels.length ? `, labels: ${pull.labels.join(', ')}` : ''}`,
    pull.url,
    '',
    pull.body.trimEnd(),
    ...comments.flatMap((c) => ['', `--- comment (${c.purpose}, ${c.updatedAt}) ---`, c.body.trimEnd()]),
    ...(changes
      ? [
          '',
          `--- ${changes.files.length} file${changes.files.length === 1 ? '' : 's'} changed${diff ? '' : ' (--diff shows them)'} ---`,
          ...changes.files.map((f) => `  ${(STATUS[f.status] ?? f.status).padEnd(8)} ${f.path}`),
          ...(diff ? ['', changes.patch.trimEnd()] : []),
        ]
      : ['', 'Files: on the pull request page above.']),
    '',
  ].join('\n');
  write(
    context,
    {
      ...pull,
      comments,
      ...(changes ? { files: changes.files, ...(diff ? { patch: changes.patch } : {}) } : {}),
    },
    text,
  );
  return 0;
}

async function approverOf(context: PrContext): Promise<Approval['approver']> {
  const given = stringOption(context.args, 'approver');
  if (given) return parseIdentity(given);
  const git = openGit(context.repoDir);
  const name = (await git.raw(['config', '--default', '', 'user.name'])).trim();
  const email = (await git.raw(['config', '--default', '', 'user.email'])).trim();
  if (!name || !email)
    throw new ConfigurationError(
      'who approves this merge? Pass --approver "Name <email>" or set git config user.name and user.email',
    );
  return { name, email };
}

async function merge(context: PrContext): Promise<number> {
  const forge = requireLocal(context, 'merge');
  const ref = argument(context, 'merge');
  const approval: Approval = { approver: await approverOf(context), at: new Date() };
  if (booleanOption(context.args, 'dry-run')) {
    const pull = await forge.get(ref);
    write(context, { dryRun: true, pullRequest: pull }, `would merge ${pull.branch} into ${pull.base}\n`);
    return 0;
  }
  const { commit, pullRequest } = await forge.merge(ref, approval);
  const checkout = await syncCheckout(context.repoDir, forge.remote, pullRequest.base);
  write(
    context,
    { commit, pullRequest, approvedBy: approval.approver, approvedAt: approval.at.toISOString(), checkout },
    `merged ${pullRequest.branch} into ${pullRequest.base} as ${commit.slice(0, 12)}, approved by ${approval.approver.name}\n${checkout}\n`,
  );
  return 0;
}

/** Brings the user's checkout up to the merge when it is on the base branch and clean. */
async function syncCheckout(repoDir: string, remote: string, base: string): Promise<string> {
  const git = openGit(repoDir);
  await git.raw(['fetch', '--quiet', remote]);
  const branch = (await git.raw(['rev-parse', '--abbrev-ref', 'HEAD'])).trim();
  if (branch !== base) return `your checkout is on ${branch}; \`git pull\` on ${base} to see the merge`;
  if ((await git.raw(['status', '--porcelain'])).trim() !== '')
    return `your checkout has local changes; \`git pull\` when ready to see the merge`;
  await git.raw(['merge', '--ff-only', '--quiet', `${remote}/${base}`]);
  return `your checkout of ${base} is up to date`;
}

async function comment(context: PrContext): Promise<number> {
  const ref = argument(context, 'comment');
  const purpose = stringOption(context.args, 'purpose');
  const bodyFile = stringOption(context.args, 'body-file');
  const reportFile = stringOption(context.args, 'check-report');
  if (!purpose || (!bodyFile && !reportFile) || (bodyFile && reportFile))
    throw new UsageError(
      'pr comment: --purpose, and one of --body-file or --check-report, are required',
      'pr',
    );
  const body = reportFile
    ? renderMarkdown(parseCheckReport(readFileSync(resolve(context.io.cwd, reportFile), 'utf8'), reportFile))
    : readFileSync(resolve(context.io.cwd, bodyFile as string), 'utf8');
  const pull = await context.forge.get(ref);
  if (booleanOption(context.args, 'dry-run')) {
    write(
      context,
      { dryRun: true, pullRequest: pull.ref, purpose },
      `would post the ${purpose} comment on ${pull.ref}\n`,
    );
    return 0;
  }
  const action = await context.forge.upsertComment(pull, purpose, body);
  write(
    context,
    { pullRequest: pull.ref, purpose, action },
    `${action} the ${purpose} comment on ${pull.ref}\n`,
  );
  return 0;
}

async function close(context: PrContext): Promise<number> {
  const forge = requireLocal(context, 'close');
  const ref = argument(context, 'close');
  if (booleanOption(context.args, 'dry-run')) {
    const pull = await forge.get(ref);
    write(context, { dryRun: true, pullRequest: pull }, `would close ${pull.branch} without merging\n`);
    return 0;
  }
  const pullRequest = await forge.close(ref);
  write(context, { pullRequest }, `closed ${pullRequest.branch} without merging\n`);
  return 0;
}

const SUBCOMMANDS: Record<string, (context: PrContext) => Promise<number>> = {
  list,
  show,
  merge,
  close,
  comment,
};

export const prCommand = defineCommand({
  name: 'pr',
  summary: 'list, show, merge, close and comment on pull requests (local forge; comment works on GitHub too)',
  usage: 'list | show <branch> | merge <branch> | close <branch> | comment <pr>',
  description: [
    'The forge is AXIOM_FORGE: `local` (default) uses the bare repository behind the remote',
    '(AXIOM_GIT_REMOTE, default origin) as the place pull requests live; `github` uses GitHub',
    '(GITHUB_TOKEN, GITHUB_REPOSITORY, GITHUB_API_URL).',
    '',
    '  list                   open pull requests (--all: merged ones too)',
    '  show <branch>          title, state, labels, body, comments and the files it changes',
    '                         (--diff: the changes themselves)',
    '',
    'A pull request is named by its branch or by a short name that names one only: the end of the',
    'branch (`mean_test` for axiom/propose/mean_test) or a part of it (`results-2026-12-02`).',
    '  merge <branch>         merge into the base with a --no-ff merge commit recording who approved',
    '                         it and when (--approver, default: git config user.name/email)',
    '  close <branch>         close without merging: a "no" that propose and collect respect (a',
    '                         closed pull request labelled axiom:reopen may be proposed again)',
    '  comment <pr>           post or update the one comment of --purpose with --body-file',
  ].join('\n'),
  options: prOptions,
  async run(args, { io, env }) {
    const name = args.positionals[0];
    const run = name ? SUBCOMMANDS[name] : undefined;
    if (!run) throw new UsageError(`expected a subcommand: ${Object.keys(SUBCOMMANDS).join(', ')}`, 'pr');
    const repoDir = resolve(io.cwd, stringOption(args, 'root') ?? '.');
    const forge = await openForge({ settings: env.forge, repoDir, log: (l) => io.stderr.write(`${l}\n`) });
    return run({ args, io, forge, repoDir, json: booleanOption(args, 'json') });
  },
});
