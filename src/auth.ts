import { APPLY_INBOX_PREFIX, LOCK_BUCKET, OWNERSHIP_BUCKET } from './apply/names';
import type { NatsAuthorizationOptions, NatsConfigOptions } from './nats-config';
import { Problem, showValue } from './problems';
import { literalSubjectProblem, subjectProblem } from './subjects';

/** One key of a Kubernetes Secret in the store's namespace. */
export interface SecretKeyReference {
  /** Name of the Secret. */
  readonly secretName: string;
  /** Key in the Secret's data. */
  readonly key: string;
}

/** Subjects a user may or may not use in one direction, publish or subscribe. */
export interface SubjectPermissions {
  /**
   * Subjects (wildcards allowed) the user may use; anything else is refused. An empty list
   * allows nothing: it is rendered as `deny: [">"]`, since nats-server reads an empty allow
   * list as no restriction.
   * @default - every subject that is not denied
   */
  readonly allow?: readonly string[];
  /**
   * Subjects (wildcards allowed) the user may not use, even when `allow` matches them.
   * @default - none
   */
  readonly deny?: readonly string[];
}

/** What a NATS user may do, in nats-server's own terms. */
export interface Permissions {
  /**
   * Subjects the user may publish to, requests and JetStream API calls included.
   * @default - every subject
   */
  readonly publish?: SubjectPermissions;
  /**
   * Subjects the user may subscribe to, reply inboxes included.
   * @default - every subject
   */
  readonly subscribe?: SubjectPermissions;
  /**
   * Whether the user may answer the requests it receives (one reply per request) without a
   * publish permission for the reply subject; for services, not for JetStream clients.
   * @default false
   */
  readonly allowResponses?: boolean;
}

/** A NATS user whose password comes from a Kubernetes Secret. */
export interface NatsUser {
  /** User name: letters, digits, `.`, `_` and `-`; it also names the password's variable. */
  readonly name: string;
  /** The Secret key holding the password; it must not contain a single quote (see {@link authEnvironment}). */
  readonly password: SecretKeyReference;
  /**
   * What the user may do.
   * @default - everything
   */
  readonly permissions?: Permissions;
}

/** How clients authenticate to a store. */
export enum AuthKind {
  /** Any client may connect and do anything. */
  NONE = 'none',
  /** Clients send one shared token. */
  TOKEN = 'token',
  /** Clients send a user name and password; each user has its own permissions. */
  USERS = 'users',
}

/**
 * How clients authenticate to a store: no authentication, one shared token, or users with
 * passwords and permissions. The secrets always stay in Kubernetes Secrets: nats.conf names
 * environment variables that the NATS container gets from them ({@link authEnvironment}), so
 * the synthesized output holds no secret and does not change when a secret does.
 */
export class NatsAuth {
  /** No authentication. */
  public static none(): NatsAuth {
    return new NatsAuth(AuthKind.NONE, undefined, []);
  }

  /** One token, shared by every client, from a Secret; it must not contain a single quote. */
  public static token(token: SecretKeyReference): NatsAuth {
    return new NatsAuth(AuthKind.TOKEN, token, []);
  }

  /** Users with passwords from Secrets and their own permissions. nats-server allows no token beside them. */
  public static users(users: readonly NatsUser[]): NatsAuth {
    return new NatsAuth(AuthKind.USERS, undefined, users);
  }

  private constructor(
    /** Which kind of authentication. */
    public readonly kind: AuthKind,
    /** The token's Secret key; set for {@link AuthKind.TOKEN} only. */
    public readonly token: SecretKeyReference | undefined,
    /** The users, as given; empty unless {@link AuthKind.USERS}. */
    public readonly users: readonly NatsUser[],
  ) {}
}

/** The variable nats.conf reads the token from. */
export const TOKEN_VARIABLE = 'NATS_TOKEN';
/** Suffix of the variable that receives a secret as stored, before quoting. */
const RAW_SUFFIX = '_RAW';
const USER_NAME = /^[A-Za-z0-9._-]+$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const SECRET_KEY = /^[-._a-zA-Z0-9]+$/;
const MAX_KUBERNETES_NAME = 253;

/**
 * The variable nats.conf reads a user's password from: `NATS_USER_<NAME>_PASSWORD`, the name
 * upper-cased with every `.` and `-` turned into `_` (`orders-reader` gives
 * `NATS_USER_ORDERS_READER_PASSWORD`). Two names that map to one variable are refused by
 * {@link authProblems}.
 */
export function passwordVariable(userName: string): string {
  return `NATS_USER_${userName.toUpperCase().replace(/[^A-Z0-9]/g, '_')}_PASSWORD`;
}

/** An environment variable of the NATS container, either a fixed value or a Secret key. */
export type AuthEnvVariable =
  | { readonly name: string; readonly value: string }
  | { readonly name: string; readonly valueFrom: SecretKeyReference };

/**
 * The NATS container's environment for `auth`, in the order Kubernetes needs, sorted by
 * variable otherwise. Each secret takes two variables: `<VAR>_RAW` from the Secret key, then
 * `<VAR>` with the value `'$(<VAR>_RAW)'`, which Kubernetes expands into the secret in single
 * quotes.
 *
 * Why the quotes: nats-server parses a variable's value as nats.conf syntax. Unquoted, the
 * password `1234` becomes a number and `true` a boolean (the server refuses to start), `a,b`
 * is cut at the comma and surrounding whitespace, a trailing newline included, is dropped.
 * In single quotes every value is taken as is, except one holding a single quote.
 */
export function authEnvironment(auth: NatsAuth): AuthEnvVariable[] {
  const secrets: Array<[string, SecretKeyReference]> = auth.kind === AuthKind.TOKEN && auth.token
    ? [[TOKEN_VARIABLE, auth.token]]
    : auth.users.map((user) => [passwordVariable(user.name), user.password]);
  return secrets
    .sort(([a], [b]) => compare(a, b))
    .flatMap(([name, secret]) => [
      { name: `${name}${RAW_SUFFIX}`, valueFrom: secret },
      // Kubernetes expands $(VAR) from variables declared earlier in the list.
      { name, value: `'$(${name}${RAW_SUFFIX})'` },
    ]);
}

/** The `authorization` options of {@link NatsConfigOptions} for `auth`; undefined for no authentication. */
export function natsAuthorization(auth: NatsAuth): NatsAuthorizationOptions | undefined {
  switch (auth.kind) {
    case AuthKind.NONE:
      return undefined;
    case AuthKind.TOKEN:
      return { tokenVariable: TOKEN_VARIABLE };
    case AuthKind.USERS:
      return {
        users: auth.users.map((user) => ({
          name: user.name,
          passwordVariable: passwordVariable(user.name),
          permissions: user.permissions,
        })),
      };
  }
}

/**
 * Every broken rule of `auth`: user names, their variables, Secret references and permission
 * subjects. Fields are named from `base`, such as `auth.users[1].name`.
 */
export function authProblems(auth: NatsAuth, base = 'auth'): Problem[] {
  if (auth.kind === AuthKind.TOKEN && auth.token) return secretProblems(auth.token, `${base}.token`);
  if (auth.kind !== AuthKind.USERS) return [];
  if (auth.users.length === 0) {
    return [{ field: `${base}.users`, value: '[]', rule: 'must name at least one user: no client could connect' }];
  }
  const problems: Problem[] = [];
  const variables = new Map<string, string>();
  auth.users.forEach((user, index) => {
    const at = `${base}.users[${index}]`;
    if (!USER_NAME.test(user.name)) {
      problems.push({ field: `${at}.name`, value: showValue(user.name), rule: 'must be letters, digits, ".", "_" and "-"' });
    } else {
      const variable = passwordVariable(user.name);
      const other = variables.get(variable);
      if (other === undefined) variables.set(variable, user.name);
      else problems.push({ field: `${at}.name`, value: showValue(user.name), rule: sameVariableRule(other, user.name, variable) });
    }
    problems.push(...secretProblems(user.password, `${at}.password`), ...permissionProblems(user.permissions, `${at}.permissions`));
  });
  return problems;
}

function sameVariableRule(first: string, second: string, variable: string): string {
  return first === second
    ? 'is given twice: user names must be unique'
    : `takes the password variable ${variable} of user "${first}": names must differ in more than case, "." and "-"`;
}

function secretProblems(secret: SecretKeyReference, at: string): Problem[] {
  const problems: Problem[] = [];
  if (!DNS_SUBDOMAIN.test(secret.secretName) || secret.secretName.length > MAX_KUBERNETES_NAME) {
    problems.push({ field: `${at}.secretName`, value: showValue(secret.secretName), rule: 'must be a Kubernetes object name (DNS subdomain)' });
  }
  if (!SECRET_KEY.test(secret.key) || secret.key.length > MAX_KUBERNETES_NAME) {
    problems.push({ field: `${at}.key`, value: showValue(secret.key), rule: 'must be a Secret key: letters, digits, ".", "_" and "-"' });
  }
  return problems;
}

function permissionProblems(permissions: Permissions | undefined, at: string): Problem[] {
  const lists = [
    ['publish.allow', permissions?.publish?.allow],
    ['publish.deny', permissions?.publish?.deny],
    ['subscribe.allow', permissions?.subscribe?.allow],
    ['subscribe.deny', permissions?.subscribe?.deny],
  ] as const;
  return lists.flatMap(([field, subjects]) => (subjects ?? []).flatMap((subject, index) => {
    const rule = subjectProblem(subject);
    return rule === undefined ? [] : [{ field: `${at}.${field}[${index}]`, value: showValue(subject), rule }];
  }));
}

/** A stream as the permission helpers need it. */
export interface PermissionStream {
  /** The JetStream stream name. */
  readonly name: string;
  /** The subjects the stream captures. */
  readonly subjects: readonly string[];
}

/** Options of {@link streamPublisherPermissions} and {@link streamConsumerPermissions}. */
export interface StreamPermissionOptions {
  /**
   * Prefix of the client's reply inboxes; the client must use the same one (nats.js
   * `inboxPrefix`, nats.go `nats.CustomInboxPrefix`). Every client that may subscribe to
   * `_INBOX.>` can read every other client's replies, the messages they fetch from their
   * consumers included; a prefix of its own, such as `_INBOX_orders_reader`, keeps a client's
   * replies to itself.
   * @default "_INBOX"
   */
  readonly inboxPrefix?: string;
}

const DEFAULT_INBOX_PREFIX = '_INBOX';

/**
 * What a JetStream publisher to `stream` needs: publishing to the stream's subjects, the
 * acknowledgements the server sends back to the client's inbox, the JetStream API check that
 * `nc.jetstreamManager()` makes first, and the stream's info for clients that look it up.
 *
 * @throws Error when `inboxPrefix` is not a subject without wildcards
 */
export function streamPublisherPermissions(stream: PermissionStream, options: StreamPermissionOptions = {}): Permissions {
  return {
    publish: { allow: [...stream.subjects, '$JS.API.INFO', `$JS.API.STREAM.INFO.${stream.name}`] },
    subscribe: { allow: [inboxSubscription(options)] },
  };
}

/**
 * What a reader of `stream` needs, and no publishing to its subjects: creating, looking up,
 * listing and deleting its consumers, fetching and acknowledging their messages, answering
 * push consumers' flow control, getting single messages, and looking the stream up (by name,
 * or by subject for nats.js `js.subscribe`/`js.pullSubscribe` and nats.go `js.Subscribe`).
 *
 * Push consumers must deliver to a subject under the inbox prefix (`_INBOX.>` by default, as
 * nats.js `createInbox()` makes them): the reader may subscribe to nothing else. nats-server
 * does not check a push consumer's deliver subject against its creator's permissions: a reader
 * can have its stream's messages delivered to any other subject, and stored by another stream
 * that captures it when that subject has a subscriber. Its own stream's subjects are refused
 * ("consumer deliver subject forms a cycle").
 *
 * @throws Error when `inboxPrefix` is not a subject without wildcards
 */
export function streamConsumerPermissions(stream: PermissionStream, options: StreamPermissionOptions = {}): Permissions {
  const name = stream.name;
  return {
    publish: {
      allow: [
        '$JS.API.INFO',
        `$JS.API.STREAM.INFO.${name}`,
        '$JS.API.STREAM.NAMES',
        // Without a consumer name (ephemeral), then name and optional filter (2.9+).
        `$JS.API.CONSUMER.CREATE.${name}`,
        `$JS.API.CONSUMER.CREATE.${name}.>`,
        // What clients older than the 2.9 API use for durable consumers.
        `$JS.API.CONSUMER.DURABLE.CREATE.${name}.*`,
        `$JS.API.CONSUMER.INFO.${name}.*`,
        `$JS.API.CONSUMER.DELETE.${name}.*`,
        `$JS.API.CONSUMER.LIST.${name}`,
        `$JS.API.CONSUMER.NAMES.${name}`,
        `$JS.API.CONSUMER.MSG.NEXT.${name}.*`,
        `$JS.ACK.${name}.>`,
        `$JS.FC.${name}.>`,
        // Direct get by sequence, then by subject in the request subject.
        `$JS.API.DIRECT.GET.${name}`,
        `$JS.API.DIRECT.GET.${name}.>`,
        `$JS.API.STREAM.MSG.GET.${name}`,
      ],
    },
    subscribe: { allow: [inboxSubscription(options)] },
  };
}

/** A durable consumer as {@link consumerPermissions} needs it. */
export interface PermissionConsumer {
  /** The stream the consumer reads. */
  readonly stream: string;
  /** The consumer's durable name. */
  readonly name: string;
  /** The subject a push consumer delivers to; none for a pull consumer. */
  readonly deliverSubject?: string;
}

/**
 * What a client of one durable consumer needs, and nothing that creates, updates or deletes a
 * consumer: the consumer's info, fetching from it (pull) or its deliveries and flow control (push),
 * and acknowledging its messages. Another application's consumers on the same stream are out of reach.
 *
 * @throws Error when `inboxPrefix` is not a subject without wildcards
 */
export function consumerPermissions(consumer: PermissionConsumer, options: StreamPermissionOptions = {}): Permissions {
  const { stream, name, deliverSubject } = consumer;
  const delivery = deliverSubject === undefined ? [`$JS.API.CONSUMER.MSG.NEXT.${stream}.${name}`] : [`$JS.FC.${stream}.${name}.*`];
  return {
    publish: { allow: [`$JS.API.CONSUMER.INFO.${stream}.${name}`, ...delivery, `$JS.ACK.${stream}.${name}.>`] },
    subscribe: { allow: [inboxSubscription(options), ...(deliverSubject === undefined ? [] : [deliverSubject])] },
  };
}

/**
 * What a reader of the key-value bucket `bucket` needs, as nats.js uses it: the JetStream API check
 * and the bucket's stream info when it binds, getting entries (direct, or through the stream when
 * bound with `bindOnly`), and the ordered consumers without names that list its keys and history
 * and watch it (nats.js `kv.keys`, `kv.history`, `kv.watch`), with their flow control. With
 * `write`, also putting, creating, updating, deleting and purging keys: publishes to its subjects.
 *
 * @throws Error when `inboxPrefix` is not a subject without wildcards
 */
export function keyValuePermissions(bucket: string, write: boolean, options: StreamPermissionOptions = {}): Permissions {
  const stream = `KV_${bucket}`;
  return {
    publish: {
      allow: [
        '$JS.API.INFO',
        `$JS.API.STREAM.INFO.${stream}`,
        // By revision, then by key in the request subject.
        `$JS.API.DIRECT.GET.${stream}`,
        `$JS.API.DIRECT.GET.${stream}.>`,
        `$JS.API.STREAM.MSG.GET.${stream}`,
        `$JS.API.CONSUMER.CREATE.${stream}`,
        `$JS.FC.${stream}.>`,
        ...(write ? [`$KV.${bucket}.>`] : []),
      ],
    },
    subscribe: { allow: [inboxSubscription(options)] },
  };
}

/**
 * What a reader of the object store `store` needs, as nats.js uses it: the JetStream API check and
 * the store's stream info when it binds, an object's metadata (through the stream, or direct by
 * subject as nats.go reads it), and the ordered consumer that reads its chunks, which nats.js looks
 * its stream up for by subject, with its flow control. With `write`, also publishing chunks and
 * metadata, and purging the chunks of an object replaced or deleted (nats.js `os.put`, `os.delete`).
 *
 * @throws Error when `inboxPrefix` is not a subject without wildcards
 */
export function objectStorePermissions(store: string, write: boolean, options: StreamPermissionOptions = {}): Permissions {
  const stream = `OBJ_${store}`;
  return {
    publish: {
      allow: [
        '$JS.API.INFO',
        `$JS.API.STREAM.INFO.${stream}`,
        '$JS.API.STREAM.NAMES',
        `$JS.API.STREAM.MSG.GET.${stream}`,
        `$JS.API.DIRECT.GET.${stream}.>`,
        `$JS.API.CONSUMER.CREATE.${stream}`,
        `$JS.FC.${stream}.>`,
        ...(write ? [`$O.${store}.>`, `$JS.API.STREAM.PURGE.${stream}`] : []),
      ],
    },
    subscribe: { allow: [inboxSubscription(options)] },
  };
}

/** Two grants' permissions in one user: every subject either allows, for permissions that only allow. */
export function unionOfAllowed(a: Permissions, b: Permissions): Permissions {
  const union = (x?: SubjectPermissions, y?: SubjectPermissions) => ({ allow: [...new Set([...(x?.allow ?? []), ...(y?.allow ?? [])])] });
  return { publish: union(a.publish, b.publish), subscribe: union(a.subscribe, b.subscribe) };
}

/** True when both name the same key of the same Secret. */
export function sameSecretKey(a: SecretKeyReference, b: SecretKeyReference): boolean {
  return a.secretName === b.secretName && a.key === b.key;
}

function inboxSubscription(options: StreamPermissionOptions): string {
  const prefix = options.inboxPrefix ?? DEFAULT_INBOX_PREFIX;
  const problem = literalSubjectProblem(prefix);
  if (problem !== undefined) throw new Error(`inboxPrefix ${showValue(prefix)} ${problem}`);
  return `${prefix}.>`;
}

/**
 * What the post-deploy Job's apply program uses, and nothing more: the JetStream API check,
 * the stream list, creating, updating and deleting streams, the store's record in the ownership
 * bucket (`jetstream-cdk8s`) and the store's key in the lock bucket (`jetstream-cdk8s-locks`),
 * which it creates, reads and writes.
 *
 * Narrower than `$JS.API.STREAM.>`, which would also let the Job read every stream's messages
 * (`STREAM.MSG.GET`), purge them or restore snapshots. Measured from nats.js 2.29 against
 * nats-server 2.9.10: the program never uses consumers, `STREAM.NAMES` or `STREAM.INFO` (the
 * list carries every stream's info).
 *
 * @param storeName the store whose ownership record the Job writes
 */
export function applyJobPermissions(storeName: string): Permissions {
  const bucket = OWNERSHIP_BUCKET;
  const bucketStream = `KV_${bucket}`;
  const lockStream = `KV_${LOCK_BUCKET}`;
  return {
    publish: {
      allow: [
        '$JS.API.INFO',
        '$JS.API.STREAM.LIST',
        '$JS.API.STREAM.CREATE.*',
        '$JS.API.STREAM.UPDATE.*',
        '$JS.API.STREAM.DELETE.*',
        // Declared consumers: listed on their streams, created or updated by durable name, deleted.
        '$JS.API.CONSUMER.LIST.*',
        '$JS.API.CONSUMER.DURABLE.CREATE.*.*',
        '$JS.API.CONSUMER.DELETE.*.*',
        // A pause changed on an existing consumer (2.11+): an update leaves it as it is.
        '$JS.API.CONSUMER.PAUSE.*.*',
        // Binding the bucket before a write; creating it is STREAM.CREATE.
        `$JS.API.STREAM.INFO.${bucketStream}`,
        // Reading its own record, and the pieces of a large one, by subject: no other store's.
        `$JS.API.DIRECT.GET.${bucketStream}.$KV.${bucket}.${storeName}`,
        `$JS.API.DIRECT.GET.${bucketStream}.$KV.${bucket}.${storeName}.>`,
        `$KV.${bucket}.${storeName}`,
        `$KV.${bucket}.${storeName}.>`,
        // The lock: bound (or created) before it is taken; its holder read from the stream's leader.
        `$JS.API.STREAM.INFO.${lockStream}`,
        `$JS.API.STREAM.MSG.GET.${lockStream}`,
        `$KV.${LOCK_BUCKET}.${storeName}`,
      ],
      // The buckets of every store's records and locks: never deleted or reconfigured by a Job (purging is not granted at all).
      deny: [bucketStream, lockStream].flatMap((stream) => ['DELETE', 'UPDATE'].map((verb) => `$JS.API.STREAM.${verb}.${stream}`)),
    },
    subscribe: { allow: [`${APPLY_INBOX_PREFIX}.>`] },
  };
}

/** Files in a cert-manager certificate Secret. */
export const TLS_FILES = {
  /** The certificate chain, leaf first. */
  certificate: 'tls.crt',
  /** The private key. */
  key: 'tls.key',
  /** The issuing CA. */
  ca: 'ca.crt',
} as const;

/** Where the NATS container mounts the TLS Secrets. */
export const TLS_MOUNT_PATHS = {
  /** The client port's certificate Secret. */
  client: '/etc/nats-tls/client',
  /** The routes' certificate Secret. */
  routes: '/etc/nats-tls/routes',
} as const;

/**
 * TLS on the client port, from a cert-manager certificate Secret (`tls.crt`, `tls.key`, `ca.crt`).
 * Clients are not asked for certificates: the apply Job and granted workloads authenticate with
 * passwords and have none.
 */
export interface TlsOptions {
  /**
   * The Secret; its certificate must name the client Service (`<store>`, `<store>.<namespace>.svc`...).
   * Clients must trust its `ca.crt`.
   */
  readonly secretName: string;
}

/**
 * TLS on the routes between the servers of a cluster, from a cert-manager certificate Secret.
 * nats-server always verifies both ends of a route, so the certificate must allow client and
 * server authentication (cert-manager's default usages do), name every server
 * (`*.<store>-headless`, `*.<store>-headless.<namespace>.svc...`) and be issued by the
 * Secret's `ca.crt`.
 */
export interface RouteTlsOptions {
  /** The Secret. */
  readonly secretName: string;
}

/** TLS of a store. */
export interface StoreTlsOptions {
  /**
   * TLS on the client port.
   * @default - plain text
   */
  readonly client?: TlsOptions;
  /**
   * TLS on the routes of a cluster.
   * @default - plain text
   */
  readonly routes?: RouteTlsOptions;
}

/** The `tls` options of {@link NatsConfigOptions} for `tls`: the files where the Secrets are mounted. */
export function natsTls(tls: StoreTlsOptions): NatsConfigOptions['tls'] {
  const file = (dir: string, name: string) => `${dir}/${name}`;
  const client = TLS_MOUNT_PATHS.client;
  const routes = TLS_MOUNT_PATHS.routes;
  return {
    client: tls.client && {
      certFile: file(client, TLS_FILES.certificate),
      keyFile: file(client, TLS_FILES.key),
      verify: false,
    },
    cluster: tls.routes && {
      certFile: file(routes, TLS_FILES.certificate),
      keyFile: file(routes, TLS_FILES.key),
      caFile: file(routes, TLS_FILES.ca),
    },
  };
}

/** Every broken rule of `tls`, fields named from `base`, such as `tls.client.secretName`. */
export function tlsProblems(tls: StoreTlsOptions, base = 'tls'): Problem[] {
  return ([['client', tls.client], ['routes', tls.routes]] as const).flatMap(([field, options]) =>
    options === undefined || (DNS_SUBDOMAIN.test(options.secretName) && options.secretName.length <= MAX_KUBERNETES_NAME)
      ? []
      : [{ field: `${base}.${field}.secretName`, value: showValue(options.secretName), rule: 'must be a Kubernetes object name (DNS subdomain)' }]);
}

/** Code-point order, the same on every machine (no locale). */
function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
