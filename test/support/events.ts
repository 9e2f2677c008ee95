import { ChildProcess, spawn } from 'child_process';
import * as fs from 'fs';
import * as https from 'https';
import * as path from 'path';
import { packageRoot } from '../../src/apply-program';
import { microTime } from '../../src/events/lease';
import { nodeOfImage } from './job-node';
import { KubernetesHandle } from './kubernetes';
import { httpGet, settledWithin, sleep } from './io';

/** The bundled program, as the package's bin and the pods run it; found from here in test/ and compiled in lib/test/ alike. */
export const PROGRAM = path.join(packageRoot(__dirname), 'lib', 'bundle', 'jetstream-apply.js');
/** Bound on one API request of the tests. */
const REQUEST_TIMEOUT_MS = 15_000;
/** Lines of a forwarder's output kept for assertions and failure messages. */
const LOG_LINES = 400;

/** Requests to the API server as its admin (`system:masters`), with the kubeconfig's client certificate. */
export class AdminApi {
  private readonly agent: https.Agent;

  constructor(private readonly kube: KubernetesHandle) {
    const config = JSON.parse(fs.readFileSync(kube.kubeconfig, 'utf8'));
    const user = config.users[0].user;
    this.agent = new https.Agent({
      keepAlive: true, maxSockets: 16, ca: fs.readFileSync(kube.caFile),
      cert: fs.readFileSync(user['client-certificate']), key: fs.readFileSync(user['client-key']),
    });
  }

  /** Sends `body` as JSON; throws unless the answer is 2xx. */
  request(method: string, urlPath: string, body?: unknown): Promise<any> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const request = https.request(`${this.kube.server}${urlPath}`, {
        method, agent: this.agent, timeout: REQUEST_TIMEOUT_MS,
        headers: payload === undefined ? {} : { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(payload) },
      }, (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          if ((response.statusCode ?? 0) >= 300) reject(new Error(`${method} ${urlPath}: ${response.statusCode} ${text.slice(0, 300)}`));
          else resolve(text === '' ? undefined : JSON.parse(text));
        });
      });
      request.on('timeout', () => request.destroy(new Error(`${method} ${urlPath} timed out`)));
      request.on('error', reject);
      request.end(payload);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

/** What an event created by {@link createEvents} is about. */
export interface EventTarget {
  readonly kind: string;
  readonly apiVersion: string;
  readonly namespace: string;
  readonly name: string;
  readonly uid?: string;
}

/**
 * Creates `count` events.k8s.io/v1 Events about `target` with `reason`, `concurrency` at a time;
 * resolves with their uids in creation order.
 */
export async function createEvents(
  api: AdminApi, target: EventTarget, reason: string, count: number, options: { concurrency?: number; type?: string } = {},
): Promise<string[]> {
  const uids: string[] = new Array(count);
  let next = 0;
  const worker = async () => {
    // Bounded by count: every pass takes the next index.
    for (let i = next++; i < count; i = next++) {
      const now = microTime(Date.now());
      const created = await api.request('POST', `/apis/events.k8s.io/v1/namespaces/${target.namespace}/events`, {
        apiVersion: 'events.k8s.io/v1', kind: 'Event',
        metadata: { generateName: `${target.name}-` },
        eventTime: now, reportingController: 'jetstream-cdk8s.test/events', reportingInstance: 'test',
        action: 'Testing', reason, type: options.type ?? 'Normal', note: `event ${i} of ${count}`,
        regarding: { kind: target.kind, apiVersion: target.apiVersion, namespace: target.namespace, name: target.name, uid: target.uid },
      });
      uids[i] = created.metadata.uid;
    }
  };
  await Promise.all(Array.from({ length: Math.min(options.concurrency ?? 16, count) }, worker));
  return uids;
}

/** A forwarder started as a process, as its pod runs it, on its image's Node. */
export class ForwarderProcess {
  readonly lines: string[] = [];
  private readonly child: ChildProcess;
  private readonly exited: Promise<number | null>;

  constructor(env: Record<string, string>, readonly metricsUrl: string) {
    this.child = spawn(nodeOfImage(), [PROGRAM, 'events', 'forward'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.exited = new Promise((resolve) => this.child.once('close', (code) => resolve(code)));
    for (const stream of [this.child.stdout, this.child.stderr]) {
      let partial = '';
      stream?.setEncoding('utf8').on('data', (chunk: string) => {
        const lines = (partial + chunk).split('\n');
        partial = lines.pop() ?? '';
        this.lines.push(...lines);
        if (this.lines.length > LOG_LINES) this.lines.splice(0, this.lines.length - LOG_LINES);
      });
    }
  }

  get pid(): number {
    return this.child.pid as number;
  }

  /** The value of one metric, `jetstream_events_<name>`; undefined while the endpoint does not answer. */
  async metric(name: string): Promise<number | undefined> {
    const res = await httpGet(this.metricsUrl, 2_000);
    const match = new RegExp(`^jetstream_events_${name} (\\S+)$`, 'm').exec(res.body);
    return match ? Number(match[1]) : undefined;
  }

  /** Resident memory of the process, in bytes, from /proc. */
  rssBytes(): number {
    const status = fs.readFileSync(`/proc/${this.pid}/status`, 'utf8');
    return Number(/^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1] ?? 0) * 1024;
  }

  /** Waits until a line matching `pattern` was printed; throws with the log after `timeoutMs`. */
  async waitForLine(pattern: RegExp, timeoutMs: number): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const line = this.lines.find((l) => pattern.test(l));
      if (line !== undefined) return line;
      await sleep(100);
    }
    throw new Error(`no line ${pattern} in ${timeoutMs} ms:\n${this.lines.join('\n')}`);
  }

  /** SIGTERM, as a pod stopping; resolves with the exit code. SIGKILL after 30 s. */
  async stop(): Promise<number | null> {
    this.child.kill('SIGTERM');
    if (!(await settledWithin(this.exited.then(() => undefined), 30_000))) this.child.kill('SIGKILL');
    return this.exited;
  }

  /** SIGKILL, as a crash or an OOM kill. */
  async kill(): Promise<void> {
    this.child.kill('SIGKILL');
    await this.exited;
  }

  /** The exit code, once it exited by itself. */
  exitCode(): Promise<number | null> {
    return this.exited;
  }
}
