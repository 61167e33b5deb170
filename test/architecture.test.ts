import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { booleanOption, type ParsedArgs, stringOption } from '../src/cli/command.js';
import { WORKUNIT_NAME_PATTERN } from '../src/workunit/name.js';
import { REPO_ROOT } from './helpers/repo.js';

const SRC = join(REPO_ROOT, 'src');

/**
 * The layers, lowest first: a module may import from its own layer or a lower one, never a higher
 * one (STYLE.md 12). `.` is the files directly in src/.
 */
const LAYERS: readonly (readonly string[])[] = [
  ['.', 'yaml', 'schema'],
  ['fleet', 'config', 'manifest', 'env'],
  ['workunit', 'envelope', 'record'],
  ['boinc', 'forge', 'claude', 'runner', 'plots', 'policy'],
  ['check', 'deploy', 'assimilate', 'collect', 'credit', 'propose', 'site', 'demo', 'app'],
  // The agent on the BOINC server composes the use cases into passes.
  ['agent'],
  ['cli'],
];
const LAYER_OF = new Map(LAYERS.flatMap((folders, layer) => folders.map((f) => [f, layer] as const)));

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory()
      ? sourceFiles(join(dir, entry.name))
      : entry.name.endsWith('.ts')
        ? [join(dir, entry.name)]
        : [],
  );
}

/** Every relative import of a file, static or dynamic, type-only or not, as a path under src/. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const specifiers = [
    ...text.matchAll(/(?:^|\n)\s*(?:import|export)\s[^;]*?from\s+'(\.{1,2}\/[^']+)'/g),
    ...text.matchAll(/import\(\s*'(\.{1,2}\/[^']+)'\s*\)/g),
  ].map((m) => m[1] as string);
  return specifiers.map((s) => relative(SRC, resolve(dirname(file), s.replace(/\.js$/, '.ts'))));
}

const folderOf = (path: string) => (path.includes('/') ? (path.split('/')[0] as string) : '.');

function graph(): Map<string, Set<string>> {
  const edges = new Map<string, Set<string>>();
  for (const file of sourceFiles(SRC)) edges.set(relative(SRC, file), new Set(importsOf(file)));
  return edges;
}

/** Strongly connected components with more than one member, or a member that imports itself (Tarjan). */
function cycles(edges: Map<string, Set<string>>): string[][] {
  let index = 0;
  const indexes = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (node: string) => {
    indexes.set(node, index);
    low.set(node, index++);
    stack.push(node);
    onStack.add(node);
    for (const next of edges.get(node) ?? []) {
      if (!indexes.has(next)) {
        visit(next);
        low.set(node, Math.min(low.get(node) as number, low.get(next) as number));
      } else if (onStack.has(next))
        low.set(node, Math.min(low.get(node) as number, indexes.get(next) as number));
    }
    if (low.get(node) === indexes.get(node)) {
      const component: string[] = [];
      let member: string;
      do {
        member = stack.pop() as string;
        onStack.delete(member);
        component.push(member);
      } while (member !== node);
      if (component.length > 1 || edges.get(node)?.has(node)) found.push(component.sort());
    }
  };
  for (const node of edges.keys()) if (!indexes.has(node)) visit(node);
  return found;
}

describe('the import graph', () => {
  const edges = graph();

  it('knows every file it checks and every file imported exists', () => {
    for (const [file, imports] of edges)
      for (const target of imports)
        expect({ file, target, exists: edges.has(target) }).toMatchObject({ exists: true });
    expect(edges.size).toBeGreaterThan(50);
  });

  it('has a layer for every folder of src/', () => {
    const folders = [...new Set([...edges.keys()].map(folderOf))].sort();
    expect(folders.filter((f) => !LAYER_OF.has(f))).toEqual([]);
  });

  it('has no cycle between files', () => {
    expect(cycles(edges)).toEqual([]);
  });

  it('has no cycle between folders', () => {
    const folders = new Map<string, Set<string>>();
    for (const [file, imports] of edges) {
      const from = folderOf(file);
      const targets = folders.get(from) ?? new Set<string>();
      for (const target of imports) if (folderOf(target) !== from) targets.add(folderOf(target));
      folders.set(from, targets);
    }
    expect(cycles(folders)).toEqual([]);
  });

  it('only points down: no module imports from a higher layer', () => {
    const upward = [...edges].flatMap(([file, imports]) =>
      [...imports]
        .filter((target) => (LAYER_OF.get(folderOf(target)) ?? 0) > (LAYER_OF.get(folderOf(file)) ?? 0))
        .map((target) => `${file} -> ${target}`),
    );
    expect(upward).toEqual([]);
  });

  it('can fail: the checks see a cycle and an upward import when there is one', () => {
    const broken = new Map(edges);
    broken.set('workunit/name.ts', new Set([...(edges.get('workunit/name.ts') ?? []), 'cli/main.ts']));
    expect(cycles(broken).length).toBeGreaterThan(0);
  });
});

describe('one contract per thing that crosses a boundary', () => {
  it('spells the workunit name the same way in the code and in every schema', () => {
    const schemas = ['workunit', 'review', 'credit'].map((name) =>
      readFileSync(join(REPO_ROOT, 'schemas', `${name}.schema.json`), 'utf8'),
    );
    for (const schema of schemas) expect(schema).toContain(JSON.stringify(WORKUNIT_NAME_PATTERN));
    expect(readFileSync(join(SRC, 'schema', 'validate.ts'), 'utf8')).toContain(`'${WORKUNIT_NAME_PATTERN}'`);
  });

  it('writes and parses the workunit name and the experiment name in one place each', () => {
    const offenders = sourceFiles(SRC)
      .filter((f) => !f.endsWith(join('workunit', 'name.ts')) && !f.endsWith(join('manifest', 'name.ts')))
      .filter((f) =>
        /_h\(|axm_\$\{|\[a-z\]\[a-z0-9_\]\{2,47\}/.test(readFileSync(f, 'utf8').replace(/\/\/.*$/gm, '')),
      )
      .map((f) => relative(SRC, f));
    // The schema validator names the patterns it explains; that is wording, not a parser.
    expect(offenders).toEqual(['schema/validate.ts']);
  });

  it('reads the environment in one module only', () => {
    const readers = sourceFiles(SRC)
      .filter((f) =>
        /\benv\.(AXIOM|ANTHROPIC|GITHUB)_|process\.env\.(AXIOM|ANTHROPIC|GITHUB)_/.test(
          readFileSync(f, 'utf8'),
        ),
      )
      .map((f) => relative(SRC, f));
    expect(readers).toEqual([]);
  });
});

describe('commands', () => {
  it('read only the options they declare: an undeclared flag does not compile', () => {
    const options = { json: { type: 'boolean', description: 'report as JSON' } } as const;
    const args: ParsedArgs<typeof options> = { values: { json: true }, positionals: [] };
    expect(booleanOption(args, 'json')).toBe(true);
    // @ts-expect-error 'no-plots' is not an option of this command (tsc --noEmit fails if this compiles)
    expect(booleanOption(args, 'no-plots')).toBe(false);
    // @ts-expect-error a boolean option is not read as a string
    expect(stringOption(args, 'json')).toBeUndefined();
  });
});
