/**
 * Validates synthesized Kubernetes objects against the upstream OpenAPI schemas shipped (as
 * precompiled ajv validators) by the `kubernetes-models` package.
 */

/** An ajv error as kubernetes-models reports it (messages filled in by ajv-i18n). */
interface AjvError {
  instancePath: string;
  message?: string;
  keyword: string;
  params?: Record<string, unknown>;
}

/** A kubernetes-models resource class: static type meta plus the validate() that setValidateFunc installs. */
interface ModelClass {
  apiVersion?: string;
  kind?: string;
  prototype: { validate(this: unknown): void };
}

const API_VERSION = /^(?:[a-z0-9](?:[-a-z0-9.]*[a-z0-9])?\/)?v\d+(?:(?:alpha|beta)\d+)?$/;
const KIND = /^[A-Z][A-Za-z0-9]*$/;
const modelCache = new Map<string, ModelClass | undefined>();

/**
 * Validates one Kubernetes object (plain JSON as synthesized) and returns readable errors such as
 * `StatefulSet/events: /spec/template/spec/containers/0/ports/0/containerPort must be integer`;
 * empty when valid. An apiVersion/kind without a schema is an error, and so is a non-GA
 * (alpha/beta) apiVersion, because kubernetes-models also ships versions removed before 1.27.
 * Unknown fields are errors too, unlike in kubernetes-models itself.
 */
export function validateManifest(obj: any): string[] {
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) {
    return [`<manifest>: must be an object, got ${Array.isArray(obj) ? 'array' : obj === null ? 'null' : typeof obj}`];
  }
  const kind: unknown = obj.kind;
  const apiVersion: unknown = obj.apiVersion;
  const name = typeof obj.metadata?.name === 'string' ? obj.metadata.name : '<unnamed>';
  const label = `${typeof kind === 'string' && kind ? kind : '<no kind>'}/${name}`;
  if (typeof apiVersion !== 'string' || typeof kind !== 'string') {
    return [`${label}: apiVersion and kind must be strings`];
  }
  if (/(alpha|beta)\d+$/.test(apiVersion)) {
    return [`${label}: ${apiVersion} is not a GA API version; use a stable one (e.g. policy/v1, not policy/v1beta1)`];
  }
  const model = findModel(apiVersion, kind);
  if (!model) return [`${label}: unknown apiVersion/kind ${apiVersion} ${kind} (no schema in kubernetes-models)`];

  // A JSON round trip drops undefined (as YAML output would) and unfreezes, which the Proxy traps need.
  const data: unknown = JSON.parse(JSON.stringify(obj));
  const tracer = new ReadTracer();
  const errors: string[] = [];
  try {
    model.prototype.validate.call(tracer.wrap(data));
  } catch (err) {
    const ajvErrors = (err as { errors?: AjvError[] }).errors;
    if (!Array.isArray(ajvErrors)) throw err;
    for (const e of ajvErrors) errors.push(`${label}: ${e.instancePath || '/'} ${e.message ?? e.keyword}`);
  }
  // kubernetes-models' validators accept any extra property, so unknown fields are found by tracing which properties the validator reads.
  for (const field of tracer.unreadFields(data)) errors.push(`${label}: ${field} is not a known field`);
  return [...new Set(errors)];
}

/** Validates every object; errors of all objects, in order. */
export function validateManifests(objs: any[]): string[] {
  return objs.flatMap((obj) => validateManifest(obj));
}

/** The resource class for apiVersion/kind, e.g. `kubernetes-models/apps/v1/StatefulSet`; core v1 kinds live under `v1/`. */
function findModel(apiVersion: string, kind: string): ModelClass | undefined {
  // Patterns keep a crafted apiVersion/kind from requiring an arbitrary module path.
  if (!API_VERSION.test(apiVersion) || !KIND.test(kind)) return undefined;
  const modulePath = `kubernetes-models/${apiVersion}/${kind}`;
  if (modelCache.has(modulePath)) return modelCache.get(modulePath);
  let model: ModelClass | undefined;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const mod = require(modulePath) as Record<string, ModelClass | undefined>;
    const candidate = mod[kind];
    // Sub-types such as ServiceSpec have classes too, but no type meta: they are not resources.
    if (candidate && candidate.apiVersion === apiVersion && candidate.kind === kind) model = candidate;
  } catch (err) {
    if ((err as { code?: string }).code !== 'MODULE_NOT_FOUND') throw err;
  }
  modelCache.set(modulePath, model);
  return model;
}

/** What the validator did with one object. */
interface Trace {
  /** Property names it read (schema `properties` and `required` are read whether present or not). */
  read: Set<string>;
  /** It listed the keys: a map (`additionalProperties`), where every key is allowed. */
  enumerated: boolean;
}

/**
 * Wraps data in Proxies that record the reads of kubernetes-models' compiled validators.
 *
 * Those validators read every property their schema declares (`data.x === undefined || ...`) and
 * enumerate keys only for maps, so a key present in an object whose declared properties were read
 * but that was never read itself is a field the schema does not have. Objects whose schema is
 * free-form (no declared properties, e.g. FieldsV1) get no reads and are not judged.
 */
class ReadTracer {
  private readonly traces = new Map<object, Trace>();
  private readonly proxies = new WeakMap<object, object>();

  wrap(value: unknown): unknown {
    if (value === null || typeof value !== 'object') return value;
    const existing = this.proxies.get(value);
    if (existing) return existing;
    const trace: Trace = { read: new Set(), enumerated: false };
    this.traces.set(value, trace);
    const proxy = new Proxy(value, {
      get: (target, key, receiver) => {
        if (typeof key === 'string') trace.read.add(key);
        return this.wrap(Reflect.get(target, key, receiver));
      },
      has: (target, key) => {
        if (typeof key === 'string') trace.read.add(key);
        return Reflect.has(target, key);
      },
      ownKeys: (target) => {
        trace.enumerated = true;
        return Reflect.ownKeys(target);
      },
    });
    this.proxies.set(value, proxy);
    return proxy;
  }

  /** JSON pointers of the fields the validator never read, in document order. */
  unreadFields(data: unknown, pointer = ''): string[] {
    if (data === null || typeof data !== 'object') return [];
    if (Array.isArray(data)) return data.flatMap((item, i) => this.unreadFields(item, `${pointer}/${i}`));
    const trace = this.traces.get(data);
    if (!trace || (!trace.enumerated && trace.read.size === 0)) return [];
    const found: string[] = [];
    for (const [key, value] of Object.entries(data)) {
      const child = `${pointer}/${key.replace(/~/g, '~0').replace(/\//g, '~1')}`;
      if (trace.enumerated || trace.read.has(key)) found.push(...this.unreadFields(value, child));
      else found.push(child);
    }
    return found;
  }
}
