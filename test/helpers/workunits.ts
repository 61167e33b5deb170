import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { workunitInputOf } from '../../src/deploy/deploy.js';
import { SnapshotFleet } from '../../src/fleet/snapshot.js';
import { sha256File } from '../../src/hash.js';
import { parseManifest } from '../../src/manifest/load.js';
import { SchemaValidator } from '../../src/schema/validate.js';
import type { WorkunitInput } from '../../src/workunit/input.js';
import { planManifest } from '../../src/workunit/plan.js';

/**
 * The wu.json of every workunit a manifest of the repository at `root` plans, exactly as deploy
 * writes them at `commit`: what spool entries carry in tests that do not run a deploy.
 */
export async function plannedInputs(
  root: string,
  experiment: string,
  commit: string,
  baseUrl = 'https://boinc.example.org/axiom/experiments/',
): Promise<Map<string, WorkunitInput>> {
  const validator = new SchemaValidator();
  const file = `manifests/${experiment}.yaml`;
  const manifest = parseManifest(file, readFileSync(join(root, file), 'utf8'), validator).manifest;
  if (!manifest) throw new Error(`${file} is not a valid manifest`);
  const hosts = await new SnapshotFleet(join(root, 'fleet.yaml'), 'fleet.yaml', validator).readHosts();
  const sha = sha256File(join(root, manifest.script));
  const plan = planManifest(file, manifest, sha, new Map(hosts.map((h) => [h.id, h])));
  const url = `${baseUrl}${experiment}-${sha.slice(0, 12)}.py`;
  return new Map(plan.workunits.map((wu) => [wu.name, workunitInputOf(manifest, plan, wu, url, commit)]));
}
