import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { loadManifest, type ValidManifest } from '../manifest/load.js';
import type { Problem } from '../problems.js';
import { parseResultAddress } from '../record/layout.js';
import { citationResolver } from '../record/lineage.js';
import { formatPath, type SchemaValidator } from '../schema/validate.js';
import type { DocPath } from '../yaml/document.js';

const RULE = 'follow-up-citations';

function problemAt(m: ValidManifest, path: DocPath, message: string): Problem {
  return {
    file: m.file,
    ...m.document.locate(path),
    path: formatPath(path),
    rule: RULE,
    message,
    severity: 'error',
  };
}

/** The round of an experiment of the repository: its manifest's follow_up.round, else 1. */
function roundIn(root: string, name: string, validator: SchemaValidator): number {
  const file = `manifests/${name}.yaml`;
  if (!existsSync(join(root, file))) return 1;
  return loadManifest(root, file, validator).manifest?.follow_up?.round ?? 1;
}

/**
 * A follow-up cites only results that are recorded, each under the parent it names, and its round
 * is one more than its parents' latest: a citation is a claim a reviewer and a public reader rely on.
 */
export function citationProblems(
  root: string,
  valid: readonly ValidManifest[],
  validator: SchemaValidator,
): Problem[] {
  const resolve = citationResolver(root, validator);
  return valid.flatMap((m) => {
    const followUp = m.manifest.follow_up;
    if (!followUp) return [];
    const problems: Problem[] = [];
    followUp.parents.forEach((parent, p) => {
      if (parent.experiment === m.manifest.name)
        problems.push(
          problemAt(m, ['follow_up', 'parents', p, 'experiment'], 'an experiment cannot follow itself up'),
        );
      parent.results.forEach((address, r) => {
        const at: DocPath = ['follow_up', 'parents', p, 'results', r];
        const named = parseResultAddress(address);
        if (named && named.experiment !== parent.experiment)
          problems.push(
            problemAt(m, at, `${address} is a result of ${named.experiment}, not of ${parent.experiment}`),
          );
        else if (!resolve(address))
          problems.push(
            problemAt(
              m,
              at,
              `${address} is not a recorded result (expected the address of a result in results/, e.g. results/${parent.experiment}/2026-11-25T120000Z.md#result-12)`,
            ),
          );
      });
    });
    const expected = 1 + Math.max(...followUp.parents.map((p) => roundIn(root, p.experiment, validator)));
    if (followUp.round !== expected)
      problems.push(
        problemAt(
          m,
          ['follow_up', 'round'],
          `round ${followUp.round} does not follow its parents: expected ${expected}, one more than their latest round`,
        ),
      );
    return problems;
  });
}
