import * as fs from 'fs';
import * as https from 'https';
import type { IncomingMessage } from 'http';

/** Where the API server is and how the forwarder proves who it is. */
export interface KubeConnection {
  /** `https://host:port`. */
  readonly server: string;
  /** A file holding the bearer token; read again as the kubelet rotates it. */
  readonly tokenFile: string;
  /** The CA (PEM) the API server's certificate is checked against. */
  readonly caFile: string;
}

/** What a pod finds: the `kubernetes` Service in its environment, its ServiceAccount's token and CA mounted. */
const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/** How long a token read from its file is used before the file is read again: the kubelet rotates it well before it expires. */
const TOKEN_REREAD_MS = 60_000;
/** Bound on a request that is not a watch. */
const REQUEST_TIMEOUT_MS = 15_000;
/** A watch asks the API server to end it after this long; the forwarder then watches again from where it was. */
export const WATCH_TIMEOUT_SECONDS = 300;
/** A watch silent this much longer than its timeout is a connection lost without notice. */
const WATCH_IDLE_GRACE_MS = 30_000;

/**
 * The API server a pod runs against, unless the environment names another (for a forwarder run
 * outside the cluster): `KUBERNETES_API_URL`, `KUBERNETES_TOKEN_FILE`, `KUBERNETES_CA_FILE`.
 */
export function kubeConnection(env: Readonly<Record<string, string | undefined>>): KubeConnection {
  const host = env.KUBERNETES_SERVICE_HOST;
  const inCluster = host ? `https://${host.includes(':') ? `[${host}]` : host}:${env.KUBERNETES_SERVICE_PORT || '443'}` : undefined;
  const server = env.KUBERNETES_API_URL || inCluster;
  if (!server) throw new Error('no API server: set KUBERNETES_API_URL, or run in a pod (KUBERNETES_SERVICE_HOST)');
  return {
    server: server.replace(/\/+$/, ''),
    tokenFile: env.KUBERNETES_TOKEN_FILE || `${SERVICE_ACCOUNT_DIR}/token`,
    caFile: env.KUBERNETES_CA_FILE || `${SERVICE_ACCOUNT_DIR}/ca.crt`,
  };
}

/** An answer of the API server other than success, with its `Status` reason and message when it sent one. */
export class KubeApiError extends Error {
  constructor(readonly status: number, readonly reason: string, message: string) {
    super(message);
    this.name = 'KubeApiError';
  }
}

/** A JSON answer. */
export interface KubeResponse<T> {
  readonly status: number;
  readonly body: T;
}

/** A small client of the Kubernetes API: JSON requests and watches over HTTPS with a bearer token. */
export class KubeApi {
  private readonly ca: Buffer;
  private readonly agent: https.Agent;
  private token?: { value: string; readAt: number };

  constructor(private readonly connection: KubeConnection) {
    this.ca = fs.readFileSync(connection.caFile);
    this.agent = new https.Agent({ keepAlive: true, ca: this.ca, maxSockets: 16 });
  }

  /** A request with a JSON answer; any status is returned, none thrown but a failure to get one (or `signal` aborting). */
  public async request<T = any>(method: string, path: string, body?: unknown, timeoutMs = REQUEST_TIMEOUT_MS, signal?: AbortSignal): Promise<KubeResponse<T>> {
    const response = await this.open(method, path, { agent: this.agent, timeoutMs, body, signal });
    return { status: response.statusCode ?? 0, body: parsedBody(await readText(response)) };
  }

  /** A request whose success is 2xx; anything else is a {@link KubeApiError}. */
  public async expect<T = any>(method: string, path: string, signal?: AbortSignal): Promise<T> {
    const response = await this.request<T>(method, path, undefined, REQUEST_TIMEOUT_MS, signal);
    if (response.status < 200 || response.status > 299) throw apiError(response.status, response.body, `${method} ${path}`);
    return response.body;
  }

  /**
   * The objects of a watch, one parsed line at a time; reading pauses while the caller does not
   * ask for the next one, and so does the API server's sending. Ends when the server ends the watch.
   *
   * @throws KubeApiError when the server refuses the watch (410 when its resourceVersion is too old)
   */
  public async *watch(path: string, signal: AbortSignal): AsyncGenerator<any> {
    const response = await this.open('GET', path, {
      agent: false, timeoutMs: WATCH_TIMEOUT_SECONDS * 1000 + WATCH_IDLE_GRACE_MS, signal,
    });
    if (response.statusCode !== 200) throw apiError(response.statusCode ?? 0, parsedBody(await readText(response)), `watch ${path}`);
    response.setEncoding('utf8');
    let partial = '';
    for await (const chunk of response) {
      const lines = (partial + chunk).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) if (line.trim() !== '') yield JSON.parse(line);
    }
  }

  /** Closes the kept-alive connections. */
  public close(): void {
    this.agent.destroy();
  }

  private open(method: string, path: string, options: { agent: https.Agent | false; timeoutMs: number; body?: unknown; signal?: AbortSignal }): Promise<IncomingMessage> {
    const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
    return new Promise((resolve, reject) => {
      const request = https.request(`${this.connection.server}${path}`, {
        method,
        agent: options.agent,
        ca: this.ca,
        signal: options.signal,
        headers: {
          'Authorization': `Bearer ${this.bearerToken()}`,
          'Accept': 'application/json',
          ...(payload === undefined ? {} : { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(payload) }),
        },
      }, resolve);
      request.setTimeout(options.timeoutMs, () => request.destroy(new Error(`no answer from ${this.connection.server} in ${options.timeoutMs / 1000}s`)));
      request.on('error', reject);
      request.end(payload);
    });
  }

  private bearerToken(): string {
    if (!this.token || Date.now() - this.token.readAt > TOKEN_REREAD_MS) {
      this.token = { value: fs.readFileSync(this.connection.tokenFile, 'utf8').trim(), readAt: Date.now() };
    }
    return this.token.value;
  }
}

function readText(response: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    response.on('data', (chunk: Buffer) => chunks.push(chunk));
    response.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    response.on('error', reject);
  });
}

/** An answer's JSON; an answer that is not JSON (a proxy's page) as the start of its text, for messages. */
function parsedBody(text: string): any {
  if (text === '') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return { message: text.slice(0, 200) };
  }
}

/** The error of a failed request: the status, and the API server's own message. */
export function apiError(status: number, body: any, what: string): KubeApiError {
  const message = typeof body?.message === 'string' ? body.message : `HTTP ${status}`;
  return new KubeApiError(status, String(body?.reason ?? ''), `${what}: ${message} (${status})`);
}
