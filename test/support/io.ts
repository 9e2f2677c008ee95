import { execFile } from 'child_process';
import * as http from 'http';
import * as https from 'https';
import * as os from 'os';
import * as path from 'path';
import { promisify } from 'util';

/** Small I/O helpers the server harnesses (nats-server, Kubernetes, certificates) share. */

const execFileAsync = promisify(execFile);
/** Upper bound on one openssl command. */
const OPENSSL_TIMEOUT_MS = 10_000;

/** An HTTP answer; status 0 when nothing answered. */
export interface HttpResult {
  readonly status: number;
  readonly body: string;
}

/** Where scripts/ensure-*.sh cache the servers and tools they build or fetch, by tool and version. */
export function cacheRoot(): string {
  return path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'jetstream-cdk8s');
}

/** GET over http or https with a timeout; never rejects. */
export function httpGet(url: string, timeoutMs: number, tls: https.RequestOptions = {}): Promise<HttpResult> {
  return new Promise((resolve) => {
    const client = url.startsWith('https:') ? https.get : http.get;
    // agent: false so no keep-alive socket outlives the test.
    const request = client(url, { ...tls, agent: false, timeout: timeoutMs }, (res) => {
      const chunks: string[] = [];
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: chunks.join('') }));
      res.on('error', () => resolve({ status: 0, body: '' }));
    });
    request.on('timeout', () => request.destroy(new Error('timeout')));
    request.on('error', () => resolve({ status: 0, body: '' }));
  });
}

/** Runs openssl; a failure names the subcommand and what openssl said. */
export async function openssl(args: string[]): Promise<void> {
  try {
    await execFileAsync('openssl', args, { timeout: OPENSSL_TIMEOUT_MS });
  } catch (error) {
    const { stderr, message } = error as { stderr?: string; message: string };
    throw new Error(`openssl ${args[0]} failed: ${stderr?.trim() || message}`);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** True when `promise` settles within `ms`; the timer is cleared either way so jest sees no open handle. */
export async function settledWithin(promise: Promise<void>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  try {
    return await Promise.race([promise.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
