import { Setting, UsageError, connectionAuth, parseFlags, required, wholeNumber } from '../apply/cli';
import type { ConnectionAuth } from '../apply/nats-io';
import { literalSubjectProblem } from '../subjects';
import type { EventFilter } from './event-message';
import { KubeConnection, kubeConnection } from './kube-api';
import {
  ANY_ADDRESS, DEFAULT_MAX_IN_FLIGHT, DEFAULT_MAX_MESSAGE_BYTES, EVENTS_ENV, EVENTS_HTTP_PORT, EnrichedKind, KubernetesEventsApi, MIN_MESSAGE_BYTES,
} from './settings';

/** The usage text of `events --help`. */
export const EVENTS_USAGE = `Usage: jetstream-cdk8s events forward

Forwards Kubernetes Events into a JetStream stream, one message per event and resourceVersion,
on <prefix>.<namespace>.<involved kind>.<reason>, with the involved object's labels. Resumes
where it stopped (a position kept in a key-value bucket); Nats-Msg-Id drops what a restart sends
again. The KubernetesEvents construct runs it; everything comes from the environment:

  NATS_URL, NATS_USER, NATS_PASSWORD, NATS_TOKEN, NATS_CA_FILE, NATS_INBOX_PREFIX
  ${EVENTS_ENV.subjectPrefix}     subject prefix (required)
  ${EVENTS_ENV.resumeBucket}      key-value bucket of the resume positions (required)
  ${EVENTS_ENV.api}               events.k8s.io/v1 (default) or v1
  ${EVENTS_ENV.namespaces}        comma-separated namespaces (default: all, one cluster-wide watch)
  ${EVENTS_ENV.types}, ${EVENTS_ENV.reasons}, ${EVENTS_ENV.involvedKinds}
                          comma-separated values to keep (default: all)
  ${EVENTS_ENV.enrich}              JSON list of the kinds whose labels are added: {kind, group, version, resource, namespaced}
  ${EVENTS_ENV.lease}               Lease name for leader election among replicas, with ${EVENTS_ENV.podName} and ${EVENTS_ENV.podNamespace}
  ${EVENTS_ENV.maxInFlight}       acknowledgements awaited at once (default ${DEFAULT_MAX_IN_FLIGHT})
  ${EVENTS_ENV.maxMessageBytes}  largest body; a larger event is cut down to fit (default ${DEFAULT_MAX_MESSAGE_BYTES})
  ${EVENTS_ENV.httpListen}        host:port of /healthz and /metrics (default [${ANY_ADDRESS}]:${EVENTS_HTTP_PORT}; "off" for none)
  ${EVENTS_ENV.kubernetesApi}, ${EVENTS_ENV.kubernetesToken}, ${EVENTS_ENV.kubernetesCa}
                          the API server, when not the pod's own

Exit 0 when stopped by SIGTERM or SIGINT, 1 on bad settings or a lost lease.`;

/** The most acknowledgements awaited at once. */
const MAX_IN_FLIGHT = 65_536;
/** NATS' largest max payload. */
const MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

/** Who this replica is and which Lease it competes for. */
export interface LeaseSettings {
  readonly name: string;
  readonly namespace: string;
  readonly identity: string;
}

/** Everything a forwarder run needs. */
export interface ForwarderOptions {
  readonly server: string;
  readonly auth: ConnectionAuth;
  readonly inboxPrefix: string;
  readonly api: KubernetesEventsApi;
  readonly subjectPrefix: string;
  /** Watched namespaces; empty for one watch of all. */
  readonly namespaces: readonly string[];
  readonly filter: EventFilter;
  readonly enrich: readonly EnrichedKind[];
  readonly resumeBucket: string;
  readonly lease?: LeaseSettings;
  readonly maxInFlight: number;
  /** The largest message body the stream takes. */
  readonly maxMessageBytes: number;
  /** Where `/healthz` and `/metrics` listen; none when off. */
  readonly http?: { readonly host: string; readonly port: number };
  readonly kube: KubeConnection;
}

/**
 * Reads `events forward`'s command line and environment. Pure.
 *
 * @throws UsageError naming the variable, its value and what is allowed
 */
export function parseEventsCli(args: readonly string[], env: Readonly<Record<string, string | undefined>>): { help: true } | ForwarderOptions {
  const { values, positionals } = parseFlags(args, { help: { type: 'boolean', short: 'h' } });
  if (values.help) return { help: true };
  if (positionals.length !== 1 || positionals[0] !== 'forward') {
    throw new UsageError(`expected the command forward; got ${positionals.length === 0 ? 'none' : positionals.map((p) => JSON.stringify(p)).join(' ')}`);
  }
  const value = (name: string) => env[name] || undefined;
  const setting = (name: string): Setting | undefined => (env[name] ? { source: name, value: env[name] as string } : undefined);
  const list = (name: string) => (value(name) ?? '').split(',').map((item) => item.trim()).filter((item) => item !== '');
  const subjectPrefix = required(setting(EVENTS_ENV.subjectPrefix), EVENTS_ENV.subjectPrefix);
  const problem = literalSubjectProblem(subjectPrefix);
  if (problem !== undefined) throw new UsageError(`${EVENTS_ENV.subjectPrefix} "${subjectPrefix}" ${problem}`);
  const api = value(EVENTS_ENV.api) ?? KubernetesEventsApi.EVENTS_V1;
  if (!(Object.values(KubernetesEventsApi) as string[]).includes(api)) {
    throw new UsageError(`${EVENTS_ENV.api} "${api}" must be ${Object.values(KubernetesEventsApi).join(' or ')}`);
  }
  let kube: KubeConnection;
  try {
    kube = kubeConnection(env);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  return {
    server: required(setting('NATS_URL'), 'NATS_URL'),
    auth: connectionAuth(env),
    inboxPrefix: value('NATS_INBOX_PREFIX') ?? '_INBOX',
    api: api as KubernetesEventsApi,
    subjectPrefix,
    namespaces: [...new Set(list(EVENTS_ENV.namespaces))].sort(),
    filter: { types: list(EVENTS_ENV.types), reasons: list(EVENTS_ENV.reasons), involvedKinds: list(EVENTS_ENV.involvedKinds) },
    enrich: enrichedKinds(value(EVENTS_ENV.enrich)),
    resumeBucket: required(setting(EVENTS_ENV.resumeBucket), EVENTS_ENV.resumeBucket),
    lease: leaseSettings(value(EVENTS_ENV.lease), value(EVENTS_ENV.podName), value(EVENTS_ENV.podNamespace)),
    maxInFlight: wholeNumber(setting(EVENTS_ENV.maxInFlight), DEFAULT_MAX_IN_FLIGHT, MAX_IN_FLIGHT),
    maxMessageBytes: wholeNumber(setting(EVENTS_ENV.maxMessageBytes), DEFAULT_MAX_MESSAGE_BYTES, MAX_MESSAGE_BYTES, MIN_MESSAGE_BYTES),
    http: httpListen(value(EVENTS_ENV.httpListen) ?? `[${ANY_ADDRESS}]:${EVENTS_HTTP_PORT}`),
    kube,
  };
}

function enrichedKinds(json: string | undefined): EnrichedKind[] {
  if (json === undefined) return [];
  const rule = 'must be a JSON list of {kind, group, version, resource, namespaced}';
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch {
    throw new UsageError(`${EVENTS_ENV.enrich} is not JSON: it ${rule}`);
  }
  const valid = (kind: any) => kind !== null && typeof kind === 'object' && typeof kind.kind === 'string' && typeof kind.group === 'string'
    && typeof kind.version === 'string' && typeof kind.resource === 'string' && typeof kind.namespaced === 'boolean';
  if (!Array.isArray(parsed) || !parsed.every(valid)) throw new UsageError(`${EVENTS_ENV.enrich} ${json} ${rule}`);
  return parsed;
}

function leaseSettings(name: string | undefined, identity: string | undefined, namespace: string | undefined): LeaseSettings | undefined {
  if (name === undefined) return undefined;
  if (identity === undefined || namespace === undefined) {
    throw new UsageError(`${EVENTS_ENV.lease} needs ${EVENTS_ENV.podName} and ${EVENTS_ENV.podNamespace}: who competes for the lease, and where it is`);
  }
  return { name, namespace, identity };
}

function httpListen(given: string): { host: string; port: number } | undefined {
  if (given === 'off') return undefined;
  const match = /^(.+):(\d+)$/.exec(given);
  const port = Number(match?.[2]);
  if (!match || port > 65_535) throw new UsageError(`${EVENTS_ENV.httpListen} "${given}" must be host:port, or "off"`);
  return { host: match[1].replace(/^\[(.*)\]$/, '$1'), port };
}
