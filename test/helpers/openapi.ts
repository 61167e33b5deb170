import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Ajv, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';

/**
 * GitHub's published OpenAPI description (npm @octokit/openapi), used to hold the GitHub stand-in
 * to the real API: request bodies and query parameters we send, and responses the stand-in gives.
 */

type Schema = Record<string, unknown>;
interface Parameter {
  name: string;
  in: string;
  required?: boolean;
}
interface Operation {
  parameters?: Parameter[];
  requestBody?: { required?: boolean; content: Record<string, { schema: Schema }> };
  responses: Record<string, { content?: Record<string, { schema: Schema }> }>;
}
type Spec = { paths: Record<string, Record<string, Operation>> };

let spec: Spec | undefined;
function load(): Spec {
  const require = createRequire(import.meta.url);
  const path = require.resolve('@octokit/openapi/generated/api.github.com.deref.json');
  spec ??= JSON.parse(readFileSync(path, 'utf8')) as Spec;
  return spec;
}

const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;
// GitHub's description uses formats of its own (repo.nwo, ...); they are not checked, and not worth a warning.
const ajv = addFormats(new Ajv({ strict: false, allErrors: true, logger: false }));
const compiled = new Map<Schema, ValidateFunction>();

/**
 * GitHub's description marks some schemas `nullable` without a `type` (an `allOf` that may be null,
 * e.g. a check run's `app`), which ajv refuses to compile; those become "the schema, or null".
 */
function normalised(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(normalised);
  if (typeof schema !== 'object' || schema === null) return schema;
  const entries = Object.entries(schema).map(([k, v]) => [k, normalised(v)] as const);
  const copy = Object.fromEntries(entries) as Schema;
  // ajv takes null for a nullable enum only when the enum lists it.
  if (copy.nullable === true && Array.isArray(copy.enum) && !copy.enum.includes(null))
    copy.enum = [...copy.enum, null];
  if (copy.nullable === true && copy.type === undefined) {
    const { nullable: _, ...rest } = copy;
    return { anyOf: [rest, { type: 'null' }] };
  }
  return copy;
}

function validatorFor(schema: Schema): ValidateFunction {
  let validate = compiled.get(schema);
  if (!validate) {
    validate = ajv.compile(normalised(schema) as Schema);
    compiled.set(schema, validate);
  }
  return validate;
}

/** `METHOD /template`, e.g. `POST /repos/{owner}/{repo}/pulls`. */
export function operation(route: string): Operation {
  const [method, template] = route.split(' ') as [string, string];
  const op = load().paths[template]?.[method.toLowerCase()];
  if (!op) throw new Error(`GitHub's OpenAPI description has no operation ${route}`);
  return op;
}

function describe(validate: ValidateFunction): string {
  return (validate.errors ?? [])
    .slice(0, 5)
    .map((e) => `${e.instancePath || '/'} ${e.message}`)
    .join('; ');
}

/** Problems with a request: unknown query parameters, a body the operation does not accept. */
export function checkRequest(route: string, query: URLSearchParams, body: unknown): string[] {
  const op = operation(route);
  const problems: string[] = [];
  const known = new Set((op.parameters ?? []).filter((p) => p.in === 'query').map((p) => p.name));
  for (const name of query.keys())
    if (!known.has(name)) problems.push(`query parameter "${name}" is not in the API`);
  const schema = op.requestBody?.content['application/json']?.schema;
  if (body === undefined) {
    if (op.requestBody?.required) problems.push('the request needs a JSON body');
  } else if (!schema) {
    problems.push('the operation takes no body');
  } else {
    const validate = validatorFor(schema);
    if (!validate(body)) problems.push(`request body: ${describe(validate)}`);
  }
  return problems;
}

/**
 * Answers GitHub gives that its description leaves out, each with GitHub's basic error body: 403
 * "Resource not accessible by integration" (an App token without the permission) from every
 * endpoint, 401 "Bad credentials" (an unknown or expired token) from every endpoint, and 422 from
 * the check-run endpoints for a run they cannot take (the description lists only 201 and 200).
 */
function undocumentedButReal(route: string, status: number, body: unknown): boolean {
  const error = body as { message?: unknown; documentation_url?: unknown } | undefined;
  if (typeof error?.documentation_url !== 'string') return false;
  if (status === 403) return error.message === 'Resource not accessible by integration';
  if (status === 401) return error.message === 'Bad credentials';
  return status === 422 && /\/check-runs/.test(route);
}

/** Problems with a response the stand-in is about to send. */
export function checkResponse(route: string, status: number, body: unknown): string[] {
  const response = operation(route).responses[String(status)];
  if (!response)
    return undocumentedButReal(route, status, body) ? [] : [`status ${status} is not a documented response`];
  const schema = response.content?.['application/json']?.schema;
  if (!schema) return body === undefined || body === '' ? [] : [`status ${status} has no body in the API`];
  const validate = validatorFor(schema);
  return validate(body) ? [] : [`response body: ${describe(validate)}`];
}

/**
 * The smallest value of a schema inside a response: `path` walks properties (and `items`), taking
 * the first choice of an anyOf/oneOf, a nullable object filled in.
 */
export function exampleAt(route: string, status: number, path: readonly string[]): unknown {
  let schema = operation(route).responses[String(status)]?.content?.['application/json']?.schema as Schema;
  for (const key of path) {
    const choice = (schema.anyOf ?? schema.oneOf) as Schema[] | undefined;
    if (choice?.[0]) schema = choice[0];
    schema = (key === 'items' ? schema.items : (schema.properties as Record<string, Schema>)[key]) as Schema;
  }
  const choice = (schema.anyOf ?? schema.oneOf) as Schema[] | undefined;
  return example({ ...(choice?.[0] ?? schema), nullable: false });
}

/** The smallest value the schema accepts: required properties only, first choices, nulls where allowed. */
export function example(schema: Schema): unknown {
  // Nullable objects are filled in, so that fields laid over them keep the object's required keys.
  if (schema.nullable === true && schema.type !== 'object') return null;
  const choice = (schema.oneOf ?? schema.anyOf) as Schema[] | undefined;
  if (choice?.[0]) return example(choice[0]);
  if (Array.isArray(schema.allOf))
    return Object.assign({}, ...(schema.allOf as Schema[]).map((s) => example(s) as object));
  if (Array.isArray(schema.enum)) return schema.enum[0];
  switch (schema.type) {
    case 'object': {
      const properties = (schema.properties ?? {}) as Record<string, Schema>;
      const required = (schema.required ?? []) as string[];
      return Object.fromEntries(required.map((name) => [name, example(properties[name] ?? {})]));
    }
    case 'array':
      return [];
    case 'integer':
    case 'number':
      return 1;
    case 'boolean':
      return false;
    case 'string':
      return exampleString(schema.format as string | undefined);
    default:
      return null;
  }
}

function exampleString(format: string | undefined): string {
  if (format === 'uri' || format === 'uri-template') return 'https://github.example/x';
  if (format === 'date-time') return '2026-11-25T00:00:00Z';
  if (format === 'email') return 'someone@example.org';
  return 'x';
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `overlay` laid over `base`: objects merge key by key, anything else replaces. */
function deepMerge(base: unknown, overlay: unknown): unknown {
  if (!isPlainObject(base) || !isPlainObject(overlay)) return overlay;
  const merged: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(overlay)) merged[key] = deepMerge(base[key], value);
  return merged;
}

/**
 * A value shaped as `route` documents for `status` (the item shape for list responses), with
 * `fields` laid over the schema's smallest example.
 */
export function shaped(
  route: string,
  status: number,
  fields: Record<string, unknown>,
): Record<string, unknown> {
  const schema = operation(route).responses[String(status)]?.content?.['application/json']?.schema;
  if (!schema) throw new Error(`${route} has no JSON response for ${status}`);
  const base = example(schema.type === 'array' ? (schema.items as Schema) : schema);
  return deepMerge(base, fields) as Record<string, unknown>;
}
