import { execFile } from 'child_process';
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as http from 'http';
import { AddressInfo } from 'net';
import * as os from 'os';
import * as path from 'path';
import { promisify } from 'util';
import { sleep } from './io';
import { KubernetesHandle } from './kubernetes';

/**
 * Flux as the tests drive it: kustomize-controller (started by `startKubernetes` with
 * `kustomizeController`) applies the artifact of a GitRepository. No source-controller runs: as in
 * Flux's own controller tests, the test serves the artifact tarball itself and writes the
 * GitRepository's status, which is all kustomize-controller reads of it.
 */

const execFileAsync = promisify(execFile);
/** How often a Kustomization's status is read while waiting. */
const POLL_MS = 500;
/** Upper bound on tar packing one artifact. */
const TAR_TIMEOUT_MS = 60_000;

/** A tarball served by an {@link ArtifactServer}, as a GitRepository's status names it. */
export interface Artifact {
  readonly url: string;
  readonly revision: string;
  readonly digest: string;
  readonly size: number;
}

/** Serves artifact tarballs on a loopback port, as source-controller's storage does. */
export interface ArtifactServer {
  /** Packs every file of `dir` into a tarball served under a new URL; `revision` names it as Git would (`main@sha1:<40 hex>`). */
  publish(dir: string, revision: string): Promise<Artifact>;
  /** Closes the server and removes the tarballs. */
  stop(): Promise<void>;
}

export async function startArtifactServer(): Promise<ArtifactServer> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'flux-artifacts-'));
  const server = http.createServer((req, res) => {
    const file = path.join(root, path.basename(req.url ?? ''));
    if (req.method !== 'GET' || !fs.existsSync(file)) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'Content-Type': 'application/gzip', 'Content-Length': fs.statSync(file).size });
    fs.createReadStream(file).pipe(res);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  let published = 0;
  return {
    async publish(dir, revision) {
      const name = `artifact-${++published}.tar.gz`;
      const file = path.join(root, name);
      await execFileAsync('tar', ['-czf', file, '-C', dir, '.'], { timeout: TAR_TIMEOUT_MS });
      const bytes = fs.readFileSync(file);
      return { url: `${base}/${name}`, revision, digest: `sha256:${createHash('sha256').update(bytes).digest('hex')}`, size: bytes.length };
    },
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      fs.rmSync(root, { recursive: true, force: true });
    },
  };
}

/** A Git revision as source-controller writes it, made from `label` so each test step has its own. */
export function gitRevision(label: string): string {
  return `main@sha1:${createHash('sha1').update(label).digest('hex')}`;
}

/** Creates or updates the GitRepository `name` in `namespace` and sets its status to a ready `artifact`. */
export async function publishGitRepository(kube: KubernetesHandle, namespace: string, name: string, artifact: Artifact): Promise<void> {
  const repository = {
    apiVersion: 'source.toolkit.fluxcd.io/v1',
    kind: 'GitRepository',
    metadata: { name, namespace },
    spec: { url: 'https://git.example.com/platform/streams.git', interval: '10m', ref: { branch: 'main' } },
  };
  await kube.kubectl(['apply', '--server-side', '--field-manager=source-controller', '-f', '-'], { input: JSON.stringify(repository) });
  const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  const status = {
    observedGeneration: 1,
    conditions: [{
      type: 'Ready', status: 'True', reason: 'Succeeded', lastTransitionTime: now,
      message: `stored artifact for revision '${artifact.revision}'`, observedGeneration: 1,
    }],
    artifact: {
      path: path.basename(artifact.url), url: artifact.url, revision: artifact.revision, digest: artifact.digest,
      size: artifact.size, lastUpdateTime: now,
    },
  };
  await kube.kubectl(['patch', 'gitrepository', name, '-n', namespace, '--subresource=status', '--type=merge', '-p', JSON.stringify({ status })]);
}

/** Options of {@link applyKustomization}. */
export interface KustomizationOptions {
  /** The namespace Flux puts every object in (`spec.targetNamespace`); none for files whose objects name their own. */
  readonly targetNamespace?: string;
  /** Delete what a later revision no longer has (`spec.prune`). */
  readonly prune: boolean;
}

/** Creates or updates a Kustomization in `namespace` that applies the root of GitRepository `source`. */
export async function applyKustomization(kube: KubernetesHandle, namespace: string, name: string, source: string, options: KustomizationOptions): Promise<void> {
  const kustomization = {
    apiVersion: 'kustomize.toolkit.fluxcd.io/v1',
    kind: 'Kustomization',
    metadata: { name, namespace },
    spec: {
      interval: '10m', path: './', prune: options.prune, targetNamespace: options.targetNamespace,
      sourceRef: { kind: 'GitRepository', name: source },
      // No kubelet runs the pods, so Flux's health checks would never pass: apply only.
      wait: false, timeout: '5m',
    },
  };
  await kube.kubectl(['apply', '--server-side', '-f', '-'], { input: JSON.stringify(kustomization) });
}

/** What a Kustomization reported once it settled on a revision. */
export interface KustomizationResult {
  readonly ready: boolean;
  readonly reason: string;
  readonly message: string;
  readonly lastAppliedRevision?: string;
  /** Its inventory: `<namespace>_<name>_<group>_<kind>` for each object it applied. */
  readonly inventory: readonly string[];
}

/**
 * Waits until Kustomization `name` has reconciled `revision`: Ready true with that revision
 * applied, or Ready false for it (a failed apply). Throws at the deadline with the last status and
 * kustomize-controller's log.
 */
export async function kustomizationSettled(kube: KubernetesHandle, namespace: string, name: string, revision: string, timeoutMs: number): Promise<KustomizationResult> {
  const deadline = Date.now() + timeoutMs;
  let last: any;
  while (Date.now() < deadline) {
    const got = await kube.kubectl(['get', 'kustomization', name, '-n', namespace, '-o', 'json'], { allowFailure: true });
    if (got.code === 0) {
      last = JSON.parse(got.stdout);
      const ready = (last.status?.conditions ?? []).find((c: any) => c.type === 'Ready');
      // Applied, with its inventory written; or failed on this revision (a failed build leaves
      // observedGeneration at -1, so the attempted revision tells that it was tried).
      const applied = ready?.status === 'True' && last.status.lastAppliedRevision === revision && last.status.inventory !== undefined;
      const failed = ready?.status === 'False' && last.status.lastAttemptedRevision === revision;
      if (applied || failed) {
        return {
          ready: applied,
          reason: ready.reason,
          message: ready.message,
          lastAppliedRevision: last.status.lastAppliedRevision,
          inventory: (last.status.inventory?.entries ?? []).map((entry: any) => entry.id).sort(),
        };
      }
    }
    await sleep(POLL_MS);
  }
  throw new Error(`Kustomization ${namespace}/${name} did not settle on ${revision} within ${timeoutMs} ms; last status:\n`
    + `${JSON.stringify(last?.status ?? null, null, 2)}\n${kube.logTail()}`);
}
