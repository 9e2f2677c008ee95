import * as http from 'http';
import { JetStreamClient, KV, NatsConnection, connect } from 'nats';
import { describeNatsError } from '../apply/nats-io';
import { EventMessage, eventMessage, eventView, passesFilter } from './event-message';
import { eventsPath, watchEvents } from './event-watch';
import type { ForwarderOptions } from './forward-cli';
import { InvolvedObjects } from './involved-objects';
import { KubeApi } from './kube-api';
import { LeaseElection } from './lease';
import { ForwarderCounts, ForwarderGauges, renderMetrics, summaryLine, zeroCounts } from './metrics';
import { PositionRecord, positionKey } from './positions';
import { InFlightBudget, PublishWindow, PublishWindowHooks } from './publish-window';
import { ANY_ADDRESS } from './settings';
import { untilStopped } from './retry';

/** Time a publish may take before it counts as failed and is sent again. */
const PUBLISH_TIMEOUT_MS = 10_000;
/** How often each watch's position is written to the bucket. */
const CHECKPOINT_MS = 1_000;
/** How often the summary line is logged. */
const SUMMARY_MS = 60_000;
/** How long a stop waits for the acknowledgements in flight: with a position write after it, within the program's grace period. */
const DRAIN_MS = 8_000;
/** How long a stop waits for a position write in progress. */
const WRITE_WAIT_MS = 5_000;
/** How often a publish that keeps failing is logged again. */
const FAILURE_LOG_MS = 60_000;
/** How often a missing bucket is looked for again. */
const BUCKET_RETRY_MS = 5_000;

/**
 * Runs the forwarder until `stop` aborts: waits for the lease (with replicas), connects to NATS
 * (retrying for as long as it takes), then for every watched namespace (or all at once) lists and
 * watches the events from the position its bucket keeps, publishes each that passes the filters
 * with its involved object's labels, and writes the position every second once everything before
 * it is stored.
 *
 * @returns the exit code: 0 when stopped, 1 when the lease or the position was taken by another replica
 */
export async function runForwarder(options: ForwarderOptions, log: (line: string) => void, stop: AbortSignal): Promise<number> {
  const run = new AbortController();
  const end = () => run.abort();
  stop.addEventListener('abort', end, { once: true });
  let exitCode = 0;
  // Another replica forwards now: what this one still holds is its to send, and the position its to write.
  const abandoned = { value: false };
  const fail = (line: string) => {
    log(line);
    exitCode = 1;
    abandoned.value = true;
    end();
  };
  const counts = zeroCounts();
  const windows: PublishWindow[] = [];
  const budget = new InFlightBudget(options.maxInFlight);
  const kube = new KubeApi(options.kube);
  const lookupFailuresReported = new Set<string>();
  const objects = new InvolvedObjects(kube, new Map(options.enrich.map((kind) => [kind.kind, kind])), run.signal, {
    fetched: () => counts.lookups++,
    failed: (kind, path, status, message) => {
      counts.lookupFailures++;
      // One line per kind and answer: a missing permission or a wrong resource shows, routine deletions do not flood the log.
      const reported = `${kind} ${status}`;
      if (lookupFailuresReported.has(reported)) return;
      lookupFailuresReported.add(reported);
      log(`no labels for ${path}: ${message} (${status ?? 'no answer'}); further ${kind} lookups answered so are only counted`);
    },
  });
  const state = { leader: 0, connected: 0, lagSeconds: 0 };
  const gauges: ForwarderGauges = {
    inFlight: () => budget.used,
    cachedObjects: () => objects.size,
    leader: () => state.leader,
    natsConnected: () => state.connected,
    lagSeconds: () => state.lagSeconds,
    stalledSeconds: () => Math.max(0, ...windows.map((window) => (window.stalledSince === undefined ? 0 : (Date.now() - window.stalledSince) / 1000))),
  };
  const server = options.http ? await serveHttp(options.http, counts, gauges) : undefined;
  const summary = setInterval(() => log(summaryLine(counts, gauges)), SUMMARY_MS);
  const election = options.lease ? new LeaseElection(kube, options.lease.namespace, options.lease.name, options.lease.identity) : undefined;
  let nc: NatsConnection | undefined;
  try {
    if (election) {
      log(`competing for lease ${options.lease?.namespace}/${options.lease?.name} as ${options.lease?.identity}`);
      if (!(await election.acquire(run.signal, log))) return exitCode;
      log('leading: forwarding events');
      election.keep((reason) => fail(`lost the lease (${reason}): stopping`));
    }
    state.leader = 1;
    nc = await connectNats(options, log, run.signal);
    if (!nc) return exitCode;
    state.connected = 1;
    void watchConnection(nc, log, (connected) => (state.connected = connected));
    const js = nc.jetstream({ timeout: PUBLISH_TIMEOUT_MS });
    const bucket = await openBucket(js, options.resumeBucket, log, run.signal);
    if (!bucket) return exitCode;
    const publish = (message: EventMessage) => js.publish(message.subject, message.body, { msgID: message.msgId, timeout: PUBLISH_TIMEOUT_MS });
    const scopes = options.namespaces.length === 0 ? [''] : options.namespaces;
    await Promise.all(scopes.map((namespace) => forwardNamespace({
      options, namespace, kube, objects, bucket, publish, budget, counts, state, log, fail, abandoned, signal: run.signal,
      opened: (window) => windows.push(window),
    })));
    return exitCode;
  } finally {
    clearInterval(summary);
    stop.removeEventListener('abort', end);
    log(summaryLine(counts, gauges));
    await nc?.close().catch(() => undefined);
    await election?.release();
    kube.close();
    await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
  }
}

/** What one namespace's (or all namespaces') forwarding shares with the rest of the run. */
interface ForwardingContext {
  readonly options: ForwarderOptions;
  /** `""` for all namespaces. */
  readonly namespace: string;
  readonly kube: KubeApi;
  readonly objects: InvolvedObjects;
  readonly bucket: KV;
  readonly publish: (message: EventMessage) => Promise<{ duplicate: boolean }>;
  /** The bound on messages held, shared by every namespace's window. */
  readonly budget: InFlightBudget;
  readonly counts: ForwarderCounts;
  readonly state: { lagSeconds: number };
  readonly log: (line: string) => void;
  /** Stops the whole run with exit code 1, abandoning what is in flight. */
  readonly fail: (line: string) => void;
  /** Set once the run was failed: nothing more is sent or written. */
  readonly abandoned: { readonly value: boolean };
  readonly signal: AbortSignal;
  readonly opened: (window: PublishWindow) => void;
}

/** Lists and watches one scope's events from its stored position until the run stops, then stores what it can and writes the position. */
async function forwardNamespace(context: ForwardingContext): Promise<void> {
  const { options, namespace, counts, log, signal } = context;
  const scope = namespace === '' ? 'all namespaces' : `namespace ${namespace}`;
  const record = new PositionRecord(context.bucket, positionKey(namespace));
  const where = `${options.resumeBucket}/${record.key}`;
  if (!(await record.read(signal, (error) => log(`${scope}: cannot read the position ${where}: ${error}`)))) return;
  log(record.written === undefined
    ? `${scope}: no position yet: listing every event the API server keeps, then watching`
    : `${scope}: watching from resourceVersion ${record.written}`);
  const window = new PublishWindow(context.publish, context.budget, publishReports(scope, context), record.written);
  context.opened(window);
  const close = () => window.close();
  signal.addEventListener('abort', close, { once: true });
  const writePosition = async () => {
    if ((await record.write(window.committed)) === 'taken') context.fail(`${scope}: another forwarder wrote the position ${where}: stopping`);
  };
  const checkpoint = setInterval(() => void writePosition(), CHECKPOINT_MS);
  try {
    const watch = watchEvents(context.kube, eventsPath(options.api, namespace), record.written, {
      relisting: (reason) => {
        counts.relists++;
        log(`${scope}: ${reason}: listing every event again; Nats-Msg-Id drops those already stored`);
      },
      listed: (count, position) => log(`${scope}: listed ${count} events up to resourceVersion ${position}: watching`),
      rewatching: (reason, pauseMs) => {
        counts.rewatches++;
        if (pauseMs > 0) log(`${scope}: watching again in ${pauseMs} ms: ${reason}`);
      },
    }, signal);
    for await (const item of watch) {
      // Nothing read after a stop may move the position: what it passes would never be sent.
      if (signal.aborted) break;
      if (item.kind === 'position') {
        window.mark(item.position);
        continue;
      }
      counts.seen++;
      const event = eventView(options.api, item.object);
      if (!passesFilter(event, options.filter)) {
        counts.filtered++;
        if (item.position !== undefined) window.mark(item.position);
        continue;
      }
      const involved = await context.objects.lookup(event.involved);
      const message = eventMessage(options.subjectPrefix, options.api, item.object, involved, options.maxMessageBytes);
      // A listed event may be an hour old: only watched ones say how far behind the forwarder is.
      const timed = item.position === undefined ? { ...message, lastSeenMs: undefined } : message;
      if (!(await window.send(timed, item.position))) break;
    }
  } finally {
    signal.removeEventListener('abort', close);
    window.close();
    clearInterval(checkpoint);
    if (!context.abandoned.value) await Promise.race([window.drain(), new Promise((resolve) => setTimeout(resolve, DRAIN_MS).unref())]);
    window.stop();
    await record.settled(WRITE_WAIT_MS);
    if (!context.abandoned.value) await writePosition();
    log(`${scope}: stopped at resourceVersion ${record.written ?? '(none)'}`);
  }
}

/** How a namespace's publishing shows in the counts and the log: a pause once, then a line a minute while it lasts. */
function publishReports(scope: string, context: ForwardingContext): PublishWindowHooks {
  const { counts, log } = context;
  let paused = false;
  let loggedAt = 0;
  return {
    acknowledged: (message, ack) => {
      if (ack.duplicate) counts.duplicates++;
      else counts.published++;
      if (message.lastSeenMs !== undefined) context.state.lagSeconds = Math.max(0, (Date.now() - message.lastSeenMs) / 1000);
    },
    failed: (message, error, attempt) => {
      counts.publishFailures++;
      if (!paused) {
        log(`${scope}: publishing paused: ${describeNatsError(error)}; reading stops until NATS stores again, in order`);
        loggedAt = Date.now();
      } else if (Date.now() - loggedAt >= FAILURE_LOG_MS) {
        log(`${scope}: ${message.subject} (${message.msgId}) still not stored after ${attempt} attempts: ${describeNatsError(error)}`);
        loggedAt = Date.now();
      }
      paused = true;
    },
    resumed: () => {
      paused = false;
      log(`${scope}: publishing resumed`);
    },
  };
}

/** Connects for good: the client reconnects by itself from then on. Undefined when stopped first. */
async function connectNats(options: ForwarderOptions, log: (line: string) => void, signal: AbortSignal): Promise<NatsConnection | undefined> {
  const nc = await untilStopped(() => connect({
    servers: options.server, name: 'jetstream-events', inboxPrefix: options.inboxPrefix,
    user: options.auth.user, pass: options.auth.password, token: options.auth.token,
    ...(options.auth.caFile ? { tls: { caFile: options.auth.caFile } } : {}),
    maxReconnectAttempts: -1, reconnectTimeWait: 1_000, timeout: 5_000,
  }), (error) => log(`waiting for ${options.server}: ${describeNatsError(error)}`), signal, 250, 5_000);
  if (nc) log(`connected to ${options.server}`);
  return nc;
}

/** Logs the connection's losses and returns. */
async function watchConnection(nc: NatsConnection, log: (line: string) => void, connected: (value: number) => void): Promise<void> {
  for await (const status of nc.status()) {
    if (status.type === 'disconnect') {
      connected(0);
      log(`lost NATS at ${status.data}: reconnecting`);
    } else if (status.type === 'reconnect') {
      connected(1);
      log(`reconnected to NATS at ${status.data}`);
    }
  }
}

/** The positions bucket, once the store's apply Job has created it. Undefined when stopped first. */
function openBucket(js: JetStreamClient, name: string, log: (line: string) => void, signal: AbortSignal): Promise<KV | undefined> {
  return untilStopped(() => js.views.kv(name, { bindOnly: true }),
    (error) => log(`waiting for the key-value bucket "${name}" (the store's apply Job creates it): ${describeNatsError(error)}`), signal, BUCKET_RETRY_MS);
}

/** `/healthz` (the process answers) and `/metrics`. */
function serveHttp(listen: { host: string; port: number }, counts: ForwarderCounts, gauges: ForwarderGauges): Promise<http.Server> {
  const server = http.createServer((request, response) => {
    if (request.url === '/metrics') {
      response.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4' }).end(renderMetrics(counts, gauges));
    } else if (request.url === '/healthz') {
      response.writeHead(200, { 'Content-Type': 'text/plain' }).end('ok\n');
    } else {
      response.writeHead(404).end();
    }
  });
  const listening = (host: string) => new Promise<http.Server>((resolve, reject) => {
    server.once('error', reject);
    server.listen(listen.port, host, () => {
      server.off('error', reject);
      resolve(server);
    });
  });
  // Every address, IPv6 and IPv4, as a dual-stack or IPv6-only pod's probes come; IPv4 alone on a node without IPv6.
  return listening(listen.host).catch((error: NodeJS.ErrnoException) => {
    if (listen.host !== ANY_ADDRESS || (error.code !== 'EAFNOSUPPORT' && error.code !== 'EADDRNOTAVAIL')) throw error;
    return listening('0.0.0.0');
  });
}
