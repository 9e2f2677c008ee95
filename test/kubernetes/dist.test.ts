import * as fs from 'fs';
import * as path from 'path';
import { parseAllDocuments } from 'yaml';
import { KUBERNETES_VERSIONS, KubernetesHandle, startKubernetes } from '../support/kubernetes';

const DIST = path.join(__dirname, '..', '..', 'dist');
/** How long the controllers get to create a file's pods and claims. */
const CONTROLLERS_WAIT_MS = 60_000;
const POLL_MS = 500;
/** Changed lines shown per object when a diff is not empty: the program ConfigMap alone is thousands of lines. */
const DIFF_LINES_SHOWN = 12;
/** Longest diff line shown. */
const DIFF_LINE_CHARS = 160;

/** A dist/ file, its objects, and the namespace each object lands in. */
interface DistFile {
  readonly name: string;
  readonly file: string;
  readonly objects: readonly any[];
  /** `-n <namespace>` when no object names one, so two files' objects cannot collide in `default`. */
  readonly namespaceArgs: readonly string[];
  /** Namespaces the objects land in that the file does not declare itself. */
  readonly namespaces: readonly string[];
  namespaceOf(object: any): string;
}

function loadDistFile(name: string): DistFile {
  const file = path.join(DIST, name);
  const objects = parseAllDocuments(fs.readFileSync(file, 'utf8')).map((document) => {
    if (document.errors.length > 0) throw new Error(`dist/${name}: ${document.errors[0].message}`);
    return document.toJS();
  }).filter((object) => object !== null && object !== undefined);
  const named = new Set(objects.map((o) => o.metadata?.namespace).filter((ns): ns is string => typeof ns === 'string'));
  const fileNamespace = named.size === 0 ? `dist-${name.replace(/\.k8s\.yaml$|\.yaml$/, '').toLowerCase().replace(/[^a-z0-9-]/g, '-')}` : undefined;
  const namespaceOf = (object: any): string => object.metadata?.namespace ?? fileNamespace ?? 'default';
  const declared = new Set(objects.filter((o) => o.kind === 'Namespace').map((o) => o.metadata.name));
  return {
    name,
    file,
    objects,
    namespaceArgs: fileNamespace ? ['-n', fileNamespace] : [],
    namespaces: [...new Set(objects.map(namespaceOf))].filter((ns) => !declared.has(ns)).sort(),
    namespaceOf,
  };
}

/** How kubectl names an object in its output: `statefulset.apps/events`, `configmap/events-config`. */
function reference(object: any): string {
  const group = String(object.apiVersion).includes('/') ? `.${String(object.apiVersion).split('/')[0]}` : '';
  return `${String(object.kind).toLowerCase()}${group}/${object.metadata.name}`;
}

/** kubectl apply's output lines, sorted, for comparing with what every object should report. */
function outputLines(stdout: string): string[] {
  return stdout.split('\n').map((line) => line.trim()).filter((line) => line !== '').sort();
}

/** kubectl diff's output cut down to each changed object (as kubectl names it) and its first changed lines, shortened. */
function diffSummary(stdout: string): string[] {
  const summary: string[] = [];
  let changed = 0;
  const flushHidden = () => {
    if (changed > DIFF_LINES_SHOWN) summary.push(`  ... ${changed - DIFF_LINES_SHOWN} more changed lines`);
  };
  for (const line of stdout.split('\n')) {
    const header = /^diff -u -N \S*\/(\S+) /.exec(line);
    if (header) {
      flushHidden();
      summary.push(`${header[1]}:`);
      changed = 0;
    } else if (/^[-+]/.test(line) && !/^(---|\+\+\+) /.test(line) && ++changed <= DIFF_LINES_SHOWN) {
      summary.push(`  ${line.length > DIFF_LINE_CHARS ? `${line.slice(0, DIFF_LINE_CHARS)}...` : line}`);
    }
  }
  flushHidden();
  return summary;
}

/** The pods and claims a StatefulSet's controller creates without a kubelet, and the pod a Job's creates. */
function expectedChildren(object: any): { pods: string[]; claims: string[]; jobPods: string[] } {
  if (object.kind === 'Job') return { pods: [], claims: [], jobPods: [object.metadata.name] };
  if (object.kind !== 'StatefulSet') return { pods: [], claims: [], jobPods: [] };
  const { name } = object.metadata;
  const replicas: number = object.spec.replicas ?? 1;
  const first: number = object.spec.ordinals?.start ?? 0;
  // OrderedReady creates the next pod only once the previous one is Ready, which no pod becomes without a kubelet.
  const created = (object.spec.podManagementPolicy ?? 'OrderedReady') === 'OrderedReady' ? Math.min(replicas, 1) : replicas;
  const ordinals = Array.from({ length: created }, (_, i) => first + i);
  const templates: any[] = object.spec.volumeClaimTemplates ?? [];
  return {
    pods: ordinals.map((i) => `${name}-${i}`),
    claims: templates.flatMap((template) => ordinals.map((i) => `${template.metadata.name}-${name}-${i}`)),
    jobPods: [],
  };
}

const distFiles = fs.readdirSync(DIST).filter((name) => name.endsWith('.yaml')).sort();
if (distFiles.length === 0) throw new Error(`${DIST} holds no .yaml file: run npm run synth`);

describe.each(KUBERNETES_VERSIONS)('dist/ on Kubernetes %s', (version) => {
  let kube: KubernetesHandle;

  beforeAll(async () => {
    kube = await startKubernetes(version, { controllers: true });
  }, 240_000);

  afterAll(async () => {
    await kube?.stop();
  }, 60_000);

  describe.each(distFiles)('%s', (name) => {
    const dist = loadDistFile(name);
    const everyObject = (outcome: string) => dist.objects.map((o) => `${reference(o)} ${outcome}`).sort();

    beforeAll(async () => {
      for (const namespace of dist.namespaces) {
        const created = await kube.kubectl(['create', 'namespace', namespace], { allowFailure: true });
        if (created.code !== 0 && !created.stderr.includes('AlreadyExists')) {
          throw new Error(`dist/${name}: cannot create namespace ${namespace}: ${created.stderr}`);
        }
      }
    }, 60_000);

    test('kubectl apply creates every object', async () => {
      const applied = await kube.kubectl(['apply', ...dist.namespaceArgs, '-f', dist.file], { allowFailure: true });
      expect({ file: name, code: applied.code, stderr: applied.stderr, output: outputLines(applied.stdout) })
        .toEqual({ file: name, code: 0, stderr: '', output: everyObject('created') });
    }, 60_000);

    test('kubectl apply again leaves every object unchanged', async () => {
      const applied = await kube.kubectl(['apply', ...dist.namespaceArgs, '-f', dist.file], { allowFailure: true });
      // kubectl always re-sends a PodDisruptionBudget's selector (patch strategy "replace"), so it says "configured" for an unchanged one.
      const output = outputLines(applied.stdout).map((line) => line.replace(/^(poddisruptionbudget\.policy\/\S+) configured$/, '$1 unchanged'));
      expect({ file: name, code: applied.code, stderr: applied.stderr, output })
        .toEqual({ file: name, code: 0, stderr: '', output: everyObject('unchanged') });
    }, 60_000);

    test('kubectl diff finds nothing to change', async () => {
      const diff = await kube.kubectl(['diff', ...dist.namespaceArgs, '-f', dist.file], { allowFailure: true });
      expect({ file: name, code: diff.code, stderr: diff.stderr, diff: diffSummary(diff.stdout) })
        .toEqual({ file: name, code: 0, stderr: '', diff: [] });
    }, 60_000);

    test('kubectl apply --server-side applies every object', async () => {
      const applied = await kube.kubectl(['apply', '--server-side', ...dist.namespaceArgs, '-f', dist.file], { allowFailure: true });
      expect({ file: name, code: applied.code, stderr: applied.stderr, output: outputLines(applied.stdout) })
        .toEqual({ file: name, code: 0, stderr: '', output: everyObject('serverside-applied') });
    }, 60_000);

    test('kubectl diff --server-side finds nothing to change', async () => {
      const diff = await kube.kubectl(['diff', '--server-side', ...dist.namespaceArgs, '-f', dist.file], { allowFailure: true });
      expect({ file: name, code: diff.code, stderr: diff.stderr, diff: diffSummary(diff.stdout) })
        .toEqual({ file: name, code: 0, stderr: '', diff: [] });
    }, 60_000);

    test('the controllers create every StatefulSet\'s pods and claims and every Job\'s pod', async () => {
      const wanted = dist.objects.map((object) => ({ object, namespace: dist.namespaceOf(object), ...expectedChildren(object) }))
        .filter((w) => w.pods.length + w.claims.length + w.jobPods.length > 0);
      const namespaces = [...new Set(wanted.map((w) => w.namespace))];
      const missing = async (): Promise<string[]> => {
        const present = new Set<string>();
        for (const namespace of namespaces) {
          const listed = JSON.parse((await kube.kubectl(['get', 'pods,persistentvolumeclaims', '-n', namespace, '-o', 'json'])).stdout);
          for (const item of listed.items) {
            present.add(`${namespace}/${item.kind}/${item.metadata.name}`);
            const jobName = item.kind === 'Pod' ? item.metadata.labels?.['job-name'] : undefined;
            if (jobName !== undefined) present.add(`${namespace}/JobPod/${jobName}`);
          }
        }
        return wanted.flatMap(({ object, namespace, pods, claims, jobPods }) => {
          const what = `dist/${name} ${object.kind} ${namespace}/${object.metadata.name}`;
          return [
            ...pods.filter((pod) => !present.has(`${namespace}/Pod/${pod}`)).map((pod) => `${what}: no Pod ${pod}`),
            ...claims.filter((claim) => !present.has(`${namespace}/PersistentVolumeClaim/${claim}`)).map((claim) => `${what}: no PersistentVolumeClaim ${claim}`),
            ...jobPods.filter((job) => !present.has(`${namespace}/JobPod/${job}`)).map((job) => `${what}: no Pod labelled job-name=${job}`),
          ];
        });
      };
      const deadline = Date.now() + CONTROLLERS_WAIT_MS;
      let absent = await missing();
      while (absent.length > 0 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, POLL_MS));
        absent = await missing();
      }
      if (absent.length > 0) {
        // The controllers' events say why a pod or claim was refused.
        const events = await Promise.all(namespaces.map((ns) => kube.kubectl(['get', 'events', '-n', ns], { allowFailure: true })));
        throw new Error(`after ${CONTROLLERS_WAIT_MS} ms:\n${absent.join('\n')}\n--- events ---\n${events.map((e) => e.stdout + e.stderr).join('\n')}`);
      }
    }, CONTROLLERS_WAIT_MS + 30_000);
  });
});
