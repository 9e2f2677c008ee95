import { ParseArgsConfig, parseArgs } from 'util';
import { unitRule } from '../stream-definition';
import { parseDuration } from '../units';
import { ApplyOptions, Command } from './apply';
import { ConnectionAuth } from './nats-io';

/** The usage text of `--help`. */
export const USAGE = `Usage: jetstream-cdk8s <plan|apply|repair> [options]
       jetstream-cdk8s streams <ls|info|sub|dump|rm> ... (see streams --help)
       jetstream-cdk8s events forward (see events --help)

Brings a NATS server's JetStream streams, and their declared consumers, to what a store's
streams document declares.

Commands:
  plan    show what apply would do and write nothing
          (exit 0: up to date, 2: changes pending, 3: some streams would be refused)
  apply   take the store's lock, then create, update and delete streams as planned
          (exit 0: applied, 3: some streams refused, the others applied)
  repair  as apply, but only what is safe unattended: re-create missing streams and
          undo changes made by hand, never deleting a stream or discarding messages
          (allowDataLoss is ignored); the drift check's CronJob runs it
  Exit 1 on any error: bad input, server unreachable past the wait, a failed write.
  Exit 4 when the definitions are older than the ones the store last applied
  (their generation is lower): nothing is changed.

Options (each overrides its environment variable):
  --server URL             NATS server URL                        NATS_URL
  --definitions PATH       streams document: a file, or a         STREAMS_FILE
                           directory of its .json files
  --definitions-digest HEX refuse other definitions than these    STREAMS_DIGEST    (default: unchecked)
  --wait DURATION          wait for the server and JetStream      WAIT_TIMEOUT      (default 5m)
  --concurrency N          stream writes in flight at once        CONCURRENCY       (default 32)
  --owner-replicas N       replicas of the ownership and lock     OWNER_REPLICAS    (default 1)
                           buckets
  --lock-ttl DURATION      how long the store's lock outlives a   LOCK_TTL          (default 30s)
                           run that stopped renewing it
  --termination-log FILE   write the JSON summary to this file    TERMINATION_LOG   (default: none)
  -h, --help               show this text

Credentials come from the environment only: NATS_USER and NATS_PASSWORD, or NATS_TOKEN;
NATS_CA_FILE names the CA certificate (PEM) the server's TLS certificate is checked against.`;

const DEFAULT_WAIT = '5m';
const DEFAULT_LOCK_TTL = '30s';
const DEFAULT_CONCURRENCY = 32;
const MAX_CONCURRENCY = 1024;
const DEFAULT_OWNER_REPLICAS = 1;
/** JetStream's own limit on stream replicas. */
const MAX_REPLICAS = 5;
const COMMANDS: readonly Command[] = ['plan', 'apply', 'repair'];

/** What the command line asks for: the usage text, or a run. */
export type CliRequest = { readonly help: true } | { readonly help: false; readonly options: ApplyOptions };

/** A command line or environment the program cannot run with. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/**
 * Reads the command line and the environment into the options of a run. Pure.
 *
 * @param args the arguments after the program, `process.argv.slice(2)`
 * @param env the environment; an empty variable counts as unset
 * @throws UsageError naming the flag or variable, its value and what is allowed
 */
export function parseCli(args: readonly string[], env: Readonly<Record<string, string | undefined>>): CliRequest {
  const parsed = parseFlags(args, {
    'server': { type: 'string' },
    'definitions': { type: 'string' },
    'definitions-digest': { type: 'string' },
    'wait': { type: 'string' },
    'concurrency': { type: 'string' },
    'owner-replicas': { type: 'string' },
    'lock-ttl': { type: 'string' },
    'termination-log': { type: 'string' },
    'help': { type: 'boolean', short: 'h' },
  });
  const { values, positionals } = parsed;
  if (values.help) return { help: true };
  if (positionals.length !== 1 || !COMMANDS.includes(positionals[0] as Command)) {
    const given = positionals.length === 0 ? 'none' : positionals.map((p) => JSON.stringify(p)).join(' ');
    throw new UsageError(`expected one command, plan, apply or repair; got ${given}`);
  }
  const setting = (flag: keyof typeof values, variable: string): Setting | undefined => {
    const flagValue = values[flag];
    if (typeof flagValue === 'string') return { source: `--${flag}`, value: flagValue };
    const envValue = env[variable];
    return envValue ? { source: variable, value: envValue } : undefined;
  };
  return {
    help: false,
    options: {
      command: positionals[0] as Command,
      server: required(setting('server', 'NATS_URL'), '--server or NATS_URL'),
      definitions: required(setting('definitions', 'STREAMS_FILE'), '--definitions or STREAMS_FILE'),
      definitionsDigest: digest(setting('definitions-digest', 'STREAMS_DIGEST')),
      waitMs: durationMs(setting('wait', 'WAIT_TIMEOUT') ?? { source: 'default', value: DEFAULT_WAIT }),
      lockTtlMs: lockTtlMs(setting('lock-ttl', 'LOCK_TTL') ?? { source: 'default', value: DEFAULT_LOCK_TTL }),
      concurrency: wholeNumber(setting('concurrency', 'CONCURRENCY'), DEFAULT_CONCURRENCY, MAX_CONCURRENCY),
      ownerReplicas: wholeNumber(setting('owner-replicas', 'OWNER_REPLICAS'), DEFAULT_OWNER_REPLICAS, MAX_REPLICAS),
      terminationLog: setting('termination-log', 'TERMINATION_LOG')?.value,
      auth: connectionAuth(env),
    },
  };
}

/** Reads flags and positionals with node's parser; a flag it cannot read is a usage error. */
export function parseFlags<T extends NonNullable<ParseArgsConfig['options']>>(
  args: readonly string[], options: T,
): ReturnType<typeof parseArgs<{ args: string[]; allowPositionals: true; options: T }>> {
  try {
    return parseArgs({ args: [...args], allowPositionals: true, options });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

/** The credentials and CA of the environment: NATS_USER and NATS_PASSWORD, or NATS_TOKEN, and NATS_CA_FILE. */
export function connectionAuth(env: Readonly<Record<string, string | undefined>>): ConnectionAuth {
  const value = (name: string) => env[name] || undefined;
  if (value('NATS_PASSWORD') && !value('NATS_USER')) throw new UsageError('NATS_PASSWORD is set without NATS_USER');
  if (value('NATS_TOKEN') && value('NATS_USER')) throw new UsageError('set NATS_TOKEN or NATS_USER, not both');
  return { user: value('NATS_USER'), password: value('NATS_PASSWORD'), token: value('NATS_TOKEN'), caFile: value('NATS_CA_FILE') };
}

/** A value and where it came from (a flag or a variable), for error messages. */
export interface Setting {
  readonly source: string;
  readonly value: string;
}

/** The setting's value; a usage error naming `what` when it is unset. */
export function required(setting: Setting | undefined, what: string): string {
  if (!setting) throw new UsageError(`${what} is required`);
  return setting.value;
}

function digest(setting: Setting | undefined): string | undefined {
  if (setting && !/^[0-9a-f]{64}$/.test(setting.value)) {
    throw new UsageError(`${setting.source} "${setting.value}" must be a SHA-256 digest: 64 lowercase hex digits`);
  }
  return setting?.value;
}

function durationMs(setting: Setting): number {
  try {
    return parseDuration(setting.value);
  } catch (error) {
    throw new UsageError(`${setting.source} "${setting.value}" ${unitRule(error)}`);
  }
}

/** The setting as a whole number from `min` to `max`; `fallback` when unset. */
export function wholeNumber(setting: Setting | undefined, fallback: number, max: number, min = 1): number {
  if (!setting) return fallback;
  const value = Number(setting.value);
  if (!/^\d+$/.test(setting.value) || value < min || value > max) {
    throw new UsageError(`${setting.source} "${setting.value}" must be a whole number from ${min} to ${max}`);
  }
  return value;
}

/** The server removes a key-value entry no sooner than 100ms old; renewing every third of the lifetime needs a second or more. */
function lockTtlMs(setting: Setting): number {
  const ms = durationMs(setting);
  if (ms < 1_000) throw new UsageError(`${setting.source} "${setting.value}" must be at least 1s`);
  return ms;
}
