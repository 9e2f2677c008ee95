import * as fs from 'fs';
import * as os from 'os';
import { DeliverPolicy, JsMsg, RetentionPolicy, StreamConfig } from 'nats';
import { checkSubject } from '../subjects';
import { formatBytesReadable } from '../units';
import { ApplyIO } from './apply';
import { StreamsDocument, parseStreamsDocuments } from './definitions';
import { ConnectionData, distDefinitionsFiles, readConnectionConfigMap, readDefinitionsFiles } from './definitions-files';
import { takeStoreLock } from './lock';
import { consumerOfKey } from './managed';
import { JetStreamConnection, connectJetStream, describeNatsError } from './nats-io';
import { LOCK_STREAM, OWNERSHIP_STREAM, readOwnership, readStoreStreams, writeOwnership } from './ownership';
import { PcapWriter } from './pcap';
import { StoreView, streamDetail, streamDetailLines, streamRows, streamTable } from './stream-listing';
import { StreamsRequest } from './streams-cli';

/** Where the `streams` commands write: lines, raw bytes, and a question to the person at the terminal. */
export interface StreamsIO extends ApplyIO {
  /** Bytes as they are (`sub --raw`). */
  write(bytes: Uint8Array): void;
  /** Asks a yes-or-no question; true for yes. */
  confirm(question: string): Promise<boolean>;
}

/** The exit codes of the `streams` commands. */
export enum StreamsExitCode {
  OK = 0,
  ERROR = 1,
  /** `rm` refused: the stream is foreign or still declared. */
  REFUSED = 3,
}

type Command = (connection: JetStreamConnection, request: StreamsRequest, io: StreamsIO, stop?: AbortSignal) => Promise<StreamsExitCode>;

/** How long the server keeps a `sub` or `dump` consumer whose client went away without deleting it. */
const ORDERED_CONSUMER_INACTIVE_MS = 30_000;

/** The store lock's lifetime when `rm` creates the lock bucket, as the Job's default. */
const LOCK_TTL_MS = 30_000;

/**
 * Runs one `streams` command. Never throws: an error is one line on `io.err` and exit code 1.
 *
 * @param stop ends `sub` and `dump` (Ctrl-C)
 */
export async function runStreams(request: StreamsRequest, io: StreamsIO, stop?: AbortSignal): Promise<StreamsExitCode> {
  let connection: JetStreamConnection | undefined;
  try {
    connection = await connect(request, io);
    return await COMMANDS[request.command](connection, request, io, stop);
  } catch (error) {
    io.err(`error: ${describeNatsError(error)}`);
    return StreamsExitCode.ERROR;
  } finally {
    await connection?.nc.close();
  }
}

/** Connects to the server of the flag, NATS_URL or the connection ConfigMap, with the credentials its auth needs. */
async function connect(request: StreamsRequest, io: StreamsIO): Promise<JetStreamConnection> {
  const data = request.connectionFile === undefined ? undefined : readConnectionConfigMap(request.connectionFile, request.store);
  const server = request.server ?? data?.NATS_URL;
  if (server === undefined) throw new Error(`${request.connectionFile} has no NATS_URL`);
  if (data !== undefined) checkCredentials(data, request);
  return connectJetStream(server, request.waitMs, io.err, request.auth, { name: 'jetstream-cdk8s streams', inboxPrefix: request.inboxPrefix });
}

/** What the store's connection ConfigMap says its clients need, from the environment. */
function checkCredentials(data: ConnectionData, request: StreamsRequest): void {
  const { user, password, token, caFile } = request.auth;
  if (data.NATS_AUTH === 'users' && (user === undefined || password === undefined)) throw new Error('the store has users: set NATS_USER and NATS_PASSWORD');
  if (data.NATS_AUTH === 'token' && token === undefined) {
    throw new Error(`the store takes a token: set NATS_TOKEN to key ${data.NATS_TOKEN_SECRET_KEY} of Secret ${data.NATS_TOKEN_SECRET_NAME}`);
  }
  if (data.NATS_CA_SECRET_NAME !== undefined && caFile === undefined) {
    throw new Error(`the store has client TLS: set NATS_CA_FILE to key ${data.NATS_CA_SECRET_KEY} of Secret ${data.NATS_CA_SECRET_NAME}`);
  }
}

function readDefinitions(request: StreamsRequest): StreamsDocument | undefined {
  const source = request.definitions;
  if (source === undefined) return undefined;
  return parseStreamsDocuments('path' in source ? readDefinitionsFiles(source.path) : distDefinitionsFiles(source.dist, source.store));
}

/** The definitions and the ownership record of their store, when definitions are given. */
async function storeView(connection: JetStreamConnection, request: StreamsRequest, bucketExists: boolean) {
  const document = readDefinitions(request);
  if (document === undefined) return undefined;
  const record = await readOwnership(connection.nc, document.store, bucketExists);
  return { document, record, view: { declared: document.streams, managed: record.managed } satisfies StoreView };
}

async function list(connection: JetStreamConnection, request: StreamsRequest, io: StreamsIO): Promise<StreamsExitCode> {
  const { streams, bucketExists } = await readStoreStreams(connection);
  const rows = streamRows(streams, (await storeView(connection, request, bucketExists))?.view);
  if (request.json) io.out(JSON.stringify(rows, null, 2));
  else for (const line of streamTable(rows)) io.out(line);
  return StreamsExitCode.OK;
}

async function info(connection: JetStreamConnection, request: StreamsRequest, io: StreamsIO): Promise<StreamsExitCode> {
  const name = request.stream as string;
  const { streams, bucketExists } = await readStoreStreams(connection);
  const detail = streamDetail(name, streams, (await storeView(connection, request, bucketExists))?.view);
  if (detail === undefined) throw new Error(`stream "${name}" is neither on the server nor declared`);
  if (request.json) io.out(JSON.stringify(detail, null, 2));
  else for (const line of streamDetailLines(detail)) io.out(line);
  return StreamsExitCode.OK;
}

/**
 * The stream's messages through an ordered consumer (an ephemeral one the client recreates as
 * needed, so nothing stays on the server): new ones, or with `--all` every stored one; until
 * `stop`, `--count`, or with `until` saying so after a message. `config` is the stream's, as its caller read it.
 */
async function consume(
  connection: JetStreamConnection, request: StreamsRequest, config: StreamConfig, stop: AbortSignal | undefined,
  each: (message: JsMsg) => void, until: (message: JsMsg) => boolean = () => false,
): Promise<number> {
  const name = request.stream as string;
  // What the server refuses an ordered consumer for: nats.js would retry it, silently, for minutes.
  if (config.retention === RetentionPolicy.Workqueue) {
    throw new Error(`stream "${name}" is a work queue: the server gives its messages to one consumer each, and refuses one that only reads them`);
  }
  const subject = request.subject === undefined ? undefined : checkSubject(request.subject);
  if (subject !== undefined && 'problem' in subject) throw new Error(`--subject ${JSON.stringify(request.subject)} ${subject.problem}`);
  const consumer = await connection.nc.jetstream().consumers.get(name, {
    // An ordered consumer starts at the first message by default; nats.js 2.29 waits forever when told so explicitly.
    ...(request.all ? {} : { deliver_policy: DeliverPolicy.New }),
    // One subject as a string: nats.js sends it as filter_subject, which 2.9 knows.
    ...(request.subject !== undefined ? { filterSubjects: request.subject } : {}),
    // Gone soon after a run that could not delete it (killed); nats.js's default keeps it 5 minutes.
    inactive_threshold: ORDERED_CONSUMER_INACTIVE_MS,
  });
  if (stop?.aborted) return 0;
  // Stoppable while the client is still creating its consumer, which it retries on its own.
  const stopped = new Promise<undefined>((resolve) => stop?.addEventListener('abort', () => resolve(undefined), { once: true }));
  const messages = await Promise.race([consumer.consume(), stopped]);
  if (messages === undefined) return 0;
  const onStop = () => messages.stop();
  stop?.addEventListener('abort', onStop);
  let count = 0;
  try {
    for await (const message of messages) {
      each(message);
      count++;
      if ((request.count !== undefined && count >= request.count) || until(message)) break;
    }
  } finally {
    stop?.removeEventListener('abort', onStop);
    messages.stop();
    // The client leaves its ordered consumer to expire; remove it now, if the server lets us.
    await consumer.delete().catch(() => undefined);
  }
  return count;
}

async function subscribe(connection: JetStreamConnection, request: StreamsRequest, io: StreamsIO, stop?: AbortSignal): Promise<StreamsExitCode> {
  await consume(connection, request, (await connection.jsm.streams.info(request.stream as string)).config, stop, (message) => {
    if (request.raw) {
      io.write(message.data);
      return;
    }
    io.out(`[${message.seq}] ${message.subject} ${new Date(Number(message.info.timestampNanos / 1_000_000)).toISOString()}`);
    for (const [key, values] of message.headers ?? []) io.out(`  ${key}: ${values.join(', ')}`);
    io.out(message.string());
  });
  return StreamsExitCode.OK;
}

async function dump(connection: JetStreamConnection, request: StreamsRequest, io: StreamsIO, stop?: AbortSignal): Promise<StreamsExitCode> {
  const out = request.out as string;
  // With --all, what is stored now; an empty stream (or filter) has nothing to wait for. Asked before the file is opened,
  // so a mistyped stream leaves it as it was.
  const stored = await connection.jsm.streams.info(request.stream as string, request.subject === undefined ? undefined : { subjects_filter: request.subject });
  const empty = request.all && (request.subject === undefined ? stored.state.messages === 0 : Object.keys(stored.state.subjects ?? {}).length === 0);
  const file = fs.openSync(out, 'w');
  const pcap = request.pcap ? new PcapWriter() : undefined;
  let [written, bytes, skipped] = [0, 0, 0];
  const write = (chunks: readonly Uint8Array[]) => {
    for (const chunk of chunks) {
      fs.writeSync(file, chunk);
      bytes += chunk.byteLength;
    }
  };
  try {
    if (!empty) {
      await consume(connection, request, stored.config, stop, (message) => {
        const chunks = pcap === undefined ? [message.data] : pcap.add(message.data);
        if (chunks === undefined) skipped++;
        else {
          write(chunks);
          written++;
        }
      }, (message) => request.all && message.info.pending === 0);
    }
    if (pcap) write(pcap.finish());
  } finally {
    fs.closeSync(file);
  }
  io.out(`wrote ${written} ${written === 1 ? 'payload' : 'payloads'} (${formatBytesReadable(bytes)}) to ${out}`
    + (skipped > 0 ? `; skipped ${skipped} that ${skipped === 1 ? 'is' : 'are'} not pcap records of the file's format` : ''));
  return StreamsExitCode.OK;
}

/**
 * Deletes a stream after asking, refusing one the store does not manage or still declares unless
 * forced; with definitions, under the store's lock, and the stream and its consumers leave the
 * store's ownership record in the same step.
 */
async function remove(connection: JetStreamConnection, request: StreamsRequest, io: StreamsIO): Promise<StreamsExitCode> {
  const name = request.stream as string;
  if (name === OWNERSHIP_STREAM || name === LOCK_STREAM) {
    io.err(`refused: stream "${name}" holds every store's ${name === OWNERSHIP_STREAM ? 'ownership records' : 'locks'}: never deleted, not even with --force`);
    return StreamsExitCode.REFUSED;
  }
  // From the stream list, which the Job's user may read (not stream info).
  const { streams, bucketExists } = await readStoreStreams(connection);
  const found = streams.get(name);
  if (found === undefined) throw new Error(`stream "${name}" is not on the server`);
  const messages = found.state.messages;
  const store = await storeView(connection, request, bucketExists);
  const refusals = store === undefined || request.force ? [] : [
    ...(store.document.streams.some((s) => s.config.name === name)
      ? [`it is declared in the definitions of store "${store.document.store}": the next apply would create it again; remove it from the app first`] : []),
    ...(!store.record.managed.has(name) ? [`store "${store.document.store}" does not manage it (foreign)`] : []),
  ];
  if (refusals.length > 0) {
    io.err(`refused: stream "${name}": ${refusals.join('; ')}; --force deletes it anyway`);
    return StreamsExitCode.REFUSED;
  }
  if (!request.yes && !(await io.confirm(`delete stream "${name}" and its ${messages} messages? [y/N] `))) {
    io.out(`not deleted: stream "${name}"`);
    return StreamsExitCode.OK;
  }
  if (store === undefined) {
    await connection.jsm.streams.delete(name);
    io.out(`deleted stream "${name}" (${messages} messages)`);
    return StreamsExitCode.OK;
  }
  const storeName = store.document.store;
  const lock = await takeStoreLock(connection.nc, storeName, { holder: `${os.hostname()} pid ${process.pid} (streams rm)`, since: new Date().toISOString(), generation: 0 }, {
    ttlMs: LOCK_TTL_MS, replicas: 1, deadline: Date.now() + request.waitMs, log: io.err, giveUp: () => undefined,
  });
  try {
    await connection.jsm.streams.delete(name);
    io.out(`deleted stream "${name}" (${messages} messages)`);
    // Read again under the lock: a run may have changed it since.
    const record = await readOwnership(connection.nc, storeName, bucketExists);
    const managed = new Map([...record.managed].filter(([key]) => key !== name && consumerOfKey(key)?.stream !== name));
    if (managed.size !== record.managed.size) {
      await writeOwnership(connection.nc, storeName, { managed, applied: record.applied }, record, 1, io.err);
      io.out(`removed from the ownership record of store "${storeName}"`);
    }
  } finally {
    await lock.release();
  }
  return StreamsExitCode.OK;
}

const COMMANDS: Readonly<Record<StreamsRequest['command'], Command>> = { ls: list, info, sub: subscribe, dump, rm: remove };
