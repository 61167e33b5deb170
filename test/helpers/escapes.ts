import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FIXTURES } from './repo.js';

/** Escape attempts: one script each, with the category it belongs to and the policy rules that catch it. */
export const ESCAPES = join(FIXTURES, 'escapes');

export interface Escape {
  name: string;
  category: string;
  policy: string;
}

export function escapeCorpus(): Escape[] {
  return readdirSync(ESCAPES)
    .filter((f) => f.endsWith('.py'))
    .sort()
    .map((file) => {
      const text = readFileSync(join(ESCAPES, file), 'utf8');
      return {
        name: file.slice(0, -3),
        category: /^# escape: (\S+)/m.exec(text)?.[1] ?? '?',
        policy: /^# policy: (\S+)/m.exec(text)?.[1] ?? '?',
      };
    });
}
