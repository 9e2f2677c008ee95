import { ChildProcess, spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { HttpResult, cacheRoot, httpGet, openssl, settledWithin, sleep } from './io';
import { freePort } from './ports';

/** The Kubernetes releases the tests apply manifests to; `scripts/ensure-kubernetes.sh` builds the same list. */
export const KUBERNETES_VERSIONS = ['1.28.15', '1.37.2'] as const;
/** The etcd release the script builds beside them. */
const ETCD_VERSION = '3.6.16';
/** Flux's kustomize-controller release the script builds, for {@link StartKubernetesOptions.kustomizeController}. */
export const KUSTOMIZE_CONTROLLER_VERSION = '1.9.6';

/** Lines of output kept per process for error messages. */
const LOG_TAIL_LINES = 80;
/** How long etcd may take to answer /health. */
const ETCD_READY_MS = 30_000;
/** How long kube-apiserver may take to answer /readyz: its post-start hooks bootstrap RBAC and priority levels. */
const APISERVER_READY_MS = 120_000;
/** How long kube-controller-manager may take to answer /healthz and create the `default` ServiceAccount. */
const CONTROLLERS_READY_MS = 90_000;
/** How long kustomize-controller may take to answer /readyz once its CRDs are installed. */
const KUSTOMIZE_CONTROLLER_READY_MS = 60_000;
/** How often startup polls a health endpoint. */
const POLL_MS = 250;
/** How long stop() lets a process shut down cleanly before SIGKILL. */
const STOP_GRACE_MS = 5_000;
/** Upper bound on waiting for a SIGKILLed process to be reaped. */
const KILL_WAIT_MS = 5_000;
/** Default bound on one kubectl run. */
const KUBECTL_TIMEOUT_MS = 60_000;
/** Upper bound on one health or API request. */
const HTTP_TIMEOUT_MS = 2_000;
/** Attempts at a start: freePort() releases its port, so another process can take it before ours binds. */
const PORT_RACE_ATTEMPTS = 3;


/** Paths of one version's binaries in the build cache. */
export interface KubernetesBinaries {
  readonly kubeApiserver: string;
  readonly kubeControllerManager: string;
  readonly kubectl: string;
  readonly etcd: string;
}

/**
 * Where `scripts/ensure-kubernetes.sh` put `version`'s binaries.
 *
 * @throws Error naming the missing files and the command that builds them
 */
export function kubernetesBinaries(version: string): KubernetesBinaries {
  const cache = cacheRoot();
  const kubernetes = path.join(cache, 'kubernetes', version);
  const binaries: KubernetesBinaries = {
    kubeApiserver: path.join(kubernetes, 'kube-apiserver'),
    kubeControllerManager: path.join(kubernetes, 'kube-controller-manager'),
    kubectl: path.join(kubernetes, 'kubectl'),
    etcd: path.join(cache, 'etcd', ETCD_VERSION, 'etcd'),
  };
  const missing = Object.values(binaries).filter((file) => !isExecutable(file));
  if (missing.length > 0) {
    throw new Error(`Kubernetes ${version} is not built (missing ${missing.join(', ')}): run bash scripts/ensure-kubernetes.sh`);
  }
  return binaries;
}

/** Flux's kustomize-controller in the build cache, and the CRDs it needs (Kustomization and the sources it watches). */
interface KustomizeControllerFiles {
  readonly binary: string;
  readonly crds: readonly string[];
}

function kustomizeControllerFiles(): KustomizeControllerFiles {
  const dir = path.join(cacheRoot(), 'kustomize-controller', KUSTOMIZE_CONTROLLER_VERSION);
  const binary = path.join(dir, 'kustomize-controller');
  const crdDir = path.join(dir, 'crds');
  const crds = fs.existsSync(crdDir) ? fs.readdirSync(crdDir).sort().map((name) => path.join(crdDir, name)) : [];
  if (!isExecutable(binary) || crds.length === 0) {
    throw new Error(`kustomize-controller ${KUSTOMIZE_CONTROLLER_VERSION} is not built (in ${dir}): run bash scripts/ensure-kubernetes.sh`);
  }
  return { binary, crds };
}

/** Options of {@link startKubernetes}. */
export interface StartKubernetesOptions {
  /** Also run kube-controller-manager, so StatefulSets, Jobs and namespaces get their pods, claims and ServiceAccounts. */
  readonly controllers?: boolean;
  /**
   * Also install Flux's Kustomization and GitRepository CRDs and run Flux's kustomize-controller,
   * which applies the manifests of a GitRepository's artifact as Flux does (see `test/support/flux.ts`).
   */
  readonly kustomizeController?: boolean;
}

/** What one kubectl run did. */
export interface KubectlResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Options of {@link KubernetesHandle.kubectl}. */
export interface KubectlOptions {
  /** Written to kubectl's stdin, for `-f -`. */
  readonly input?: string;
  /** Return a non-zero exit instead of throwing. */
  readonly allowFailure?: boolean;
  /** Kill kubectl and throw after this long (default 60 s). */
  readonly timeoutMs?: number;
}

/** A control plane started by {@link startKubernetes}. */
export interface KubernetesHandle {
  readonly version: string;
  /** A kubeconfig for a `system:masters` user, the context's namespace `default`. */
  readonly kubeconfig: string;
  /** `https://127.0.0.1:<port>`. */
  readonly server: string;
  /** The CA (PEM file) of the API server's certificate. */
  readonly caFile: string;
  /** etcd's client URL, `http://127.0.0.1:<port>`, for its JSON gateway (`/v3/kv/...`). */
  readonly etcdUrl: string;
  /** Runs this version's kubectl against the control plane; throws on a non-zero exit unless `allowFailure`. */
  kubectl(args: readonly string[], options?: KubectlOptions): Promise<KubectlResult>;
  /** Last lines of each process's output. */
  logTail(): string;
  /** Stops kube-apiserver (its watches end) and starts it again on the same port and etcd; resolves once `/readyz` answers. */
  restartApiserver(): Promise<void>;
  /** Stops kube-controller-manager, kube-apiserver and etcd, waits for them to exit and removes the temp dir. Idempotent. */
  stop(): Promise<void>;
}

/**
 * Starts etcd and kube-apiserver (and with `controllers`, kube-controller-manager) of `version` on
 * loopback ports with a fresh temp dir, and resolves once `/readyz` answers and the `default`
 * namespace (with controllers: its `default` ServiceAccount) exists. No kubelet and no scheduler:
 * pods stay Pending. On failure every process is stopped and the error carries their log tails.
 */
export async function startKubernetes(version: string, options: StartKubernetesOptions = {}): Promise<KubernetesHandle> {
  const binaries = kubernetesBinaries(version);
  let lastError: unknown;
  for (let attempt = 1; attempt <= PORT_RACE_ATTEMPTS; attempt++) {
    const cluster = new ControlPlane(version, binaries);
    try {
      await cluster.start(options.controllers ?? false);
      if (options.kustomizeController) await cluster.startKustomizeController();
      return cluster;
    } catch (error) {
      lastError = error;
      await cluster.stop();
      // Only a lost port race is worth another try; anything else would fail the same way.
      if (!/address already in use/.test(String(error))) break;
    }
  }
  throw lastError;
}

/** The certificate and key files one control plane uses, in its temp dir. */
interface Credentials {
  readonly caCert: string;
  readonly caKey: string;
  readonly servingCert: string;
  readonly servingKey: string;
  readonly adminCert: string;
  readonly adminKey: string;
  readonly serviceAccountKey: string;
  readonly serviceAccountPublicKey: string;
}

class ControlPlane implements KubernetesHandle {
  readonly kubeconfig: string;
  server = '';
  etcdUrl = '';
  private apiserver?: { member: ManagedProcess; args: string[] };
  private readonly root = fs.mkdtempSync(path.join(os.tmpdir(), 'kube-test-'));
  private readonly processes: ManagedProcess[] = [];
  private credentials?: Credentials;
  private stopping?: Promise<void>;

  constructor(readonly version: string, private readonly binaries: KubernetesBinaries) {
    this.kubeconfig = path.join(this.root, 'kubeconfig');
  }

  get caFile(): string {
    return (this.credentials as Credentials).caCert;
  }

  async restartApiserver(): Promise<void> {
    const { member, args } = this.apiserver as { member: ManagedProcess; args: string[] };
    await member.stop();
    this.processes.splice(this.processes.indexOf(member), 1);
    const restarted = this.launch('kube-apiserver', this.binaries.kubeApiserver, args);
    this.apiserver = { member: restarted, args };
    await this.waitFor(restarted, APISERVER_READY_MS, 'kube-apiserver /readyz after a restart', async () => (await this.api('/readyz')).status === 200);
  }

  async start(controllers: boolean): Promise<void> {
    const credentials = await makeCredentials(this.root);
    this.credentials = credentials;
    const etcdPort = await freePort();
    const etcdPeerPort = await freePort();
    const apiserverPort = await freePort();
    this.server = `https://127.0.0.1:${apiserverPort}`;
    this.etcdUrl = `http://127.0.0.1:${etcdPort}`;
    fs.writeFileSync(this.kubeconfig, kubeconfigText(this.server, credentials));

    const etcd = this.launch('etcd', this.binaries.etcd, [
      '--name=test', `--data-dir=${path.join(this.root, 'etcd')}`,
      `--listen-client-urls=http://127.0.0.1:${etcdPort}`, `--advertise-client-urls=http://127.0.0.1:${etcdPort}`,
      `--listen-peer-urls=http://127.0.0.1:${etcdPeerPort}`, `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeerPort}`,
      `--initial-cluster=test=http://127.0.0.1:${etcdPeerPort}`,
      // A throwaway store: fsync only slows the tests down.
      '--unsafe-no-fsync', '--log-level=warn',
    ]);
    await this.waitFor(etcd, ETCD_READY_MS, 'etcd /health', () => httpGet(`http://127.0.0.1:${etcdPort}/health`, HTTP_TIMEOUT_MS)
      .then((res) => res.status === 200 && res.body.includes('"health":"true"')));

    const apiserverArgs = [
      `--etcd-servers=http://127.0.0.1:${etcdPort}`,
      '--bind-address=127.0.0.1', '--advertise-address=127.0.0.1', `--secure-port=${apiserverPort}`,
      `--cert-dir=${path.join(this.root, 'apiserver')}`,
      `--tls-cert-file=${credentials.servingCert}`, `--tls-private-key-file=${credentials.servingKey}`,
      `--client-ca-file=${credentials.caCert}`, '--authorization-mode=RBAC',
      '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
      `--service-account-key-file=${credentials.serviceAccountPublicKey}`,
      `--service-account-signing-key-file=${credentials.serviceAccountKey}`,
      '--service-cluster-ip-range=10.0.0.0/24', '--profiling=false',
      // 1.37 refuses a loopback advertise address as an endpoint of the `kubernetes` Service; no test needs that Service.
      '--endpoint-reconciler-type=none',
    ];
    const apiserver = this.launch('kube-apiserver', this.binaries.kubeApiserver, apiserverArgs);
    this.apiserver = { member: apiserver, args: apiserverArgs };
    await this.waitFor(apiserver, APISERVER_READY_MS, 'kube-apiserver /readyz', async () => (await this.api('/readyz')).status === 200);

    if (!controllers) {
      await this.waitFor(apiserver, APISERVER_READY_MS, 'the default namespace', async () => (await this.api('/api/v1/namespaces/default')).status === 200);
      return;
    }
    const controllerManagerPort = await freePort();
    const controllerManager = this.launch('kube-controller-manager', this.binaries.kubeControllerManager, [
      `--kubeconfig=${this.kubeconfig}`, '--leader-elect=false', '--controllers=*',
      '--bind-address=127.0.0.1', `--secure-port=${controllerManagerPort}`, `--cert-dir=${path.join(this.root, 'controller-manager')}`,
      `--service-account-private-key-file=${credentials.serviceAccountKey}`, `--root-ca-file=${credentials.caCert}`,
      `--cluster-signing-cert-file=${credentials.caCert}`, `--cluster-signing-key-file=${credentials.caKey}`,
      '--profiling=false',
    ]);
    await this.waitFor(controllerManager, CONTROLLERS_READY_MS, 'kube-controller-manager /healthz', () =>
      httpGet(`https://127.0.0.1:${controllerManagerPort}/healthz`, HTTP_TIMEOUT_MS, { rejectUnauthorized: false }).then((res) => res.status === 200));
    await this.waitFor(controllerManager, CONTROLLERS_READY_MS, 'the default ServiceAccount', async () =>
      (await this.api('/api/v1/namespaces/default/serviceaccounts/default')).status === 200);
  }

  async startKustomizeController(): Promise<void> {
    const files = kustomizeControllerFiles();
    await this.kubectl(['apply', '--server-side', ...files.crds.flatMap((crd) => ['-f', crd])]);
    await this.kubectl(['wait', '--for=condition=Established', '--timeout=30s', '--all', 'crd']);
    const healthPort = await freePort();
    const metricsPort = await freePort();
    const controller = this.launch('kustomize-controller', files.binary, [
      `--health-addr=127.0.0.1:${healthPort}`, `--metrics-addr=127.0.0.1:${metricsPort}`,
      '--watch-all-namespaces=true', '--log-level=info', '--log-encoding=console',
    ], { KUBECONFIG: this.kubeconfig });
    await this.waitFor(controller, KUSTOMIZE_CONTROLLER_READY_MS, 'kustomize-controller /readyz', () =>
      httpGet(`http://127.0.0.1:${healthPort}/readyz`, HTTP_TIMEOUT_MS).then((res) => res.status === 200));
  }

  kubectl(args: readonly string[], options: KubectlOptions = {}): Promise<KubectlResult> {
    const timeoutMs = options.timeoutMs ?? KUBECTL_TIMEOUT_MS;
    const command = `kubectl ${args.join(' ')}`;
    return new Promise((resolve, reject) => {
      const child = spawn(this.binaries.kubectl, [`--kubeconfig=${this.kubeconfig}`, ...args], {
        stdio: ['pipe', 'pipe', 'pipe'],
        // HOME in the temp dir keeps kubectl's discovery cache out of the user's.
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: this.root },
      });
      const stdout: string[] = [];
      const stderr: string[] = [];
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => stdout.push(chunk));
      child.stderr.setEncoding('utf8').on('data', (chunk: string) => stderr.push(chunk));
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        child.kill('SIGKILL');
      }, timeoutMs);
      child.once('error', (error) => {
        clearTimeout(timer);
        reject(new Error(`${command}: ${error.message}`));
      });
      child.once('close', (code, signal) => {
        clearTimeout(timer);
        const result = { code: code ?? -1, stdout: stdout.join(''), stderr: stderr.join('') };
        if (timedOut) {
          reject(new Error(`${command} did not finish within ${timeoutMs} ms\n${result.stderr}`));
        } else if (result.code !== 0 && !options.allowFailure) {
          reject(new Error(`${command} exited ${code ?? signal}\n${result.stderr}${result.stdout}`));
        } else {
          resolve(result);
        }
      });
      child.stdin.end(options.input ?? '');
    });
  }

  logTail(): string {
    return this.processes.map((p) => `--- last ${LOG_TAIL_LINES} lines of ${p.name} ---\n${p.logTail()}`).join('\n');
  }

  stop(): Promise<void> {
    if (!this.stopping) {
      this.stopping = (async () => {
        const failures: unknown[] = [];
        // Reverse start order: the controllers and the API server need what started before them.
        for (const member of [...this.processes].reverse()) await member.stop().catch((error: unknown) => failures.push(error));
        fs.rmSync(this.root, { recursive: true, force: true });
        if (failures.length > 0) throw failures[0];
      })();
    }
    return this.stopping;
  }

  private launch(name: string, binary: string, args: string[], env: Record<string, string> = {}): ManagedProcess {
    const member = new ManagedProcess(name, binary, args, { HOME: this.root, ...env });
    this.processes.push(member);
    return member;
  }

  /** A GET to the API server as the admin user. */
  private api(urlPath: string): Promise<HttpResult> {
    const credentials = this.credentials as Credentials;
    return httpGet(`${this.server}${urlPath}`, HTTP_TIMEOUT_MS, {
      ca: fs.readFileSync(credentials.caCert),
      cert: fs.readFileSync(credentials.adminCert),
      key: fs.readFileSync(credentials.adminKey),
    });
  }

  /** Polls `ready` until it is true; throws with every log tail when `member` exits or the time is up. */
  private async waitFor(member: ManagedProcess, timeoutMs: number, what: string, ready: () => Promise<boolean>): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline && !member.exited) {
      if (await ready()) return;
      await sleep(POLL_MS);
    }
    const reason = member.exited ? `${member.name} exited (${member.exitReason()})` : `not ready after ${timeoutMs} ms`;
    throw new Error(`Kubernetes ${this.version}: waiting for ${what}: ${reason}\n${this.logTail()}`);
  }
}

/** A child process with a ring buffer of its output and a promise settled when it is gone. */
class ManagedProcess {
  exited = false;
  private readonly child: ChildProcess;
  private readonly gone: Promise<void>;
  private readonly log: string[] = [];
  private stopping?: Promise<void>;

  constructor(readonly name: string, binary: string, args: string[], env: Record<string, string>) {
    this.child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env } });
    this.gone = new Promise<void>((resolve) => {
      this.child.once('close', () => {
        this.exited = true;
        resolve();
      });
      // 'error' without a pid means the spawn itself failed and no 'close' may follow.
      this.child.once('error', (error) => {
        this.push(`spawn failed: ${error.message}`);
        if (this.child.pid === undefined) {
          this.exited = true;
          resolve();
        }
      });
    });
    this.capture(this.child.stdout);
    this.capture(this.child.stderr);
  }

  logTail(): string {
    return this.log.join('\n');
  }

  exitReason(): string {
    return `code ${this.child.exitCode}, signal ${this.child.signalCode}`;
  }

  /** SIGTERM, SIGKILL after the grace period; waits until the process is gone. Idempotent. */
  stop(): Promise<void> {
    if (!this.stopping) {
      this.stopping = (async () => {
        if (this.exited) return;
        this.child.kill('SIGTERM');
        if (await settledWithin(this.gone, STOP_GRACE_MS)) return;
        this.child.kill('SIGKILL');
        if (!(await settledWithin(this.gone, KILL_WAIT_MS))) {
          throw new Error(`${this.name} pid ${this.child.pid} did not exit after SIGKILL`);
        }
      })();
    }
    return this.stopping;
  }

  private capture(stream: NodeJS.ReadableStream | null): void {
    if (!stream) return;
    let partial = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      const lines = (partial + chunk).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) this.push(line);
    });
    stream.on('end', () => {
      if (partial) this.push(partial);
    });
  }

  private push(line: string): void {
    this.log.push(line);
    if (this.log.length > LOG_TAIL_LINES) this.log.splice(0, this.log.length - LOG_TAIL_LINES);
  }
}

/**
 * A CA that signs the API server's serving certificate and the admin's client certificate (group
 * `system:masters`, which RBAC lets do everything), and a service-account signing key. EC P-256,
 * one day of validity.
 */
async function makeCredentials(root: string): Promise<Credentials> {
  const dir = path.join(root, 'pki');
  fs.mkdirSync(dir);
  const file = (name: string) => path.join(dir, name);
  const newKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  await openssl(['req', '-x509', ...newKey, '-days', '1', '-subj', '/CN=jetstream-cdk8s test kubernetes CA',
    '-keyout', file('ca.key'), '-out', file('ca.crt'),
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  const issue = async (name: string, subject: string, extensions: string[]) => {
    fs.writeFileSync(file(`${name}.ext`), ['keyUsage=critical,digitalSignature,keyEncipherment', ...extensions].join('\n') + '\n');
    await openssl(['req', '-new', ...newKey, '-subj', subject, '-keyout', file(`${name}.key`), '-out', file(`${name}.csr`)]);
    await openssl(['x509', '-req', '-in', file(`${name}.csr`), '-CA', file('ca.crt'), '-CAkey', file('ca.key'), '-CAcreateserial',
      '-days', '1', '-extfile', file(`${name}.ext`), '-out', file(`${name}.crt`)]);
  };
  await issue('serving', '/CN=kube-apiserver', [
    'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes.default.svc', 'extendedKeyUsage=serverAuth']);
  await issue('admin', '/O=system:masters/CN=admin', ['extendedKeyUsage=clientAuth']);
  await openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', file('service-account.key')]);
  await openssl(['pkey', '-in', file('service-account.key'), '-pubout', '-out', file('service-account.pub')]);
  return {
    caCert: file('ca.crt'),
    caKey: file('ca.key'),
    servingCert: file('serving.crt'),
    servingKey: file('serving.key'),
    adminCert: file('admin.crt'),
    adminKey: file('admin.key'),
    serviceAccountKey: file('service-account.key'),
    serviceAccountPublicKey: file('service-account.pub'),
  };
}

function kubeconfigText(server: string, credentials: Credentials): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'test', cluster: { server, 'certificate-authority': credentials.caCert } }],
    users: [{ name: 'admin', user: { 'client-certificate': credentials.adminCert, 'client-key': credentials.adminKey } }],
    contexts: [{ name: 'test', context: { cluster: 'test', user: 'admin', namespace: 'default' } }],
    'current-context': 'test',
  }, null, 2);
}

function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Changed lines shown per object when a kubectl diff is not empty: the program ConfigMap alone is thousands of lines. */
const DIFF_LINES_SHOWN = 12;
/** Longest diff line shown. */
const DIFF_LINE_CHARS = 160;

/** The resource kubectl get takes for an object's kind: `configmap`, `statefulset.apps`. */
export function kubectlResource(object: any): string {
  const group = String(object.apiVersion).includes('/') ? `.${String(object.apiVersion).split('/')[0]}` : '';
  return `${String(object.kind).toLowerCase()}${group}`;
}

/** How kubectl names an object in its output: `statefulset.apps/events`, `configmap/events-config`. */
export function kubectlReference(object: any): string {
  return `${kubectlResource(object)}/${object.metadata.name}`;
}

/** Options of {@link serverObjects}. */
export interface ServerObjectsOptions {
  /** Keep `metadata.managedFields`, which kubectl leaves out unless asked. */
  readonly managedFields?: boolean;
  /** Bound on the kubectl run (default 60 s). */
  readonly timeoutMs?: number;
}

/** The server's copy of every kind of object in `objects`, in `namespace`, by kubectl's name for it. */
export async function serverObjects(
  kube: KubernetesHandle, namespace: string, objects: readonly any[], options: ServerObjectsOptions = {},
): Promise<Map<string, any>> {
  const resources = [...new Set(objects.map(kubectlResource))].sort().join(',');
  const args = ['get', resources, '-n', namespace, '-o', 'json', ...(options.managedFields ? ['--show-managed-fields'] : [])];
  const listed = JSON.parse((await kube.kubectl(args, { timeoutMs: options.timeoutMs })).stdout);
  return new Map(listed.items.map((item: any) => [kubectlReference(item), item]));
}

/** kubectl apply's output lines, sorted, for comparing with what every object should report. */
export function outputLines(stdout: string): string[] {
  return stdout.split('\n').map((line) => line.trim()).filter((line) => line !== '').sort();
}

/** kubectl diff's output cut down to each changed object (as kubectl names it) and its first changed lines, shortened. */
export function diffSummary(stdout: string): string[] {
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
