import { parseManifest } from '../manifest/load.js';
import type { Manifest } from '../manifest/types.js';
import type { SchemaValidator } from '../schema/validate.js';
import { fileAtCommit, openGit } from './git.js';

/** What a workunit was deployed from: its manifest at the commit its wu.json names. */
export interface Deployed {
  manifest: Manifest;
  commit: string;
}

/** Why no deployed manifest can be had, in a sentence a reviewer can act on. */
export interface NotDeployed {
  missing: string;
}

/**
 * The one answer to "what was deployed": a workunit's manifest (so its params, checks, tolerances
 * and credit cap) as it was at the commit deploy recorded in its wu.json, read from the git history
 * of this checkout. collect judges by it, credit apply holds credit to its cap, the site shows it.
 * The commit must be on this checkout's history (an ancestor of HEAD): a commit that only a branch
 * holds was never deployed. There is no fallback to today's manifest: a workunit whose manifest
 * cannot be had is refused, never judged or paid by another one.
 */
export class DeployedManifests {
  private readonly manifests = new Map<string, Promise<Deployed | NotDeployed>>();
  private readonly onHistory = new Map<string, Promise<boolean>>();

  constructor(
    private readonly root: string,
    private readonly validator: SchemaValidator,
  ) {}

  /** The manifest `experiment` was deployed from at `commit`. */
  of(experiment: string, commit: string | undefined): Promise<Deployed | NotDeployed> {
    if (!commit || !/^[0-9a-f]{40}$/.test(commit))
      return Promise.resolve({
        missing: 'its workunit names no manifest commit, so what was deployed is unknown',
      });
    const key = `${commit}:${experiment}`;
    let found = this.manifests.get(key);
    if (!found) {
      found = this.read(experiment, commit);
      this.manifests.set(key, found);
    }
    return found;
  }

  private async read(experiment: string, commit: string): Promise<Deployed | NotDeployed> {
    const short = commit.slice(0, 12);
    if (!(await this.isOnHistory(commit)))
      return {
        missing: `commit ${short}, which its workunit was deployed from, is not in the history of this checkout`,
      };
    const file = `manifests/${experiment}.yaml`;
    const text = await fileAtCommit(this.root, commit, file);
    if (text === undefined)
      return { missing: `${file} does not exist at commit ${short}, which its workunit names` };
    const { manifest } = parseManifest(file, text, this.validator);
    if (!manifest || manifest.name !== experiment)
      return { missing: `${file} at commit ${short} is not a valid manifest of ${experiment}` };
    return { manifest, commit };
  }

  private isOnHistory(commit: string): Promise<boolean> {
    let known = this.onHistory.get(commit);
    if (!known) {
      known = openGit(this.root)
        .raw(['merge-base', '--is-ancestor', commit, 'HEAD'])
        .then(
          () => true,
          () => false,
        );
      this.onHistory.set(commit, known);
    }
    return known;
  }
}

export function isDeployed(found: Deployed | NotDeployed): found is Deployed {
  return 'manifest' in found;
}
