import type { BoincStore, CreditRefusal, CreditSubject, LedgerRow } from '../boinc/store.js';
import { DeployedManifests, isDeployed } from '../forge/deployed.js';
import type { Problem } from '../problems.js';
import { type LocatedEntry, readCreditFiles } from '../record/credit-file.js';
import { readReviews } from '../record/research.js';
import type { Review } from '../record/review.js';
import type { SchemaValidator } from '../schema/validate.js';
import { WorkunitName } from '../workunit/name.js';

export interface CreditPlan {
  /** Valid entries not yet in the ledger: what apply grants. */
  pending: LocatedEntry[];
  /** Entries the ledger already has. */
  applied: LocatedEntry[];
  /** Refused entries and files (errors), and notes such as an edit after granting (warnings). */
  problems: Problem[];
  ledger: LedgerRow[];
  files: string[];
  /** Refusals only BOINC's database could find that are not recorded yet: apply records them. */
  refusals: Omit<CreditRefusal, 'commit' | 'refusedAt'>[];
  /** Entries refused in an earlier run for the same reason, reported as warnings now. */
  refusedBefore: number;
}

interface RuleContext {
  subject?: CreditSubject;
  /** The cap of the manifest the result's workunit was deployed from, or why it cannot be had. */
  cap: Cap;
  /** The collected review of the entry's result in the record on this checkout. */
  review?: Review;
  /** The result an earlier entry pays the same workunit through. */
  paidThrough?: number;
}

/** One eligibility rule for a credit entry: a finding, or nothing when the entry passes. */
type CreditRule = (
  located: LocatedEntry,
  context: RuleContext,
) => { key: keyof LocatedEntry['entry']; message: string } | undefined;

/** Each rule is small and named; the name is the problem's rule id (`credit/<name>`). */
const CREDIT_RULES: Record<string, CreditRule> = {
  'experiment-matches-workunit': ({ entry }) =>
    WorkunitName.isOf(entry.workunit, entry.experiment)
      ? undefined
      : {
          key: 'workunit',
          message: `workunit ${entry.workunit} is not a workunit of experiment ${entry.experiment}`,
        },
  'manifest-exists': ({ entry }, { cap }) =>
    'missing' in cap
      ? {
          key: 'experiment',
          message: `no credit cap for result ${entry.result}: ${cap.missing}; nothing is paid without the manifest it was deployed from`,
        }
      : undefined,
  'known-result': ({ entry }, { subject }) =>
    subject
      ? undefined
      : { key: 'result', message: `result ${entry.result} does not exist in the BOINC database` },
  'same-workunit': ({ entry }, { subject }) =>
    subject && subject.workunitName !== entry.workunit
      ? {
          key: 'workunit',
          message: `result ${entry.result} belongs to workunit ${subject.workunitName}, not ${entry.workunit}`,
        }
      : undefined,
  'same-host': ({ entry }, { subject }) =>
    subject && subject.hostId !== entry.host
      ? {
          key: 'host',
          message: `result ${entry.result} was returned by host ${subject.hostId}, not host ${entry.host}`,
        }
      : undefined,
  'same-user': ({ entry }, { subject }) =>
    subject && subject.userId !== entry.user
      ? {
          key: 'user',
          message: `result ${entry.result} belongs to user ${subject.userId}, not user ${entry.user}`,
        }
      : undefined,
  'collected-review': ({ entry }, { review }) => {
    if (!review)
      return {
        key: 'result',
        message: `result ${entry.result} has no collected review in the record on this checkout (results/${entry.experiment}/); only collected results are paid`,
      };
    const differs = (['workunit', 'experiment', 'host', 'user'] as const).find((k) => review[k] !== entry[k]);
    return differs
      ? {
          key: differs,
          message: `the collected review of result ${entry.result} says ${differs} ${review[differs]}, not ${entry[differs]}`,
        }
      : undefined;
  },
  'passed-checks': ({ entry }, { review }) => {
    // A hold (replicas that disagree, a straggler) is for a person: a reviewer may pay it. Any other
    // failed check found the result forged or unusable, and nobody pays that.
    const failed = (review?.checks ?? []).filter((c) => !c.passed && !HOLDS.has(c.rule)).map((c) => c.rule);
    return entry.credit > 0 && failed.length > 0
      ? {
          key: 'credit',
          message: `credit ${entry.credit} for a result that failed ${failed.join(', ')} when collected; a failed check means zero credit`,
        }
      : undefined;
  },
  'one-per-workunit': ({ entry }, { paidThrough }) =>
    entry.credit > 0 && paidThrough !== undefined
      ? {
          key: 'credit',
          message: `workunit ${entry.workunit} is already paid through result ${paidThrough}; a workunit is paid once`,
        }
      : undefined,
  'within-cap': ({ entry }, { cap }) =>
    'amount' in cap && entry.credit > cap.amount
      ? {
          key: 'credit',
          message: `credit ${entry.credit} is above the credit_cap ${cap.amount} of ${cap.source}; expected 0 to ${cap.amount}`,
        }
      : undefined,
  'valid-verdict': ({ entry }) =>
    entry.credit > 0 && entry.verdict !== 'valid'
      ? {
          key: 'credit',
          message: `credit ${entry.credit} for a result judged ${entry.verdict}; only valid results are paid (set verdict: valid to pay it)`,
        }
      : undefined,
};

/** Failed checks that hold a result for a person rather than refuse it (collect/settle.ts). */
const HOLDS = new Set(['replicas']);

/** A credit cap and where it comes from, or why there is none. */
type Cap = { amount: number; source: string } | { missing: string };

/**
 * The cap a result's credit is held to: the credit_cap of the manifest its workunit was deployed
 * from (deploy/deployed.ts, the commit its review names). Where this checkout lacks that commit (a
 * pull request's shallow check), the cap collect recorded in the review; credit apply itself needs
 * the history, and refuses without it.
 */
async function capOf(
  review: Review | undefined,
  deployed: DeployedManifests,
  recordedIsEnough: boolean,
): Promise<Cap> {
  if (!review) return { missing: 'it has no collected review' };
  const found = await deployed.of(review.experiment, review.manifest_commit);
  if (isDeployed(found))
    return {
      amount: found.manifest.credit_cap,
      source: `manifests/${review.experiment}.yaml at ${found.commit.slice(0, 12)}, which it was deployed from`,
    };
  if (recordedIsEnough && review.credit_cap !== undefined)
    return {
      amount: review.credit_cap,
      source: 'the manifest it was deployed from, as its review records it',
    };
  return { missing: found.missing };
}

/** The entries in file order, each result once: a second listing is a problem at its place. */
function listedOnce(entries: readonly LocatedEntry[], problems: Problem[]): LocatedEntry[] {
  const seen = new Map<number, LocatedEntry>();
  return entries.filter((located) => {
    const first = seen.get(located.entry.result);
    if (first)
      problems.push(
        problemAt(
          located,
          'duplicate',
          'result',
          `result ${located.entry.result} is already listed at ${first.file}:${first.line}`,
        ),
      );
    else seen.set(located.entry.result, located);
    return !first;
  });
}

/** The rules that need BOINC's database; without it (a pull request's check) they are left out. */
const DATABASE_RULES = new Set(['known-result', 'same-workunit', 'same-host', 'same-user']);

/** The collected reviews of the experiments these entries name (the only ones their rules read). */
function reviewsOf(root: string, validator: SchemaValidator, entries: readonly LocatedEntry[]) {
  return readReviews(
    root,
    entries.map((e) => e.entry.experiment),
    validator,
  );
}

/**
 * What a results pull request's check says of the credit files on its branch, before anything is
 * merged: the schema, the cap, only valid verdicts paid, each entry backed by a collected review
 * in the record, one paid result per workunit, no result listed twice. (The database rules wait
 * for `credit apply`.)
 */
export async function checkCreditFiles(options: {
  root: string;
  validator: SchemaValidator;
}): Promise<Problem[]> {
  const read = readCreditFiles(options.root, options.validator);
  // Without credit files there is nothing to check, and the record is not read at all.
  if (read.files.length === 0) return [];
  const reviews = reviewsOf(options.root, options.validator, read.entries);
  const deployed = new DeployedManifests(options.root, options.validator);
  const problems: Problem[] = [...read.problems];
  const paidWorkunits = new Map<string, number>();
  for (const located of listedOnce(read.entries, problems)) {
    const { entry } = located;
    const paidThrough = paidWorkunits.get(entry.workunit);
    const review = reviews.get(entry.result);
    const context: RuleContext = {
      cap: await capOf(review, deployed, true),
      ...(review ? { review } : {}),
      ...(paidThrough !== undefined ? { paidThrough } : {}),
    };
    const findings = Object.entries(CREDIT_RULES)
      .filter(([name]) => !DATABASE_RULES.has(name))
      .flatMap(([name, rule]) => {
        const finding = rule(located, context);
        return finding ? [problemAt(located, name, finding.key, finding.message)] : [];
      });
    problems.push(...findings);
    if (findings.length === 0 && entry.credit > 0) paidWorkunits.set(entry.workunit, entry.result);
  }
  return problems;
}

const refusalKey = (resultId: number, rule: string) => `${resultId} ${rule}`;

/**
 * A refusal only BOINC's database can find (a result it does not know, another host or user) is
 * one no check could show before the merge: it is an error the first time, recorded beside the
 * ledger by apply, and a warning in every later run, so that one entry on main never fails every
 * run after it. The entry is still not granted; fixed on main, it is judged afresh.
 */
function refusedOnce(
  located: LocatedEntry,
  findings: readonly Problem[],
  recorded: ReadonlyMap<string, CreditRefusal>,
  plan: CreditPlan,
): Problem[] {
  const database = findings.filter((f) => DATABASE_RULES.has(f.rule.replace(/^credit\//, '')));
  if (
    database.length === findings.length &&
    database.every((f) => recorded.has(refusalKey(located.entry.result, f.rule)))
  )
    plan.refusedBefore += 1;
  return findings.map((finding) => {
    if (!database.includes(finding)) return finding;
    const before = recorded.get(refusalKey(located.entry.result, finding.rule));
    if (!before) {
      plan.refusals.push({ resultId: located.entry.result, rule: finding.rule, source: sourceOf(located) });
      return finding;
    }
    const when = new Date(before.refusedAt * 1000).toISOString().slice(0, 10);
    return {
      ...finding,
      severity: 'warning',
      message: `${finding.message}; refused already at ${before.source} (commit ${before.commit.slice(0, 12)}, ${when}) and not granted`,
    };
  });
}

function problemAt(
  located: LocatedEntry,
  rule: string,
  key: keyof LocatedEntry['entry'],
  message: string,
  severity: Problem['severity'] = 'error',
): Problem {
  const { line, column } = located.at(key);
  return {
    file: located.file,
    line,
    column,
    path: `result ${located.entry.result}`,
    rule: `credit/${rule}`,
    message,
    severity,
  };
}

/** Reads every credit file and the ledger, and decides what is pending, applied or refused. */
export async function planCredit(options: {
  root: string;
  store: BoincStore;
  validator: SchemaValidator;
}): Promise<CreditPlan> {
  const read = readCreditFiles(options.root, options.validator);
  const ledger = await options.store.ledger();
  const granted = new Map(ledger.map((row) => [row.resultId, row]));
  const deployed = new DeployedManifests(options.root, options.validator);
  const reviews = reviewsOf(
    options.root,
    options.validator,
    read.entries.filter((e) => !granted.has(e.entry.result)),
  );
  const unknown = [...new Set(read.entries.map((e) => e.entry.result).filter((id) => !granted.has(id)))];
  const subjects = await options.store.creditSubjects(unknown);
  const recorded = new Map((await options.store.refusals()).map((r) => [refusalKey(r.resultId, r.rule), r]));
  const plan: CreditPlan = {
    pending: [],
    applied: [],
    problems: [...read.problems],
    ledger,
    files: read.files,
    refusals: [],
    refusedBefore: 0,
  };
  const paidWorkunits = new Map<string, number>();
  for (const located of listedOnce(read.entries, plan.problems)) {
    const { entry } = located;
    const row = granted.get(entry.result);
    const paidThrough = paidWorkunits.get(entry.workunit);
    if (row) {
      if (row.amount > 0 && paidThrough === undefined) paidWorkunits.set(entry.workunit, entry.result);
      plan.applied.push(located);
      if (row.amount !== entry.credit)
        plan.problems.push(
          problemAt(
            located,
            'changed-after-grant',
            'credit',
            `result ${entry.result} was granted ${row.amount} from ${row.source} (commit ${row.commit.slice(0, 12)}); credit is granted once, so ${entry.credit} is not applied`,
            'warning',
          ),
        );
      continue;
    }
    const review = reviews.get(entry.result);
    const subject = subjects.get(entry.result);
    const context: RuleContext = {
      cap: await capOf(review, deployed, false),
      ...(subject ? { subject } : {}),
      ...(review ? { review } : {}),
      ...(paidThrough !== undefined ? { paidThrough } : {}),
    };
    const findings = Object.entries(CREDIT_RULES).flatMap(([name, rule]) => {
      const finding = rule(located, context);
      return finding ? [problemAt(located, name, finding.key, finding.message)] : [];
    });
    if (findings.length > 0) plan.problems.push(...refusedOnce(located, findings, recorded, plan));
    else {
      plan.pending.push(located);
      if (entry.credit > 0) paidWorkunits.set(entry.workunit, entry.result);
    }
  }
  return plan;
}

export interface GrantedEntry {
  result: number;
  workunit: string;
  host: number;
  user: number;
  amount: number;
  source: string;
}

export interface ApplyReport {
  granted: GrantedEntry[];
  /** Already in the ledger before this run, or granted by another run meanwhile. */
  alreadyApplied: number;
  problems: Problem[];
  dryRun: boolean;
}

/**
 * Grants in flight at once: each is its own transaction on its own connection, so the round trips
 * and commits of one overlap another's (the MariaDB store's pool holds as many connections).
 */
export const GRANTS_AT_ONCE = 8;

/**
 * Runs `grant` for every item, at most `limit` at once, in the items' order; after a failure no
 * new one starts, the ones running finish, and the first failure is thrown.
 */
async function eachAtMost<T>(items: readonly T[], limit: number, grant: (item: T) => Promise<void>) {
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async () => {
    while (!failure && next < items.length) {
      const item = items[next++] as T;
      try {
        await grant(item);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failure) throw failure.error;
}

/**
 * Makes the BOINC database agree with the credit files on this checkout: grants every valid entry
 * the ledger does not have, one transaction per result, a few at once. Safe to run again and to
 * run concurrently.
 */
export async function applyCredit(options: {
  root: string;
  store: BoincStore;
  validator: SchemaValidator;
  commit: string;
  now: () => number;
  dryRun: boolean;
  progress?: (done: number, total: number) => void;
}): Promise<ApplyReport> {
  const plan = await planCredit(options);
  if (!options.dryRun)
    await options.store.recordRefusals(
      plan.refusals.map((r) => ({ ...r, commit: options.commit, refusedAt: options.now() })),
    );
  const outcomes = new Map<LocatedEntry, 'granted' | 'already-granted'>();
  const grant = async (located: LocatedEntry) => {
    const outcome = options.dryRun
      ? 'granted'
      : await options.store.grantCredit({
          resultId: located.entry.result,
          amount: located.entry.credit,
          commit: options.commit,
          source: sourceOf(located),
          now: options.now(),
        });
    outcomes.set(located, outcome);
    options.progress?.(outcomes.size, plan.pending.length);
  };
  await eachAtMost(plan.pending, GRANTS_AT_ONCE, grant);
  const granted = plan.pending.filter((located) => outcomes.get(located) === 'granted');
  return {
    granted: granted.map((located) => ({
      result: located.entry.result,
      workunit: located.entry.workunit,
      host: located.entry.host,
      user: located.entry.user,
      amount: located.entry.credit,
      source: sourceOf(located),
    })),
    alreadyApplied: plan.applied.length + (plan.pending.length - granted.length),
    problems: plan.problems,
    dryRun: options.dryRun,
  };
}

const sourceOf = (located: Pick<LocatedEntry, 'file' | 'line'>) => `${located.file}:${located.line}`;
