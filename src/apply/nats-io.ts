import {
  ErrorCode, JSONCodec, JetStreamManager, NatsConnection, NatsError, StreamConfig, StreamInfo, connect,
} from 'nats';
import type { JetStreamStreamConfig } from '../stream-definition';
import { formatDuration } from '../units';
import { APPLY_INBOX_PREFIX } from './names';
import type { JetStreamConsumerConfig } from '../consumer-options';
import { compareVersions } from '../versions';
import { ServerConsumer } from './consumer-plan';
import { runPool } from './pool';
import { firstPageOffsets, followUpPages, listChange } from './list-pages';
import { normalizeServerConfig, normalizeServerConsumerConfig } from './normalize';
import { ServerStream } from './plan';

/** First pause between two attempts to reach the server; doubled after each failure. */
const FIRST_RETRY_MS = 250;
/** Longest pause between two attempts. */
const MAX_RETRY_MS = 5_000;
/** Shortest time an attempt is given, so the last one before the deadline can still succeed. */
const MIN_ATTEMPT_MS = 100;
/** Longest time an attempt is given, so a server that does not answer at all still shows in the log. */
const MAX_ATTEMPT_MS = 10_000;
/** A cluster without a meta leader does not answer at all: ask again soon rather than wait out a long timeout. */
const JETSTREAM_CHECK_MS = 2_000;
/** Time a JetStream API call may take: a clustered create waits for placement and a raft group. */
const API_TIMEOUT_MS = 20_000;
/** Most consumer lists asked for at once. */
const LIST_CONCURRENCY = 16;
/** How a client shows in the server's connection list, and the prefix of its reply inboxes (its user may read only those). */
export interface ClientIdentity {
  readonly name: string;
  readonly inboxPrefix: string;
}

/** The apply program: its user reads replies under its own prefix only. */
const APPLY_CLIENT: ClientIdentity = { name: 'jetstream-apply', inboxPrefix: APPLY_INBOX_PREFIX };

const codec = JSONCodec();

/** An open connection to a server whose JetStream answers. */
export interface JetStreamConnection {
  /** The server URL as given. */
  readonly url: string;
  /** The release of the server the client is connected to, such as "2.9.10". */
  readonly serverVersion: string;
  /** True when the server is part of a cluster (its INFO names one); a single server keeps streams of one replica only. */
  readonly clustered: boolean;
  /** How many streams the account held when the connection was made: the stream list asks for all its pages at once. */
  readonly streamCount: number;
  readonly nc: NatsConnection;
  readonly jsm: JetStreamManager;
}

/** How the program proves who it is, and which CA it trusts; all optional. */
export interface ConnectionAuth {
  readonly user?: string;
  readonly password?: string;
  readonly token?: string;
  /** PEM file of the CA that signed the server's certificate. */
  readonly caFile?: string;
}

/**
 * Connects to `url` and waits until its JetStream answers an account info request, retrying
 * with backoff (250ms doubling to 5s) until `waitMs` have passed, and logging each wait.
 *
 * The client does not reconnect: a server lost in the middle of a run fails the remaining
 * requests at once, and the Job's next attempt starts over, instead of every request timing out.
 *
 * @param log receives one line per failed attempt: `waiting for nats://...: connection refused (attempt 3)`
 * @throws Error naming the URL and the last failure once the deadline has passed
 */
export async function connectJetStream(
  url: string, waitMs: number, log: (line: string) => void, auth: ConnectionAuth = {}, client: ClientIdentity = APPLY_CLIENT,
): Promise<JetStreamConnection> {
  const deadline = Date.now() + waitMs;
  let nc: NatsConnection | undefined;
  let lastFailure = '';
  let pause = FIRST_RETRY_MS;
  let attempt = 1;
  // Bounded by the deadline: every pass either returns, or pauses, or leaves the loop.
  for (; ; attempt++) {
    const timeout = Math.min(MAX_ATTEMPT_MS, Math.max(MIN_ATTEMPT_MS, deadline - Date.now()));
    let waitingFor = url;
    try {
      if (!nc || nc.isClosed()) {
        nc = await connect({
          servers: url, name: client.name, reconnect: false, timeout, inboxPrefix: client.inboxPrefix,
          user: auth.user, pass: auth.password, token: auth.token,
          ...(auth.caFile ? { tls: { caFile: auth.caFile } } : {}),
        });
      }
      waitingFor = `JetStream at ${url}`;
      // In a cluster this fails until a meta leader is elected.
      const account = await (await nc.jetstreamManager({ checkAPI: false, timeout: Math.min(timeout, JETSTREAM_CHECK_MS) })).getAccountInfo();
      const jsm = await nc.jetstreamManager({ checkAPI: false, timeout: API_TIMEOUT_MS });
      return { url, serverVersion: nc.info?.version ?? '0.0.0', clustered: nc.info?.cluster !== undefined, streamCount: account.streams, nc, jsm };
    } catch (error) {
      lastFailure = `${waitingFor}: ${describeNatsError(error)}`;
    }
    const remaining = deadline - Date.now();
    if (remaining <= 0) break;
    log(`waiting for ${lastFailure} (attempt ${attempt})`);
    await sleep(Math.min(pause, remaining));
    pause = Math.min(pause * 2, MAX_RETRY_MS);
  }
  await nc?.close();
  throw new Error(`gave up after ${formatDuration(waitMs)} waiting for ${lastFailure} (${attempt} attempts)`);
}

/** A page of one of the server's lists (`$JS.API.STREAM.LIST`, `$JS.API.CONSUMER.LIST.<stream>`). */
interface ListPage {
  readonly total: number;
  readonly limit: number;
  /** In a cluster, what the server could not report (a stream or consumer without a leader). */
  readonly missing?: string[] | null;
}

/** How often a list that changed while it was read is read again before the run gives up. */
const LIST_READS = 3;

/**
 * Every entry of a paged list of the JetStream API, as one state of the server: its pages asked for
 * at once (see `list-pages.ts`), and read again when a stream or consumer created or deleted between
 * two pages shifted the others.
 *
 * @param key the field of a page holding its entries
 * @param nameOf an entry's name, unique in the list
 * @param expected how many entries the list should hold, when known beforehand
 */
async function listAll<T>(connection: JetStreamConnection, subject: string, key: string, nameOf: (entry: T) => string, expected = 0): Promise<T[]> {
  const page = (offset: number) => apiRequest<ListPage>(connection.nc, subject, { offset });
  let change: string | undefined;
  for (let read = 1; read <= LIST_READS; read++) {
    const asked = await Promise.all(firstPageOffsets(expected).map(page));
    const { kept, offsets } = followUpPages(asked.length, asked[0].limit, asked[0].total);
    const pages = [...asked.slice(0, kept), ...await Promise.all(offsets.map(page))];
    // What is missing from a list would look gone: a managed stream or consumer created again, or dropped from the record.
    const missing = pages.flatMap((p) => p.missing ?? []);
    if (missing.length > 0) throw new Error(`the server could not report ${missing.map((m) => JSON.stringify(m)).join(', ')} (a cluster electing leaders?); try again`);
    const entries = pages.flatMap((p) => ((p as unknown as Record<string, T[] | null>)[key] ?? []));
    change = listChange(pages.map((p) => p.total), entries.map(nameOf));
    if (change === undefined) return entries;
  }
  throw new Error(`the list changed while it was read, ${LIST_READS} times (last: ${change}); try again`);
}

/** Every stream on the server with its configuration, normalized for the diff, and its state. */
export async function readServerStreams(connection: JetStreamConnection): Promise<Map<string, ServerStream>> {
  try {
    const infos = await listAll<StreamInfo>(connection, '$JS.API.STREAM.LIST', 'streams', (info) => info.config.name, connection.streamCount);
    return new Map(infos.map((info) => [info.config.name, toServerStream(info)]));
  } catch (error) {
    throw new Error(`cannot list the streams of ${connection.url}: ${describeNatsError(error)}`);
  }
}

/** A consumer as the server's consumer list reports it. */
interface ConsumerInfoAnswer {
  readonly name: string;
  readonly config: Record<string, unknown>;
}

/** The consumers of each of `streams`, by stream and name, configurations normalized for the diff. */
export async function readServerConsumers(connection: JetStreamConnection, streams: readonly string[]): Promise<Map<string, Map<string, ServerConsumer>>> {
  const lists = new Map<string, Map<string, ServerConsumer>>();
  const failures: string[] = [];
  await runPool(streams, LIST_CONCURRENCY, async (stream) => {
    try {
      const infos = await listAll<ConsumerInfoAnswer>(connection, `$JS.API.CONSUMER.LIST.${stream}`, 'consumers', (info) => info.name);
      lists.set(stream, new Map(infos.map((info) => [info.name, { config: normalizeServerConsumerConfig(info.config) }])));
    } catch (error) {
      failures.push(`cannot list the consumers of stream "${stream}" on ${connection.url}: ${describeNatsError(error)}`);
    }
  });
  if (failures.length > 0) throw new Error(failures.sort().join('; '));
  return lists;
}

function toServerStream(info: StreamInfo): ServerStream {
  const { messages, bytes, first_seq, last_seq, num_subjects, consumer_count, first_ts, last_ts } = info.state;
  return {
    config: normalizeServerConfig(info.config as unknown as Record<string, unknown>),
    state: { messages, bytes, first_seq, last_seq, num_subjects, consumer_count, first_ts, last_ts },
  };
}

/** The writes a plan needs; each call is one JetStream API request. */
export interface PlanWriter {
  /** Creates the stream `config` describes; resolves to the configuration the server stored. */
  create(config: JetStreamStreamConfig): Promise<Record<string, unknown>>;
  /** Replaces the stream's whole configuration with `config`; resolves to the configuration the server stored. */
  update(config: JetStreamStreamConfig): Promise<Record<string, unknown>>;
  /** Deletes the stream and its messages. */
  delete(name: string): Promise<void>;
  /** Creates the durable consumer `config` describes on `stream`; resolves to the configuration the server stored. */
  createConsumer(stream: string, config: JetStreamConsumerConfig): Promise<Record<string, unknown>>;
  /** Replaces the consumer's whole configuration with `config`; resolves to the configuration the server stored. */
  updateConsumer(stream: string, config: JetStreamConsumerConfig): Promise<Record<string, unknown>>;
  /** Pauses the consumer until `until` (RFC 3339), or resumes it; resolves to the `pause_until` the server then keeps. */
  pauseConsumer(stream: string, name: string, until: string | undefined): Promise<{ pause_until?: string }>;
  /** Deletes the consumer and its delivery state. */
  deleteConsumer(stream: string, name: string): Promise<void>;
}

/**
 * Stream writes over a JetStream connection. Once the connection is lost, each write fails
 * saying so: the client reports the requests that were in flight as timed out.
 */
export function planWriter(connection: JetStreamConnection): PlanWriter {
  const { nc, jsm, url, serverVersion } = connection;
  // The durable API every release has; from 2.10 the action makes a create fail on an existing consumer and an update on a missing one.
  const consumerRequest = async (action: 'create' | 'update', stream: string, config: JetStreamConsumerConfig) => {
    const request = { stream_name: stream, config, ...(compareVersions(serverVersion, '2.10.0') >= 0 ? { action } : {}) };
    return (await apiRequest<ConfigAnswer>(nc, `$JS.API.CONSUMER.DURABLE.CREATE.${stream}.${config.durable_name}`, request)).config ?? {};
  };
  const send = async <T>(request: () => Promise<T>): Promise<T> => {
    try {
      return await request();
    } catch (error) {
      throw nc.isClosed() ? new Error(`lost the connection to ${url}`) : error;
    }
  };
  return {
    // A copy: the client adds keys to the configuration it is given.
    create: (config) => send(async () => (await jsm.streams.add({ ...config } as unknown as Partial<StreamConfig>)).config as unknown as Record<string, unknown>),
    // Not jsm.streams.update: it merges the given configuration into the server's current one
    // (one more request), so a setting removed from the definition, such as a description,
    // would stay. The API request itself replaces the configuration.
    update: (config) => send(async () => (await apiRequest<ConfigAnswer>(nc, `$JS.API.STREAM.UPDATE.${config.name}`, config)).config ?? {}),
    delete: (name) => send(async () => { await jsm.streams.delete(name); }),
    createConsumer: (stream, config) => send(() => consumerRequest('create', stream, config)),
    updateConsumer: (stream, config) => send(() => consumerRequest('update', stream, config)),
    pauseConsumer: (stream, name, until) => send(async () => {
      const answer = await apiRequest<{ paused?: boolean; pause_until?: string }>(nc, `$JS.API.CONSUMER.PAUSE.${stream}.${name}`, until === undefined ? {} : { pause_until: until });
      return answer.paused ? { pause_until: answer.pause_until } : {};
    }),
    deleteConsumer: (stream, name) => send(async () => { await jsm.consumers.delete(stream, name); }),
  };
}

/** The answer of a request that creates or changes something: what the server stored. */
interface ConfigAnswer {
  readonly config?: Record<string, unknown>;
}

/** One JetStream API request and its answer; an error answer is thrown as a {@link ServerRejection}. */
async function apiRequest<T>(nc: NatsConnection, subject: string, body: unknown): Promise<T> {
  const reply = await nc.request(subject, codec.encode(body), { timeout: API_TIMEOUT_MS });
  const answer = codec.decode(reply.data) as T & { error?: ApiError };
  if (answer.error) throw new ServerRejection(answer.error);
  return answer;
}

/** A JetStream API error as the server sends it. */
interface ApiError {
  readonly code: number;
  readonly err_code?: number;
  readonly description: string;
}

function describeApiError(error: ApiError): string {
  return `${error.description} (JetStream error ${error.err_code ?? error.code})`;
}

/** A JetStream API request the server answered with an error. */
class ServerRejection extends Error {
  constructor(error: ApiError) {
    super(describeApiError(error));
  }
}

/** True when the server answered a request with an error: unlike a timeout or a lost connection, nothing was done. */
export function isServerRejection(error: unknown): boolean {
  return error instanceof ServerRejection || (error as Partial<NatsError>).api_error !== undefined;
}

/** One line for a client or server error: the server's own words where there are some. */
export function describeNatsError(error: unknown): string {
  const natsError = error as Partial<NatsError>;
  if (natsError.api_error) return describeApiError(natsError.api_error);
  switch (natsError.code) {
    case ErrorCode.ConnectionRefused: return 'connection refused';
    case ErrorCode.ConnectionClosed: return 'connection closed';
    case ErrorCode.Timeout: return 'timed out';
    case ErrorCode.NoResponders: return 'no responders (JetStream is not enabled or not ready)';
    default: return error instanceof Error ? error.message : String(error);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
