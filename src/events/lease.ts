import type { KubeApi } from './kube-api';
import { abortableSleep } from './retry';

/** How long a lease holds without renewal. */
export const LEASE_DURATION_S = 15;
/** A leader that could not renew for this long stops, before its lease runs out for the others. */
const RENEW_DEADLINE_MS = 10_000;
/** How often the leader renews, and a candidate tries again. */
const RETRY_MS = 2_000;
/** Bound on one request about the lease, so a hung renewal cannot outlast the deadline. */
const REQUEST_TIMEOUT_MS = 4_000;

/** A Lease's time: RFC 3339 with microseconds, as `metav1.MicroTime` reads it. */
export function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

/**
 * Leader election through a `coordination.k8s.io/v1` Lease, as client-go does it: the holder renews
 * it every 2 seconds; a candidate takes it over once it has seen it unchanged for its whole duration
 * (by its own clock, so clocks that disagree do not matter), with the Lease's resourceVersion making
 * every takeover one writer's. Two leaders at once (a paused process waking up) publish the same
 * messages with the same `Nats-Msg-Id`: the stream keeps one.
 */
export class LeaseElection {
  private lease: any;
  private observed?: { resourceVersion: string; at: number };
  private renewing?: NodeJS.Timeout;

  constructor(
    private readonly kube: KubeApi,
    private readonly namespace: string,
    private readonly name: string,
    private readonly identity: string,
  ) {}

  private get path(): string {
    return `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(this.namespace)}/leases/${encodeURIComponent(this.name)}`;
  }

  /** Resolves once this process holds the lease; false when `signal` aborted first. */
  public async acquire(signal: AbortSignal, log: (line: string) => void): Promise<boolean> {
    let reported = '';
    // Bounded by signal: every pass tries once and pauses.
    while (!signal.aborted) {
      try {
        if (await this.tryAcquire()) return true;
        const holder = String(this.lease?.spec?.holderIdentity ?? '');
        if (holder !== reported) log(`lease ${this.namespace}/${this.name} is held by ${holder}: waiting to take over`);
        reported = holder;
      } catch (error) {
        log(`lease ${this.namespace}/${this.name}: ${(error as Error).message}`);
      }
      await abortableSleep(RETRY_MS, signal);
    }
    return false;
  }

  /** Renews the lease until `release`; `lost` is called once, when it could not for too long or another holder took it. */
  public keep(lost: (reason: string) => void): void {
    let renewedAt = Date.now();
    let busy = false;
    let lastError = 'no answer';
    const give = (reason: string) => {
      if (!this.renewing) return;
      this.stop();
      lost(reason);
    };
    this.renewing = setInterval(() => {
      // Checked on every tick, a renewal in flight or not: a leader stops before its lease runs out for the others.
      if (Date.now() - renewedAt > RENEW_DEADLINE_MS) give(`could not renew the lease for ${RENEW_DEADLINE_MS / 1000}s: ${lastError}`);
      if (busy || !this.renewing) return;
      busy = true;
      this.tryAcquire().then((held) => {
        if (held) renewedAt = Date.now();
        else give(`the lease is held by ${this.lease?.spec?.holderIdentity}`);
      }, (error: Error) => {
        lastError = error.message;
      }).finally(() => {
        busy = false;
      });
    }, RETRY_MS);
  }

  /** Stops renewing and hands the lease over at once, so another replica need not wait for it to run out. */
  public async release(): Promise<void> {
    this.stop();
    if (this.lease?.spec?.holderIdentity !== this.identity) return;
    const released = { ...this.lease, spec: { ...this.lease.spec, holderIdentity: '', leaseDurationSeconds: 1, renewTime: microTime(Date.now()) } };
    await this.kube.request('PUT', this.path, released, REQUEST_TIMEOUT_MS).catch(() => undefined);
  }

  private stop(): void {
    if (this.renewing) clearInterval(this.renewing);
    this.renewing = undefined;
  }

  /** One try at holding the lease: create it, renew ours, or take over one unchanged for its duration. */
  private async tryAcquire(): Promise<boolean> {
    const now = Date.now();
    const current = await this.kube.request('GET', this.path, undefined, REQUEST_TIMEOUT_MS);
    if (current.status === 404) {
      const created = await this.kube.request('POST', this.path.slice(0, this.path.lastIndexOf('/')), {
        apiVersion: 'coordination.k8s.io/v1', kind: 'Lease',
        metadata: { name: this.name, namespace: this.namespace },
        spec: { holderIdentity: this.identity, leaseDurationSeconds: LEASE_DURATION_S, acquireTime: microTime(now), renewTime: microTime(now), leaseTransitions: 0 },
      }, REQUEST_TIMEOUT_MS);
      if (created.status === 409) return false;
      this.lease = this.succeeded(created, 'create');
      return true;
    }
    this.lease = this.succeeded(current, 'read');
    const spec = this.lease.spec ?? {};
    const resourceVersion = String(this.lease.metadata?.resourceVersion);
    if (this.observed?.resourceVersion !== resourceVersion) this.observed = { resourceVersion, at: now };
    const ours = spec.holderIdentity === this.identity;
    const free = !spec.holderIdentity || now - this.observed.at > (spec.leaseDurationSeconds ?? LEASE_DURATION_S) * 1000;
    if (!ours && !free) return false;
    const renewed = await this.kube.request('PUT', this.path, {
      ...this.lease,
      spec: {
        ...spec,
        holderIdentity: this.identity,
        leaseDurationSeconds: LEASE_DURATION_S,
        renewTime: microTime(now),
        ...(ours ? {} : { acquireTime: microTime(now), leaseTransitions: (spec.leaseTransitions ?? 0) + 1 }),
      },
    }, REQUEST_TIMEOUT_MS);
    // Another replica wrote it first: its turn.
    if (renewed.status === 409) return false;
    this.lease = this.succeeded(renewed, 'update');
    return true;
  }

  private succeeded(response: { status: number; body: any }, what: string): any {
    if (response.status >= 200 && response.status <= 299) return response.body;
    throw new Error(`cannot ${what} lease ${this.namespace}/${this.name}: ${response.body?.message ?? `HTTP ${response.status}`} (${response.status})`);
  }
}
