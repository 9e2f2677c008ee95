import { ApiObject } from 'cdk8s';
import { IConstruct } from 'constructs';
import { afterRendering, sortKeysDeep } from './rendering';

/**
 * Objects as the API server stores them, for the fields cdk8s-plus renders otherwise: a second
 * `kubectl apply` then finds nothing to change, and server-side apply after client-side apply
 * finds no field whose value another manager holds differently. Pure, except for
 * {@link renderStoredForm}, which wraps an object's rendering.
 *
 * What differs, and why the API server stores it otherwise:
 * - quantities in another spelling (`4096Mi` is stored as `4Gi`, `1000m` as `1`);
 * - zero values of fields the API drops when empty (`hostNetwork: false`, `minReadySeconds: 0`, `externalIPs: []`);
 * - defaults filled in inside lists kubectl replaces whole (a claim template's `volumeMode` and
 *   `status`, a field reference's `apiVersion`, and before Kubernetes 1.33 a claim template's
 *   `creationTimestamp: null`).
 *
 * @param kubernetesVersion the version the object is applied to, such as `"1.28"`
 */
export function storedForm<T>(object: T, kubernetesVersion: string = LATEST_KUBERNETES): T {
  const copy = JSON.parse(JSON.stringify(object));
  const spec = copy?.spec;
  if (!spec) return copy;
  if (copy.kind === 'Service' && Array.isArray(spec.externalIPs) && spec.externalIPs.length === 0) delete spec.externalIPs;
  if (spec.minReadySeconds === 0) delete spec.minReadySeconds;
  if (spec.template?.spec) storedPodSpec(spec.template.spec);
  for (const claim of spec.volumeClaimTemplates ?? []) {
    // Kubernetes before 1.33 writes the template's zero creation time as null, and compares it.
    if (minorOf(kubernetesVersion) < 33) claim.metadata = sortKeysDeep({ creationTimestamp: null, ...claim.metadata });
    claim.spec = sortKeysDeep({ volumeMode: 'Filesystem', ...claim.spec });
    canonicalResources(claim.spec.resources);
    claim.status = { phase: 'Pending', ...claim.status };
  }
  return copy;
}

/**
 * The construct context key naming the Kubernetes version the app's output is applied to, such as
 * `'1.28'`: `app.node.setContext(KUBERNETES_VERSION_CONTEXT, '1.28')`. Only clusters before 1.33 need it.
 */
export const KUBERNETES_VERSION_CONTEXT = 'jetstream-cdk8s:kubernetesVersion';
/** Kubernetes 1.33 and newer store an object's zero creation time by leaving it out. */
const LATEST_KUBERNETES = '1.33';

/** The Kubernetes version the app targets, from {@link KUBERNETES_VERSION_CONTEXT}. */
export function targetKubernetes(scope: IConstruct): string {
  const version = scope.node.tryGetContext(KUBERNETES_VERSION_CONTEXT);
  if (version === undefined) return LATEST_KUBERNETES;
  if (typeof version !== 'string' || !/^1\.\d+(\.\d+)?$/.test(version)) {
    throw new Error(`context ${KUBERNETES_VERSION_CONTEXT} ${JSON.stringify(version)} must be a Kubernetes version such as "1.28"`);
  }
  return version;
}

/** Makes `apiObject` render in {@link storedForm} for the Kubernetes version its app targets. */
export function renderStoredForm(apiObject: ApiObject): void {
  afterRendering(apiObject, (json) => storedForm(json, targetKubernetes(apiObject)));
}

function minorOf(version: string): number {
  return Number(version.split('.')[1]);
}

function storedPodSpec(pod: any): void {
  if (pod.hostNetwork === false) delete pod.hostNetwork;
  for (const container of [...(pod.initContainers ?? []), ...(pod.containers ?? [])]) {
    canonicalResources(container.resources);
    for (const variable of container.env ?? []) {
      const fieldRef = variable.valueFrom?.fieldRef;
      if (fieldRef && fieldRef.apiVersion === undefined) variable.valueFrom.fieldRef = { apiVersion: 'v1', ...fieldRef };
    }
  }
}

function canonicalResources(resources: any): void {
  for (const group of [resources?.limits, resources?.requests]) {
    if (!group) continue;
    for (const [name, quantity] of Object.entries(group)) {
      if (typeof quantity === 'string') group[name] = canonicalQuantity(quantity);
    }
  }
}

const BINARY = ['', 'Ki', 'Mi', 'Gi', 'Ti', 'Pi', 'Ei'];
const DECIMAL = ['', 'k', 'M', 'G', 'T', 'P', 'E'];
const QUANTITY = /^(\d+)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$/;

/**
 * A whole-number Kubernetes quantity string in the API server's canonical spelling: the largest unit of
 * its own kind (binary or decimal) that divides it, so `4096Mi` is `4Gi`, `1000m` is `1` and
 * `1500m` stays. Other spellings (fractions, exponents) are returned as they are.
 */
export function canonicalQuantity(quantity: string): string {
  const match = QUANTITY.exec(quantity);
  if (!match) return quantity;
  if (/^0+$/.test(match[1])) return '0';
  const suffix = match[2] ?? '';
  const value = BigInt(match[1]);
  if (BINARY.includes(suffix) && suffix !== '') {
    let units = value * 1024n ** BigInt(BINARY.indexOf(suffix));
    let exponent = 0;
    while (units !== 0n && units % 1024n === 0n && exponent < BINARY.length - 1) {
      units /= 1024n;
      exponent++;
    }
    return `${units}${BINARY[exponent]}`;
  }
  // Decimal, in thousandths: "1500m" is 1500, "2k" is 2,000,000.
  let units = suffix === 'm' ? value : value * 1000n ** BigInt(DECIMAL.indexOf(suffix) + 1);
  let exponent = -1;
  while (units !== 0n && units % 1000n === 0n && exponent < DECIMAL.length - 1) {
    units /= 1000n;
    exponent++;
  }
  return `${units}${exponent === -1 ? 'm' : DECIMAL[exponent]}`;
}
