import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomically } from '../atomic-write.js';
import { AxiomError, ConfigurationError } from '../errors.js';
import { sha256File } from '../hash.js';
import { SCRIPT_SHA_PREFIX } from '../workunit/name.js';

export interface PublishedScript {
  experiment: string;
  sha256: string;
  /** `<experiment>-<sha256 prefix>.py`: content-addressed, never changed once published. */
  fileName: string;
  path: string;
  /** Where volunteers download it from. */
  url: string;
  /** False when the identical file was already published. */
  created: boolean;
}

/** A published script would be replaced by different content. */
export class PublishConflictError extends AxiomError {
  override name = 'PublishConflictError';
}

export function publishedFileName(experiment: string, sha256: string): string {
  return `${experiment}-${sha256.slice(0, SCRIPT_SHA_PREFIX)}.py`;
}

/** The URL volunteers fetch: https for real projects (the client refuses anything else), file:// for local labs. */
export function scriptUrl(baseUrl: string, fileName: string): string {
  let base: URL;
  try {
    base = new URL(baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`);
  } catch {
    throw new ConfigurationError(
      `AXIOM_SCRIPT_BASE_URL is not a URL; expected e.g. https://boinc.example.org/axiom/`,
    );
  }
  if (base.protocol !== 'https:' && base.protocol !== 'file:') {
    throw new ConfigurationError(
      `AXIOM_SCRIPT_BASE_URL must be https:// (volunteers verify certificates) or file:// for a local lab; found ${base.protocol}//`,
    );
  }
  return new URL(`experiments/${fileName}`, base).href;
}

/**
 * Copies a script to `<publishDir>/experiments/<name>-<sha prefix>.py` atomically (temporary file,
 * fsync, rename). The same content again is a no-op; different content under the same name is
 * refused, never overwritten, so workunits in flight always find the script they were made for.
 */
export function publishScript(options: {
  publishDir: string;
  baseUrl: string;
  experiment: string;
  script: string;
}): PublishedScript {
  const sha256 = sha256File(options.script);
  const fileName = publishedFileName(options.experiment, sha256);
  const dir = join(options.publishDir, 'experiments');
  const path = join(dir, fileName);
  const url = scriptUrl(options.baseUrl, fileName);
  const content = readFileSync(options.script);
  if (existsSync(path)) {
    if (!readFileSync(path).equals(content)) {
      throw new PublishConflictError(
        `${path} already exists with different content; published scripts are never overwritten`,
      );
    }
    return { experiment: options.experiment, sha256, fileName, path, url, created: false };
  }
  mkdirSync(dir, { recursive: true });
  writeFileAtomically(path, content);
  return { experiment: options.experiment, sha256, fileName, path, url, created: true };
}
