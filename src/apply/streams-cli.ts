import { unitRule } from '../stream-definition';
import { parseDuration } from '../units';
import { UsageError, connectionAuth, parseFlags } from './cli';
import { ConnectionAuth } from './nats-io';

/** The usage text of `streams --help`. */
export const STREAMS_USAGE = `Usage: jetstream-cdk8s streams <ls|info|sub|dump|rm> [NAME] [options]

Everyday commands for a store's streams, connecting as the apply Job does.

Commands:
  ls                   every stream with subjects, messages, bytes, first and last time,
                       consumers and replicas; with definitions, where each stands: in sync,
                       drifted (which fields), missing, orphaned (managed, not declared), foreign
  info NAME            the stored configuration and state; with definitions, what an apply
                       would change
  sub NAME             print each new message (subject, sequence, time, headers, payload)
                       until Ctrl-C; through an ordered consumer, which leaves nothing on the server
  dump NAME --out FILE write each new message's payload to FILE until Ctrl-C; with --all, every
                       stored message, then stop
  rm NAME              delete a stream after showing its message count and asking; refused for a
                       stream the store does not manage or still declares, unless --force; the
                       stream leaves the store's ownership record in the same step (needs definitions)
  Exit 0: done; 1: an error; 3: refused.

Options:
  --server URL          NATS server URL (NATS_URL)
  --connection FILE     read the URL from a store's connection ConfigMap in FILE (a dist/ file or
                        kubectl get -o yaml output); --store picks the store when FILE has several
  --definitions PATH    the store's streams document: a file, or a directory of its .json files
  --dist DIR --store S  the definitions of store S as synthesized into DIR
  --json                ls and info: JSON instead of a table
  --all                 sub and dump: from the first stored message
  --subject S           sub and dump: only messages of subject S (wildcards allowed)
  --count N             sub and dump: stop after N messages
  --raw                 sub: write the payloads' bytes only
  --out FILE            dump: where to write
  --pcap                dump: payloads that are pcap records become one pcap file (one global header)
  --yes                 rm: do not ask
  --force               rm: delete a foreign or declared stream too
  --wait DURATION       how long to wait for the server (default 10s)
  -h, --help            show this text

Credentials come from the environment only: NATS_USER and NATS_PASSWORD, or NATS_TOKEN;
NATS_CA_FILE names the CA certificate; NATS_INBOX_PREFIX the inbox prefix of a granted user.`;

export type StreamsCommand = 'ls' | 'info' | 'sub' | 'dump' | 'rm';
const COMMANDS: readonly StreamsCommand[] = ['ls', 'info', 'sub', 'dump', 'rm'];
const NAMED: readonly StreamsCommand[] = ['info', 'sub', 'dump', 'rm'];
const DEFAULT_WAIT = '10s';

/** Where the store's definitions come from, when given. */
export type DefinitionsSource = { readonly path: string } | { readonly dist: string; readonly store: string };

/** A `streams` command line, resolved. */
export interface StreamsRequest {
  readonly command: StreamsCommand;
  /** The stream, for every command but `ls`. */
  readonly stream?: string;
  /** The server URL given by flag or NATS_URL; else the connection ConfigMap's. */
  readonly server?: string;
  readonly connectionFile?: string;
  /** The store to pick in `connectionFile`. */
  readonly store?: string;
  readonly definitions?: DefinitionsSource;
  readonly auth: ConnectionAuth;
  readonly inboxPrefix: string;
  readonly waitMs: number;
  readonly json: boolean;
  readonly all: boolean;
  readonly subject?: string;
  readonly count?: number;
  readonly raw: boolean;
  readonly out?: string;
  readonly pcap: boolean;
  readonly yes: boolean;
  readonly force: boolean;
}

/**
 * Reads a `streams` command line (the arguments after `streams`) and the environment. Pure.
 *
 * @throws UsageError naming the flag, its value and what is allowed
 */
export function parseStreamsCli(args: readonly string[], env: Readonly<Record<string, string | undefined>>): { readonly help: true } | StreamsRequest {
  const parsed = parseFlags(args, {
    'server': { type: 'string' }, 'connection': { type: 'string' }, 'store': { type: 'string' }, 'definitions': { type: 'string' },
    'dist': { type: 'string' }, 'json': { type: 'boolean' }, 'all': { type: 'boolean' }, 'subject': { type: 'string' },
    'count': { type: 'string' }, 'raw': { type: 'boolean' }, 'out': { type: 'string' }, 'pcap': { type: 'boolean' },
    'yes': { type: 'boolean' }, 'force': { type: 'boolean' }, 'wait': { type: 'string' }, 'help': { type: 'boolean', short: 'h' },
  });
  const { values, positionals } = parsed;
  if (values.help) return { help: true };
  const [command, stream, ...extra] = positionals;
  if (!COMMANDS.includes(command as StreamsCommand)) {
    throw new UsageError(`expected a streams command, ${COMMANDS.join(', ')}; got ${command === undefined ? 'none' : JSON.stringify(command)}`);
  }
  const named = NAMED.includes(command as StreamsCommand);
  if (named && stream === undefined) throw new UsageError(`streams ${command} needs the stream's name`);
  if (extra.length > 0 || (!named && stream !== undefined)) throw new UsageError(`unexpected ${JSON.stringify((named ? extra : [stream, ...extra])[0])}`);
  // A connection ConfigMap named on the command line goes before NATS_URL; --server before both.
  const server = values.server ?? (values.connection === undefined ? env.NATS_URL || undefined : undefined);
  if (server === undefined && values.connection === undefined) throw new UsageError('--server, NATS_URL or --connection is required');
  if (values.definitions !== undefined && values.dist !== undefined) throw new UsageError('give --definitions or --dist, not both');
  if (values.dist !== undefined && values.store === undefined) throw new UsageError('--dist needs --store: the store whose definitions to read');
  const definitions: DefinitionsSource | undefined = values.definitions !== undefined ? { path: values.definitions }
    : values.dist !== undefined ? { dist: values.dist, store: values.store as string } : undefined;
  if (command === 'rm' && definitions === undefined && !values.force) {
    throw new UsageError('streams rm needs the store\'s definitions (--definitions, or --dist and --store), or --force');
  }
  if (command === 'dump' && values.out === undefined) throw new UsageError('streams dump needs --out FILE');
  return {
    command: command as StreamsCommand,
    stream,
    server,
    connectionFile: values.connection,
    store: values.store,
    definitions,
    auth: connectionAuth(env),
    inboxPrefix: env.NATS_INBOX_PREFIX || '_INBOX',
    waitMs: waitMs(values.wait ?? DEFAULT_WAIT),
    json: values.json ?? false,
    all: values.all ?? false,
    subject: values.subject,
    count: count(values.count),
    raw: values.raw ?? false,
    out: values.out,
    pcap: values.pcap ?? false,
    yes: values.yes ?? false,
    force: values.force ?? false,
  };
}

function waitMs(text: string): number {
  try {
    return parseDuration(text);
  } catch (error) {
    throw new UsageError(`--wait "${text}" ${unitRule(error)}`);
  }
}

function count(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d+$/.test(text) || Number(text) < 1) throw new UsageError(`--count "${text}" must be a whole number of at least 1`);
  return Number(text);
}
