import { manifestYaml } from './repo.js';

/** A script that writes a whole result envelope for `name`, as the runner checks it. */
export const resultScript = (name: string) => `import json, os
result = {"experiment": "${name}", "version": "1", "status": "ok", "seed": int(os.environ["AXIOM_SEED"]),
          "params": json.loads(os.environ["AXIOM_PARAMS"]), "budget_seconds": float(os.environ["AXIOM_RUN_DURATION"]),
          "elapsed_seconds": 0.1, "metrics": {"mean": 0.01}, "series": {"n": [1, 2], "running_mean": [0.5, 0.01]},
          "summary": "ok"}
with open("experiment_result.json", "w") as handle:
    json.dump(result, handle)
`;

/** A design Claude might answer with that passes every check: coin_flips on host 60. */
export const GOOD_DESIGN = {
  name: 'coin_flips',
  title: 'Fair coins average to one half',
  hypothesis: 'The share of heads in many fair coin flips is close to one half.',
  why_hosts: [{ host: 60, why: 'a small Linux host is enough' }],
  script: resultScript('coin_flips'),
  manifest_yaml: manifestYaml('coin_flips')
    .replace(
      'The mean of many normal draws is close to zero.',
      'The share of heads in many fair coin flips is close to one half.',
    )
    .replace('  - host: 60\n    replicas: 2\n  - host: 267\n', '  - host: 60\n    replicas: 2\n'),
};
