import { Problem, showValue } from './problems';

/** The Kubernetes recommended labels every object of a store carries. */
export function storeLabels(storeName: string, component: 'stream-store' | 'stream-apply', version: string): Record<string, string> {
  return {
    'app.kubernetes.io/name': 'nats',
    'app.kubernetes.io/instance': storeName,
    'app.kubernetes.io/component': component,
    'app.kubernetes.io/version': version,
    'app.kubernetes.io/managed-by': 'jetstream-cdk8s',
  };
}

/** A label or annotation name, or a label value: alphanumeric at both ends, `-`, `_` and `.` between. */
const NAME_PART = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
/** A key prefix: a DNS subdomain. */
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const MAX_NAME = 63;
const MAX_PREFIX = 253;

/** Why `key` is not a valid label or annotation key (`[prefix/]name`), or undefined. */
export function metadataKeyProblem(key: string): string | undefined {
  const slash = key.lastIndexOf('/');
  const prefix = slash === -1 ? undefined : key.slice(0, slash);
  const name = key.slice(slash + 1);
  if (prefix !== undefined && (prefix.length > MAX_PREFIX || !DNS_SUBDOMAIN.test(prefix))) {
    return `has the prefix "${prefix}", which must be a DNS subdomain of at most ${MAX_PREFIX} characters`;
  }
  if (name.length === 0 || name.length > MAX_NAME || !NAME_PART.test(name)) {
    return `must be a name of 1 to ${MAX_NAME} letters, digits, "-", "_" and ".", starting and ending with a letter or digit (after an optional "prefix/")`;
  }
  return undefined;
}

/**
 * Every problem of user labels the API server would refuse, and of a label the store sets itself
 * (it would be silently replaced, and the selectors and migration check rely on it).
 */
export function labelProblems(labels: Readonly<Record<string, string>>, reserved: readonly string[]): Problem[] {
  const problems: Problem[] = [];
  for (const [key, value] of Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const keyProblem = reserved.includes(key) ? 'is set by the store itself' : metadataKeyProblem(key);
    if (keyProblem) problems.push({ field: `labels[${JSON.stringify(key)}]`, value: showValue(key), rule: keyProblem });
    if (value.length > MAX_NAME || (value !== '' && !NAME_PART.test(value))) {
      problems.push({
        field: `labels[${JSON.stringify(key)}]`, value: showValue(value),
        rule: `must be a label value: empty, or at most ${MAX_NAME} letters, digits, "-", "_" and ".", starting and ending with a letter or digit`,
      });
    }
  }
  return problems;
}

/** Every annotation key the API server would refuse (values are free text). */
export function annotationProblems(annotations: Readonly<Record<string, string>>): Problem[] {
  return Object.keys(annotations).sort().flatMap((key) => {
    const rule = metadataKeyProblem(key);
    return rule ? [{ field: `annotations[${JSON.stringify(key)}]`, value: showValue(key), rule }] : [];
  });
}

/** The label cdk8s-plus puts on every pod it templates: the construct path, which moves with the store. */
const CONSTRUCT_PATH_LABEL = 'cdk8s.io/metadata.addr';

/**
 * A rendered workload without the construct-path label on its pod template, so renaming a chart or
 * moving a store changes no pod template (which would roll every server) and no Job name.
 */
export function withoutConstructPathLabel<T extends { spec?: any }>(workload: T): T {
  const labels = workload.spec?.template?.metadata?.labels;
  if (labels) delete labels[CONSTRUCT_PATH_LABEL];
  return workload;
}
