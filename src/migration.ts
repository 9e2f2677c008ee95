import { isDeepStrictEqual } from 'util';
import { storedForm } from './stored-form';
import { parseSize } from './units';

/**
 * The StatefulSet spec fields Kubernetes lets an update change. The API server refuses a
 * change to any other spec field (volumeClaimTemplates, serviceName, selector,
 * podManagementPolicy, revisionHistoryLimit).
 */
const MUTABLE_SPEC_FIELDS: ReadonlySet<string> = new Set([
  'replicas', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy', 'minReadySeconds', 'ordinals',
]);

/** The environment variable, set to `1`, with which a user says a refused change is a planned migration. */
export const MIGRATING_VARIABLE = 'JETSTREAM_CDK8S_MIGRATING';
/** The app's command-line flag that does the same as {@link MIGRATING_VARIABLE}. */
export const MIGRATING_FLAG = '--migrating';

/** One difference between two versions of a StatefulSet that Kubernetes refuses to apply. */
export interface ImmutableChange {
  /** The file the new version is written to; set by {@link guardStatefulSet}. */
  readonly file?: string;
  /** `metadata.name` of the StatefulSet. */
  readonly name: string;
  /** `metadata.namespace` of the StatefulSet, when it has one. */
  readonly namespace?: string;
  /** Where the versions differ, such as `spec.volumeClaimTemplates[data].spec.resources.requests.storage`. */
  readonly field: string;
  /** The same place as keys, claim templates by name: `['spec', 'volumeClaimTemplates', 'data', 'spec', ...]`. */
  readonly path: readonly string[];
  /** The value before; `undefined` when it was not set. */
  readonly from: unknown;
  /** The value after; `undefined` when it is no longer set. */
  readonly to: unknown;
  /** Replicas of the running StatefulSet: its pods and volume claims are numbered 0 to replicas - 1. */
  readonly replicas: number;
}

/** What the migration guard says of one new StatefulSet: errors stop the synth, warnings do not. */
export interface GuardVerdict {
  readonly errors: string[];
  readonly warnings: string[];
}

/**
 * The changes from `previous` to `next` that Kubernetes refuses on a running StatefulSet.
 * Pure. StatefulSets are matched by name and namespace; one that is new or gone is not a change.
 *
 * @param previous objects as parsed from YAML (any kind), such as a committed dist/ file
 * @param next the same for the new synthesis
 * @returns one change per differing leaf value, claim templates matched by name, in field order
 */
export function immutableStatefulSetChanges(previous: readonly any[], next: readonly any[]): ImmutableChange[] {
  return matchedStatefulSets(previous, next).flatMap(([old, updated]) => {
    const { name, namespace } = old.metadata;
    // As the API server compares them: its defaults filled in, quantities by value, whatever
    // version wrote them (a template's null creation time is no value).
    const oldSpec = storedForm(old).spec ?? {};
    const newSpec = storedForm(updated).spec ?? {};
    for (const claim of [...(oldSpec.volumeClaimTemplates ?? []), ...(newSpec.volumeClaimTemplates ?? [])]) {
      if (claim?.metadata?.creationTimestamp === null) delete claim.metadata.creationTimestamp;
    }
    const fields = [...new Set([...Object.keys(oldSpec), ...Object.keys(newSpec)])]
      .filter((field) => !MUTABLE_SPEC_FIELDS.has(field))
      .sort();
    return fields
      .flatMap((field) => differences(oldSpec[field], newSpec[field], ['spec', field], `spec.${field}`))
      .map((difference) => ({
        name,
        ...(namespace !== undefined ? { namespace } : {}),
        ...difference,
        replicas: oldSpec.replicas ?? 1,
      }));
  });
}

/**
 * The commands that move one running StatefulSet to its new version, for every refused change
 * of it at once (one orphaning delete and one apply, however many fields changed). The README
 * section "Changing a running store" explains them.
 *
 * 1. `kubectl delete statefulset --cascade=orphan`: the pods and their volumes keep running;
 * 2. a changed selector: the pods get its labels, so the new StatefulSet adopts them instead of
 *    failing to create pods whose names are taken;
 * 3. a larger volume: each existing claim is patched before the apply, so the server never
 *    runs with a `max_file_store` its disk does not have yet;
 * 4. `kubectl apply` the file;
 * 5. a larger volume: a rolling restart remounts the volumes, for drivers that grow the
 *    filesystem only then.
 *
 * @param changes the refused changes of one StatefulSet, as {@link immutableStatefulSetChanges} gives them
 */
export function migrationSteps(changes: readonly ImmutableChange[]): string[] {
  if (changes.length === 0) return [];
  const { name, namespace, file, replicas } = changes[0];
  const ns = namespace !== undefined ? ` -n ${namespace}` : '';
  const pods = Array.from({ length: replicas }, (_, i) => `${name}-${i}`);
  const labels = changes
    .filter((c) => c.path[1] === 'selector' && c.path[2] === 'matchLabels' && c.path.length === 4 && c.to !== undefined)
    .map((c) => `${c.path[3]}=${String(c.to)}`);
  const grown = changes.filter(isVolumeGrowth);
  return [
    `kubectl delete statefulset ${name}${ns} --cascade=orphan`,
    ...(labels.length > 0 ? [`kubectl label pod ${pods.join(' ')}${ns} --overwrite ${labels.join(' ')}`] : []),
    ...grown.flatMap((c) => pods.map((_, i) => {
      const patch = JSON.stringify({ spec: { resources: { requests: { storage: c.to } } } });
      return `kubectl patch pvc ${c.path[2]}-${name}-${i}${ns} -p '${patch}'`;
    })),
    `kubectl apply -f ${file ?? 'dist/'}`,
    ...(grown.length > 0 ? [`kubectl rollout restart statefulset ${name}${ns}`] : []),
  ];
}

/**
 * The migration guard for one StatefulSet about to be written: a change Kubernetes refuses on the
 * running StatefulSet of the same name and namespace in `previous` is an error with its migration
 * steps, or, when the user says they are migrating, a warning with the same steps. A single server
 * becoming a cluster, or back, is an error even then. Pure: the caller reads the previous objects.
 *
 * @param previous the objects of the previous synthesis, any kind, from any file (a renamed chart moves its store)
 * @param next the new StatefulSet
 * @param file the file, as the user names it, that `next` is written to
 * @param migrating the user set `JETSTREAM_CDK8S_MIGRATING=1` (or passed `--migrating`)
 */
export function guardStatefulSet(previous: readonly any[], next: any, file: string, migrating: boolean): GuardVerdict {
  const resizes = clusterResizes(previous, [next]);
  if (resizes.length > 0) {
    // Not even when migrating: the steps below would strand the streams on the old disks.
    return { errors: resizes.map((resize) => describeResize(resize, file).join('\n')), warnings: [] };
  }
  const changes = immutableStatefulSetChanges(previous, [next]).map((change) => ({ ...change, file }));
  if (changes.length === 0) return { errors: [], warnings: [] };
  const details = describeMigration(changes);
  if (migrating) {
    return { errors: [], warnings: [['warning: written with StatefulSet changes Kubernetes refuses; migrate with these steps:', ...details].join('\n')] };
  }
  return {
    errors: [[
      'Kubernetes refuses these changes to the running StatefulSet (only replicas, template, updateStrategy,',
      'persistentVolumeClaimRetentionPolicy, minReadySeconds and ordinals of a StatefulSet spec may change):',
      ...details,
      `  To migrate with these steps, synthesize with ${MIGRATING_VARIABLE}=1 (npm run synth here, cdk8s synth in your app).`,
    ].join('\n')], warnings: [],
  };
}

/** A StatefulSet whose replicas cross between one server and a cluster. */
interface ClusterResize {
  readonly name: string;
  readonly namespace?: string;
  readonly from: number;
  readonly to: number;
}

/**
 * StatefulSets going from one server to a cluster or back. A single server's streams are not
 * taken into a cluster (they stay on its disk, unknown to the cluster), so this is a new store,
 * never an update. Pure.
 */
export function clusterResizes(previous: readonly any[], next: readonly any[]): ClusterResize[] {
  return matchedStatefulSets(previous, next).flatMap(([old, updated]) => {
    const from: number = old.spec?.replicas ?? 1;
    const to: number = updated.spec?.replicas ?? 1;
    if ((from === 1) === (to === 1)) return [];
    const { name, namespace } = old.metadata;
    return [{ name, ...(namespace !== undefined ? { namespace } : {}), from, to }];
  });
}

function describeResize(resize: ClusterResize, file: string): string[] {
  const { name, namespace, from, to } = resize;
  const ns = namespace !== undefined ? ` -n ${namespace}` : '';
  return [
    'a single server cannot become a cluster, nor a cluster a single server, in place:',
    `  StatefulSet ${namespace !== undefined ? `${namespace}/` : ''}${name} (${file}): replicas ${from} -> ${to}`,
    '    a single server\'s streams are not taken into a cluster, and a cluster\'s are not kept by one of its servers alone.',
    '    Deploy the new store under another name, move the streams (nats stream backup and restore, or streams that',
    '    source from the old store), then delete the old store. When the store holds nothing you need: delete it',
    `    (kubectl delete statefulset ${name}${ns}, then its claims data-${name}-*), then apply ${file}.`,
  ];
}

/** Each previous StatefulSet with its next version of the same name and namespace; new and gone ones are left out. */
function matchedStatefulSets(previous: readonly any[], next: readonly any[]): Array<[any, any]> {
  const nextByKey = new Map(statefulSets(next).map((s) => [identity(s), s]));
  return statefulSets(previous).flatMap((old): Array<[any, any]> => {
    const updated = nextByKey.get(identity(old));
    return updated === undefined ? [] : [[old, updated]];
  });
}

/** The StatefulSets among parsed objects. */
function statefulSets(objects: readonly any[]): any[] {
  return objects.filter((o) => o?.kind === 'StatefulSet' && typeof o.metadata?.name === 'string');
}

function identity(statefulSet: any): string {
  return `${statefulSet.metadata.namespace ?? ''}/${statefulSet.metadata.name}`;
}

/** A leaf where two values differ. */
interface Difference {
  readonly field: string;
  readonly path: readonly string[];
  readonly from: unknown;
  readonly to: unknown;
}

/** Every leaf where `from` and `to` differ; objects are walked key by key, claim templates by name. */
function differences(from: unknown, to: unknown, path: readonly string[], field: string): Difference[] {
  if (isDeepStrictEqual(from, to)) return [];
  if (isRecord(from) && isRecord(to)) {
    return [...new Set([...Object.keys(from), ...Object.keys(to)])].sort()
      .flatMap((key) => differences(from[key], to[key], [...path, key], `${field}${property(key)}`));
  }
  const fromNames = templateNames(from);
  const toNames = templateNames(to);
  if (fromNames && toNames && sameRelativeOrder(fromNames, toNames)) {
    // By name, so an added or removed claim template reads as just that; a reordering is a change of the whole list.
    const byName = (list: unknown, name: string) => (list as any[]).find((t) => t.metadata.name === name);
    return [...new Set([...fromNames, ...toNames])]
      .flatMap((name) => differences(byName(from, name), byName(to, name), [...path, name], `${field}[${name}]`));
  }
  return [{ field, path, from, to }];
}

/** The names of a list of volume claim templates, or undefined when `value` is not one with unique names. */
function templateNames(value: unknown): string[] | undefined {
  if (!Array.isArray(value)) return undefined;
  const names = value.map((item) => item?.metadata?.name);
  if (!names.every((n) => typeof n === 'string') || new Set(names).size !== names.length) return undefined;
  return names;
}

/** True when the names both lists hold come in the same order in each. */
function sameRelativeOrder(a: readonly string[], b: readonly string[]): boolean {
  const common = (list: readonly string[], other: readonly string[]) => list.filter((name) => other.includes(name));
  return isDeepStrictEqual(common(a, b), common(b, a));
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A key as it reads in a field path: `.storage`, or `["app.kubernetes.io/version"]`. */
function property(key: string): string {
  return /^[A-Za-z_][\w]*$/.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`;
}

/** A claim template's storage request that grew; Kubernetes can expand a claim but never shrink it. */
function isVolumeGrowth(change: ImmutableChange): boolean {
  const { path } = change;
  if (path[1] !== 'volumeClaimTemplates' || path.slice(3).join('.') !== 'spec.resources.requests.storage') return false;
  const from = bytes(change.from);
  const to = bytes(change.to);
  return from !== undefined && to !== undefined && to > from;
}

function bytes(quantity: unknown): number | undefined {
  if (typeof quantity !== 'string' && typeof quantity !== 'number') return undefined;
  try {
    return parseSize(quantity);
  } catch {
    return undefined;
  }
}

/** One StatefulSet's refused changes (`old -> new`) and its migration steps, as indented lines. */
function describeMigration(changes: readonly ImmutableChange[]): string[] {
  const { file, name, namespace } = changes[0];
  return [
    `  StatefulSet ${namespace !== undefined ? `${namespace}/` : ''}${name} (${file}):`,
    ...changes.map((c) => `    ${c.field}: ${show(c.from)} -> ${show(c.to)}`),
    '    migration steps:',
    ...migrationSteps(changes).map((step) => `      ${step}`),
  ];
}

function show(value: unknown): string {
  return value === undefined ? '(unset)' : JSON.stringify(value);
}
