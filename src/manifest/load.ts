import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Problem } from '../problems.js';
import type { SchemaValidator } from '../schema/validate.js';
import { type LocatedDocument, parseYaml } from '../yaml/document.js';
import type { Manifest } from './types.js';

/** A manifest file as read: its problems, and the manifest itself when it passed the schema. */
export interface LoadedManifest {
  /** Path relative to the repository root, as shown in reports. */
  file: string;
  document?: LocatedDocument;
  manifest?: Manifest;
  problems: Problem[];
}

/** A manifest that passed the schema, with the document it came from (for locating later findings). */
export interface ValidManifest {
  file: string;
  document: LocatedDocument;
  manifest: Manifest;
}

export function loadManifest(
  root: string,
  file: string,
  validator: SchemaValidator,
  unreadable: (root: string, file: string) => string | undefined = () => undefined,
): LoadedManifest {
  const refused = unreadable(root, file);
  if (refused) return { file, problems: [{ file, rule: 'file', message: refused, severity: 'error' }] };
  let text: string;
  try {
    text = readFileSync(join(root, file), 'utf8');
  } catch (error) {
    const reason =
      (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : (error as Error).message;
    return { file, problems: [{ file, rule: 'read', message: reason, severity: 'error' }] };
  }
  return parseManifest(file, text, validator);
}

export function parseManifest(file: string, text: string, validator: SchemaValidator): LoadedManifest {
  const { document, problems } = parseYaml(file, text);
  if (!document) return { file, problems };
  const schemaProblems = validator.validate('manifest', document);
  const all = [...problems, ...schemaProblems];
  return schemaProblems.length === 0
    ? { file, document, manifest: document.data as Manifest, problems: all }
    : { file, document, problems: all };
}

export function isValid(loaded: LoadedManifest): loaded is LoadedManifest & ValidManifest {
  return loaded.manifest !== undefined && loaded.document !== undefined;
}
