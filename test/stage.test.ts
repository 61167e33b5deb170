import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { hierarchyDir, StagingConflictError, stageInputFile } from '../src/boinc/stage.js';

describe('BOINC download hierarchy', () => {
  it('matches the examples BOINC documents for a fanout of 1024', () => {
    expect(hierarchyDir('foo', 1024)).toBe('db');
    expect(hierarchyDir('in_1.txt', 1024)).toBe('314');
    expect(hierarchyDir('foo', 0)).toBe('');
  });

  it('stages a file with its .md5 cache, idempotently, and refuses different content', () => {
    const dir = mkdtempSync(join(tmpdir(), 'axiom-stage-'));
    try {
      const content = Buffer.from('{"mode": "experiment"}\n');
      const first = stageInputFile(dir, 1024, 'in_1.txt', content);
      expect(first).toEqual({ path: join(dir, '314', 'in_1.txt'), created: true });
      expect(readFileSync(`${first.path}.md5`, 'utf8')).toMatch(/^[0-9a-f]{32} 23\n$/);
      expect(stageInputFile(dir, 1024, 'in_1.txt', content).created).toBe(false);
      expect(() => stageInputFile(dir, 1024, 'in_1.txt', Buffer.from('other'))).toThrow(StagingConflictError);
      expect(() => stageInputFile(dir, 1024, 'bad name;rm', content)).toThrow('is not shell-safe');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
