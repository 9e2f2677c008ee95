import { isDeepStrictEqual } from 'util';
import { parseAllDocuments } from 'yaml';
import { parseSize } from './units';

/**
 * The StatefulSet spec fields Kubernetes lets an update change. The API server refuses a
 * change to any other spec field (volumeClaimTemplates, serviceName, selector,
 * podManagementPolicy, revisionHistoryLimit).
 */
const MUTABLE_SPEC_FIELDS: ReadonlySet<string> = new Set([
  'replicas', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy', 'minReadySeconds', 'ordinals',
]);

/** The `npm run synth` flag with which a user says a refused change is a planned migration. */
export const MIGRATING_FLAG = '--migrating';
/** The environment variable that does the same as {@link MIGRATING_FLAG} when set to `1`. */
export const MIGRATING_VARIABLE = 'JETSTREAM_CDK8S_MIGRATING';

/** One difference between two versions of a StatefulSet that Kubernetes refuses to apply. */
export interface ImmutableChange {
  /** The file, under dist/, both versions are in; set by {@link decideSynth}. */
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

/** What `npm run synth` does with a new synthesis: write dist/ or not, and what to tell the user. */
export interface SynthDecision {
  readonly write: boolean;
  /** Lines for stderr: the refused changes and their migration steps; empty when there are none. */
  readonly messages: string[];
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
    const oldSpec = old.spec ?? {};
    const newSpec = updated.spec ?? {};
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
    `kubectl apply -f dist/${file ?? ''}`,
    ...(grown.length > 0 ? [`kubectl rollout restart statefulset ${name}${ns}`] : []),
  ];
}

/**
 * Decides whether `npm run synth` may replace dist/: not when a StatefulSet changes in a way
 * Kubernetes refuses, unless the user says they are migrating. Pure: the caller reads the files.
 *
 * @param previousFiles the committed dist/ files, by file name, as YAML text
 * @param nextFiles the new synthesis, by file name, as YAML text
 * @param migrating the user passed `--migrating` or set `JETSTREAM_CDK8S_MIGRATING=1`
 * @throws Error when a new file is not valid YAML (an unreadable committed file is only a warning)
 */
export function decideSynth(
  previousFiles: ReadonlyMap<string, string>, nextFiles: ReadonlyMap<string, string>, migrating: boolean,
): SynthDecision {
  const messages: string[] = [];
  // Every committed StatefulSet, whatever its file: a renamed chart moves its store to another file.
  const previous: any[] = [];
  for (const [file, text] of [...previousFiles].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    try {
      previous.push(...parseObjects(text));
    } catch (error) {
      // A broken committed file is not what runs in the cluster either: say so rather than block the fix.
      const reason = (error as Error).message.split('\n')[0];
      messages.push(`warning: dist/${file} is not valid YAML (${reason}); its StatefulSets were not compared`);
    }
  }
  const changes: ImmutableChange[] = [];
  const resizes: string[] = [];
  for (const file of [...nextFiles.keys()].sort()) {
    const next = parseObjects(nextFiles.get(file) as string);
    changes.push(...immutableStatefulSetChanges(previous, next).map((change) => ({ ...change, file })));
    resizes.push(...clusterResizes(previous, next).flatMap((resize) => describeResize(resize, file)));
  }
  if (resizes.length > 0) {
    // Not even with --migrating: the steps below would strand the streams on the old disks.
    return {
      write: false,
      messages: [...messages, 'error: dist/ was not written: a single server cannot become a cluster, nor a cluster a single server, in place:', ...resizes],
    };
  }
  if (changes.length === 0) return { write: true, messages };
  const details = groupByStatefulSet(changes).flatMap(describeMigration);
  if (migrating) {
    return {
      write: true,
      messages: [...messages, 'warning: dist/ was written with StatefulSet changes Kubernetes refuses; migrate each one with its steps:', ...details],
    };
  }
  return {
    write: false,
    messages: [
      ...messages,
      'error: dist/ was not written: Kubernetes refuses these StatefulSet changes (only replicas, template, updateStrategy,',
      'persistentVolumeClaimRetentionPolicy, minReadySeconds and ordinals of a StatefulSet spec may change):',
      ...details,
      `To migrate with these steps, write dist/ with: npm run synth -- ${MIGRATING_FLAG}   (or ${MIGRATING_VARIABLE}=1)`,
    ],
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
    `  StatefulSet ${namespace !== undefined ? `${namespace}/` : ''}${name} (dist/${file}): replicas ${from} -> ${to}`,
    '    a single server\'s streams are not taken into a cluster, and a cluster\'s are not kept by one of its servers alone.',
    '    Deploy the new store under another name, move the streams (nats stream backup and restore, or streams that',
    '    source from the old store), then delete the old store. When the store holds nothing you need: delete it',
    `    (kubectl delete statefulset ${name}${ns}, then its claims data-${name}-*), remove it from dist/ and synthesize again.`,
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

function groupByStatefulSet(changes: readonly ImmutableChange[]): ImmutableChange[][] {
  const groups = new Map<string, ImmutableChange[]>();
  for (const change of changes) {
    const key = `${change.file}\0${change.namespace ?? ''}\0${change.name}`;
    groups.set(key, [...(groups.get(key) ?? []), change]);
  }
  return [...groups.values()];
}

/** One StatefulSet's refused changes (`old -> new`) and its migration steps, as indented lines. */
function describeMigration(changes: readonly ImmutableChange[]): string[] {
  const { file, name, namespace } = changes[0];
  return [
    `  StatefulSet ${namespace !== undefined ? `${namespace}/` : ''}${name} (dist/${file}):`,
    ...changes.map((c) => `    ${c.field}: ${show(c.from)} -> ${show(c.to)}`),
    '    migration steps:',
    ...migrationSteps(changes).map((step) => `      ${step}`),
  ];
}

function show(value: unknown): string {
  return value === undefined ? '(unset)' : JSON.stringify(value);
}

/** The objects of a multi-document YAML text. */
function parseObjects(text: string): any[] {
  return parseAllDocuments(text).map((document) => {
    if (document.errors.length > 0) throw document.errors[0];
    return document.toJS();
  }).filter((object) => object !== null && object !== undefined);
}
