import type Ajv from 'ajv';
import type { ErrorObject, ValidateFunction } from 'ajv';

/** One broken rule: which field, the value it has, and the rule it breaks. */
export interface Problem {
  /** Prop path, such as `maxBytes` or `subjects[2]`. */
  readonly field: string;
  /** The offending value, already rendered for people (`3GiB`, `"a..b"`). */
  readonly value: string;
  /** What is wrong and what is allowed, such as `exceeds the store limit 2GiB`. */
  readonly rule: string;
}

/** Renders a problem as one line: `maxBytes 3GiB exceeds the store limit 2GiB`. */
export function formatProblem(problem: Problem): string {
  return `${problem.field} ${problem.value} ${problem.rule}`;
}

/** Renders any prop value for an error message: strings quoted, objects as JSON. */
export function showValue(value: unknown): string {
  if (value === undefined) return '(unset)';
  if (typeof value === 'object' && value !== null && typeof (value as any).toMilliseconds === 'function') {
    return `Duration(${(value as any).toMilliseconds()}ms)`;
  }
  if (typeof value === 'object' && value !== null && typeof (value as any).asString === 'function') {
    return `Size(${(value as any).asString()})`;
  }
  return JSON.stringify(value) ?? String(value);
}

/** A schema's validator: compiled on its first call, with every error collected. */
export interface SchemaValidator<T = unknown> {
  (data: unknown): data is T;
  /** The errors of the last call; none when it passed. */
  readonly errors?: ErrorObject[] | null;
}

let shared: Ajv | undefined;

/**
 * The one ajv, made on first use. Our schemas are constants that the tests compile, and strict mode
 * refuses unknown keywords and keyword values of the wrong type, so ajv does not also compile the
 * meta-schema to check them on every load.
 */
function ajv(): Ajv {
  if (shared === undefined) {
    // Required here, not imported: loading ajv is a tenth of the library's load, paid only once a schema is used.
    const { default: AjvClass } = require('ajv') as typeof import('ajv');
    // verbose: an error carries its schema, whose description says what a failed anyOf allows.
    shared = new AjvClass({ allErrors: true, strict: true, allowUnionTypes: true, validateSchema: false, verbose: true });
  }
  return shared;
}

/**
 * A validator of `schema` that compiles it on its first call, not at module load: an app
 * compiles only the schemas it uses (most never load a Tawon document or an existing store).
 */
export function compileSchema<T>(schema: object): SchemaValidator<T> {
  let compiled: ValidateFunction<T> | undefined;
  const validate = (data: unknown): data is T => (compiled ??= ajv().compile<T>(schema))(data);
  return Object.defineProperty(validate, 'errors', { get: () => compiled?.errors }) as SchemaValidator<T>;
}

/**
 * Validates `data` against a compiled schema and translates ajv's JSON-pointer errors
 * into prop paths (`/subjects/2` becomes `subjects[2]`), prefixed by `base`.
 */
export function schemaProblems(validate: SchemaValidator, data: unknown, base = ''): Problem[] {
  if (validate(data)) return [];
  return (validate.errors ?? []).filter(isLeafError).map((error) => {
    const pointer = error.keyword === 'additionalProperties'
      ? `${error.instancePath}/${error.params.additionalProperty}`
      : error.instancePath;
    const field = joinField(base, pointerToField(pointer));
    const rule = error.keyword === 'additionalProperties'
      ? 'is not a known property'
      : describeError(error);
    return { field: field || '(document)', value: showValue(valueAt(data, pointer)), rule };
  });
}

/** The top-level prop of a field path: `subjects` for `subjects[2]`, `storage` for `storage.size`. */
export function topLevelField(field: string): string {
  return field.split(/[.[]/)[0];
}

/**
 * Props without the fields that have problems: a broken field is reported once and then
 * treated as unset, so one synth still checks every other rule. A broken array element
 * removes the whole array; a broken nested field removes only that field, unless its prop is
 * one of `wholeProps` (an object that means nothing without each of its fields), which goes whole.
 */
export function withoutBrokenFields<T extends object>(props: T, problems: readonly Problem[], wholeProps: readonly string[] = []): T {
  let result: any = props;
  for (const problem of problems) {
    const path = problem.field.split('[')[0].split('.');
    result = withoutPath(result, wholeProps.includes(path[0]) ? [path[0]] : path);
  }
  return result as T;
}

function withoutPath(value: any, path: string[]): any {
  if (value === null || typeof value !== 'object' || !(path[0] in value)) return value;
  const [head, ...rest] = path;
  const copy = { ...value };
  if (rest.length === 0) delete copy[head];
  else copy[head] = withoutPath(value[head], rest);
  return copy;
}

/** ajv reports each failed `anyOf` branch and then the `anyOf` itself: keep the summary. */
function isLeafError(error: ErrorObject): boolean {
  return !error.schemaPath.includes('/anyOf/');
}

function describeError(error: ErrorObject): string {
  if (error.keyword === 'enum') return `must be one of ${(error.params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`;
  if (error.keyword === 'anyOf') {
    const allowed = error.parentSchema?.description;
    return typeof allowed === 'string' ? `must be ${allowed}` : 'must be a number, a string such as "10Gi" or "240h", or a cdk8s Size or Duration';
  }
  return error.message ?? 'is invalid';
}

function pointerToField(pointer: string): string {
  return pointer.split('/').slice(1).map(unescapePointer).reduce(
    (path, token) => (/^\d+$/.test(token) ? `${path}[${token}]` : joinField(path, token)), '');
}

function joinField(base: string, field: string): string {
  if (!base) return field;
  if (!field) return base;
  return field.startsWith('[') ? `${base}${field}` : `${base}.${field}`;
}

function unescapePointer(token: string): string {
  return token.replace(/~1/g, '/').replace(/~0/g, '~');
}

function valueAt(data: unknown, pointer: string): unknown {
  let current: any = data;
  for (const token of pointer.split('/').slice(1).map(unescapePointer)) {
    if (current === undefined || current === null) return undefined;
    current = current[token];
  }
  return current;
}
