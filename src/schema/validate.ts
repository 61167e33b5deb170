import { readFileSync } from 'node:fs';
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import formats from 'ajv-formats';
import type { Problem } from '../problems.js';
import type { DocPath, LocatedDocument } from '../yaml/document.js';

export const SCHEMA_NAMES = [
  'manifest',
  'fleet',
  'config',
  'result',
  'credit',
  'review',
  'workunit',
  'record',
] as const;
export type SchemaName = (typeof SCHEMA_NAMES)[number];

export function schemaPath(name: SchemaName): string {
  return new URL(`../../schemas/${name}.schema.json`, import.meta.url).pathname;
}

/** Human wording for the patterns our schemas use. */
const PATTERN_HINTS: Record<string, string> = {
  '^[a-z][a-z0-9_]{2,47}$':
    'a name of 3 to 48 lowercase letters, digits or underscores, starting with a letter (e.g. double_descent)',
  '^experiments/[a-z][a-z0-9_]{2,47}\\.py$':
    'a path like experiments/<name>.py (e.g. experiments/double_descent.py)',
  '^[a-z][a-z0-9_]{0,63}$':
    'a key of lowercase letters, digits or underscores, starting with a letter (e.g. test_error)',
  '^[0-9a-f]{64}$': 'a sha256 in 64 lowercase hex digits',
  // The same as WORKUNIT_NAME_PATTERN (workunit/name.ts); a test holds the two and the schemas together.
  '^axm_[a-z][a-z0-9_]{2,47}_[0-9a-f]{12}_h[0-9]+_r[0-9]+$':
    'a workunit name like axm_<experiment>_<script sha256 prefix>_h<host>_r<replica>',
  '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{6}Z$': 'a run id like 2026-11-25T120000Z',
  '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{6}Z(\\.[1-9][0-9]{0,3})?$':
    'a batch id: a run id like 2026-11-25T120000Z, with .2 (etc.) when the run was split',
  '^(https|file)://': 'an https:// URL (file:// for local runs)',
  '^[0-9a-f]{40}$': 'a git commit id in 40 lowercase hex digits',
};

const FORMAT_EXAMPLES: Record<string, string> = {
  'date-time': '2026-11-25T12:00:00Z',
  date: '2026-11-25',
};

/** Compiled JSON Schemas of the repository's files, reporting every problem at once with its location. */
export class SchemaValidator {
  private readonly validators = new Map<SchemaName, ValidateFunction>();

  constructor() {
    const ajv = new Ajv2020({
      allErrors: true,
      verbose: true,
      strict: true,
      strictRequired: false,
      allowUnionTypes: true,
    });
    formats.default(ajv, ['date', 'date-time']);
    for (const name of SCHEMA_NAMES) {
      const schema = JSON.parse(readFileSync(schemaPath(name), 'utf8')) as object;
      this.validators.set(name, ajv.compile(schema));
    }
  }

  validate(name: SchemaName, document: LocatedDocument): Problem[] {
    const validate = this.validators.get(name);
    if (!validate) throw new Error(`no schema named ${name}`);
    if (validate(document.data)) return [];
    return relevantErrors(validate.errors ?? []).map((error) => toProblem(error, document));
  }
}

/** Drops errors that only restate another one (branches of anyOf, if/then, propertyNames wrappers). */
function relevantErrors(errors: readonly ErrorObject[]): ErrorObject[] {
  const anyOfPaths = errors.filter((e) => e.keyword === 'anyOf').map((e) => e.schemaPath);
  return errors.filter(
    (e) =>
      e.keyword !== 'if' &&
      e.keyword !== 'propertyNames' &&
      !anyOfPaths.some((p) => e.schemaPath.startsWith(`${p}/`)),
  );
}

function toProblem(error: ErrorObject, document: LocatedDocument): Problem {
  const path = pointerToPath(error.instancePath, document.data);
  let target: DocPath = path;
  let at: 'value' | 'key' = 'value';
  if (error.keyword === 'additionalProperties') {
    target = [...path, String(error.params.additionalProperty)];
    at = 'key';
  } else if (error.propertyName !== undefined) {
    target = [...path, error.propertyName];
    at = 'key';
  }
  const { line, column } = document.locate(target, at);
  return {
    file: document.file,
    line,
    column,
    path: formatPath(target) || undefined,
    rule: 'schema',
    message: describeError(error),
    severity: 'error',
  };
}

function describeError(error: ErrorObject): string {
  const { params, data } = error;
  const parent = error.parentSchema as Record<string, unknown> | undefined;
  if (error.propertyName !== undefined) {
    return `key ${JSON.stringify(error.propertyName)} is not allowed here: must be ${patternHint(String(params.pattern))}`;
  }
  switch (error.keyword) {
    case 'required':
      return `missing required key "${params.missingProperty}"`;
    case 'additionalProperties': {
      const allowed = Object.keys((parent?.properties as object | undefined) ?? {});
      const key = String(params.additionalProperty);
      // `{ description: a, b }` splits at the comma: the tail becomes a key with spaces in it.
      const hint = /\s/.test(key)
        ? '; a comma inside an unquoted value of a { } mapping splits it, so quote that value'
        : '';
      return `unknown key "${key}"${allowed.length ? `; allowed keys: ${allowed.join(', ')}` : ''}${hint}`;
    }
    case 'type':
      return `must be ${article(String(params.type))}, found ${describeValue(data)}`;
    case 'enum':
      return `must be one of ${(params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}; found ${describeValue(data)}`;
    case 'const':
      return `must be ${JSON.stringify(params.allowedValue)}; found ${describeValue(data)}`;
    case 'pattern':
      return `must be ${patternHint(String(params.pattern))}; found ${describeValue(data)}`;
    case 'format':
      return `must be a ${params.format}${FORMAT_EXAMPLES[String(params.format)] ? ` (e.g. ${FORMAT_EXAMPLES[String(params.format)]})` : ''}; found ${describeValue(data)}`;
    case 'minimum':
    case 'maximum':
    case 'exclusiveMinimum':
    case 'exclusiveMaximum':
      return `must be ${params.comparison} ${params.limit}; found ${describeValue(data)}`;
    case 'minItems':
      return `must have at least ${params.limit} item${params.limit === 1 ? '' : 's'}; found ${(data as unknown[]).length}`;
    case 'maxItems':
    case 'items':
      return `must have at most ${params.limit} items; found ${(data as unknown[]).length}`;
    case 'minLength':
      return `must be at least ${params.limit} characters long; found ${(data as string).length}`;
    case 'maxLength':
      return `must be at most ${params.limit} characters long; found ${(data as string).length}`;
    case 'minProperties':
      return `must have at least ${params.limit} entr${params.limit === 1 ? 'y' : 'ies'}; found none`;
    case 'uniqueItems':
      return `must not repeat items; items ${params.j} and ${params.i} are equal`;
    case 'anyOf':
      return `must be ${describeAlternatives(parent?.anyOf as Record<string, unknown>[] | undefined)}; found ${describeValue(data)}`;
    default:
      return `${error.message ?? 'is not valid'}; found ${describeValue(data)}`;
  }
}

function patternHint(pattern: string): string {
  return PATTERN_HINTS[pattern] ?? `text matching ${pattern}`;
}

function describeAlternatives(branches: Record<string, unknown>[] | undefined): string {
  if (!branches) return 'one of the allowed forms';
  const forms = branches.map((branch) => {
    if (branch.type === 'array' && Array.isArray(branch.prefixItems)) {
      return `[${branch.prefixItems.map((item) => (item as { type: string }).type).join(', ')}]`;
    }
    if (branch.type === 'array') return 'a list';
    if (branch.type === 'boolean') return 'true/false';
    return article(String(branch.type));
  });
  return forms.length > 1 ? `${forms.slice(0, -1).join(', ')} or ${forms.at(-1)}` : (forms[0] ?? '');
}

function article(type: string): string {
  const words: Record<string, string> = {
    integer: 'an integer',
    number: 'a number',
    string: 'a string',
    boolean: 'true or false',
    object: 'a mapping (key: value)',
    array: 'a list',
    null: 'empty',
  };
  return type
    .split(',')
    .map((t) => words[t] ?? t)
    .join(' or ');
}

export function describeValue(value: unknown): string {
  if (value === null || value === undefined) return 'nothing';
  if (typeof value === 'string') {
    return value.length > 60
      ? `the text ${JSON.stringify(`${value.slice(0, 57)}...`)}`
      : `the text ${JSON.stringify(value)}`;
  }
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) return `a list of ${value.length}`;
  return 'a mapping';
}

/** JSON pointer `/targets/2/host` to `['targets', 2, 'host']`, using the data to tell list indexes from keys. */
function pointerToPath(pointer: string, data: unknown): (string | number)[] {
  if (pointer === '') return [];
  const path: (string | number)[] = [];
  let node = data;
  for (const raw of pointer.slice(1).split('/')) {
    const segment = raw.replaceAll('~1', '/').replaceAll('~0', '~');
    if (Array.isArray(node)) {
      path.push(Number(segment));
      node = node[Number(segment)];
    } else {
      path.push(segment);
      node = (node as Record<string, unknown> | undefined)?.[segment];
    }
  }
  return path;
}

/** `['targets', 2, 'host']` to `targets[2].host`. */
export function formatPath(path: DocPath): string {
  return path
    .map((segment, index) => {
      if (typeof segment === 'number') return `[${segment}]`;
      if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(segment)) return index === 0 ? segment : `.${segment}`;
      return `[${JSON.stringify(segment)}]`;
    })
    .join('');
}
