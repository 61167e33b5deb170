/**
 * The layout of the research record, written by `axiom collect` and read by plots and the site:
 *
 *   results/<experiment>/<result id>/result.json   the sanitised result (numbers and a short summary)
 *   results/<experiment>/<result id>/review.json   the verdict, machine-readable (schemas/review.schema.json)
 *   results/<experiment>/<result id>/review.md     the same for people, with the plots embedded
 *   results/<experiment>/<result id>/plot-<n>.svg  one per plot the manifest declares
 *   results/<experiment>/overview-<n>.svg          every result of the experiment in one plot
 *   results/credit/<run>.yaml                      the credit proposal of each collection run
 */
export const RESULTS_DIR = 'results';
export const RESULT_FILE = 'result.json';
export const REVIEW_FILE = 'review.json';
export const REVIEW_MD = 'review.md';

export const plotFile = (index: number) => `plot-${index + 1}.svg`;
export const overviewFile = (index: number) => `overview-${index + 1}.svg`;

export type Verdict = 'valid' | 'invalid' | 'suspicious';

/** Which result, of which workunit, returned by whom: shared by reviews and credit entries. */
export interface ResultIdentity {
  result: number;
  workunit: string;
  experiment: string;
  host: number;
  user: number;
  team?: number;
}

export interface Review extends ResultIdentity {
  run: string;
  received_at: string;
  verdict: Verdict;
  quality: number;
  proposed_credit: number;
  judged_by: string;
  /** How the volunteer's client isolated the run. */
  isolation?: 'sandbox' | 'limits-only' | 'unknown';
  checks: { rule: string; passed: boolean; finding?: string }[];
  evidence?: string[];
  flags?: string[];
  provenance?: {
    model: string;
    prompt_hash: string;
    input_tokens: number;
    output_tokens: number;
    cache_read_tokens?: number;
    cache_write_tokens?: number;
    cost_usd: number;
    batched: boolean;
  };
}
