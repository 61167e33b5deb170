import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Where this Axiom Lab is installed: the package root holding bin/, dist/, scripts/ and package.json. */
export const INSTALLATION_DIR = fileURLToPath(new URL('../', import.meta.url)).replace(/\/$/, '');

/** The version of this installation (package.json). */
export function installedVersion(): string {
  const pkg = JSON.parse(readFileSync(`${INSTALLATION_DIR}/package.json`, 'utf8')) as { version: string };
  return pkg.version;
}
