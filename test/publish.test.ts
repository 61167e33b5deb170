import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { PublishConflictError, publishScript, scriptUrl } from '../src/boinc/publish.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function scratch(): string {
  const dir = mkdtempSync(join(tmpdir(), 'axiom-publish-'));
  dirs.push(dir);
  return dir;
}

describe('publishing scripts', () => {
  it('copies a script under its content address and derives the download URL', () => {
    const dir = scratch();
    const script = join(dir, 'walk.py');
    writeFileSync(script, 'print("v1")\n');
    const sha = createHash('sha256').update('print("v1")\n').digest('hex');
    const published = publishScript({
      publishDir: join(dir, 'pub'),
      baseUrl: 'https://boinc.example.org/axiom',
      experiment: 'walk',
      script,
    });
    expect(published).toMatchObject({ fileName: `walk-${sha.slice(0, 12)}.py`, sha256: sha, created: true });
    expect(published.url).toBe(`https://boinc.example.org/axiom/experiments/walk-${sha.slice(0, 12)}.py`);
    expect(readFileSync(published.path, 'utf8')).toBe('print("v1")\n');
    expect(readdirSync(join(dir, 'pub', 'experiments'))).toEqual([published.fileName]);
  });

  it('is a no-op for the same content, and keeps the old file when the script changes', () => {
    const dir = scratch();
    const script = join(dir, 'walk.py');
    const options = {
      publishDir: join(dir, 'pub'),
      baseUrl: 'file:///srv/axiom/',
      experiment: 'walk',
      script,
    };
    writeFileSync(script, 'print("v1")\n');
    const first = publishScript(options);
    expect(publishScript(options).created).toBe(false);
    writeFileSync(script, 'print("v2")\n');
    const second = publishScript(options);
    expect(second.fileName).not.toBe(first.fileName);
    expect(readFileSync(first.path, 'utf8')).toBe('print("v1")\n');
    expect(readdirSync(join(dir, 'pub', 'experiments')).sort()).toEqual(
      [first.fileName, second.fileName].sort(),
    );
  });

  it('refuses to overwrite a published name that holds different content', () => {
    const dir = scratch();
    const script = join(dir, 'walk.py');
    writeFileSync(script, 'print("v1")\n');
    const options = {
      publishDir: join(dir, 'pub'),
      baseUrl: 'https://example.org/',
      experiment: 'walk',
      script,
    };
    const published = publishScript(options);
    writeFileSync(published.path, 'tampered\n');
    expect(() => publishScript(options)).toThrow(PublishConflictError);
    expect(readFileSync(published.path, 'utf8')).toBe('tampered\n');
  });

  it('accepts only https and file base URLs', () => {
    expect(() => scriptUrl('http://example.org/', 'x.py')).toThrow(
      'must be https:// (volunteers verify certificates) or file:// for a local lab; found http://',
    );
    expect(() => scriptUrl('not a url', 'x.py')).toThrow('AXIOM_SCRIPT_BASE_URL is not a URL');
  });
});
