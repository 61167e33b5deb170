import type { BoincStore } from '../boinc/store.js';
import type { SchemaValidator } from '../schema/validate.js';
import { planCredit } from './apply.js';

export interface CreditBalance {
  id: number;
  /** Sum of credit in the files on this checkout (valid entries). */
  proposed: number;
  /** Sum granted through the ledger. */
  granted: number;
  /** total_credit in BOINC's table. */
  total: number;
  /** total − granted: credit that did not come through the ledger, or was changed by hand. */
  drift: number;
}

export interface CreditStatus {
  hosts: CreditBalance[];
  users: CreditBalance[];
  /** Valid entries waiting to be applied. */
  waiting: number;
  refused: number;
  /** Results whose granted_credit differs from what the ledger granted. */
  mismatched: { result: number; ledger: number; granted: number }[];
}

function add(
  map: Map<number, { proposed: number; granted: number }>,
  id: number,
  key: 'proposed' | 'granted',
  amount: number,
): void {
  const entry = map.get(id) ?? { proposed: 0, granted: 0 };
  entry[key] += amount;
  map.set(id, entry);
}

/** Proposed against granted per host and user, what waits, and where the database drifted from the ledger. */
export async function creditStatus(options: {
  root: string;
  store: BoincStore;
  validator: SchemaValidator;
}): Promise<CreditStatus> {
  const plan = await planCredit(options);
  const hosts = new Map<number, { proposed: number; granted: number }>();
  const users = new Map<number, { proposed: number; granted: number }>();
  for (const { entry } of [...plan.pending, ...plan.applied]) {
    add(hosts, entry.host, 'proposed', entry.credit);
    add(users, entry.user, 'proposed', entry.credit);
  }
  for (const row of plan.ledger) {
    add(hosts, row.hostId, 'granted', row.amount);
    add(users, row.userId, 'granted', row.amount);
  }
  const totals = await options.store.creditTotals({
    hosts: [...hosts.keys()],
    users: [...users.keys()],
    results: plan.ledger.map((r) => r.resultId),
  });
  const balances = (map: typeof hosts, total: Map<number, number>): CreditBalance[] =>
    [...map.entries()]
      .sort(([a], [b]) => a - b)
      .map(([id, sums]) => {
        const inDb = total.get(id) ?? 0;
        return { id, ...sums, total: inDb, drift: round(inDb - sums.granted) };
      });
  return {
    hosts: balances(hosts, totals.hosts),
    users: balances(users, totals.users),
    waiting: plan.pending.length,
    refused: plan.problems.filter((p) => p.severity === 'error').length + plan.refusedBefore,
    mismatched: plan.ledger
      .filter((row) => (totals.grantedByResult.get(row.resultId) ?? 0) !== row.amount)
      .map((row) => ({
        result: row.resultId,
        ledger: row.amount,
        granted: totals.grantedByResult.get(row.resultId) ?? 0,
      })),
  };
}

/** Sums of doubles: drift below a millionth of a credit is rounding, not drift. */
function round(value: number): number {
  return Math.abs(value) < 1e-6 ? 0 : value;
}
