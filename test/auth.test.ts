/**
 * Authentication and permissions against a real nats-server: nats.conf rendered by
 * renderNatsConfig (ports and paths rewritten to loopback), its secrets in the server's
 * environment as the pod gets them (authEnvironment, with Kubernetes' `$(VAR)` expansion).
 * Each granted subject is shown to be both used (the client operation that needs it works)
 * and needed (a user without just that subject gets a permission violation on it).
 */
import * as fs from 'fs';
import * as path from 'path';
import { Chart, Testing } from 'cdk8s';
import {
  AckPolicy, DeliverPolicy, Events, JSONCodec, JetStreamManager, Msg, NatsConnection, StorageType, StringCodec,
  connect, consumerOpts, createInbox, nanos,
} from 'nats';
// nats.js 2.29 implements jsm.direct but leaves it out of the public JetStreamManager type.
import type { DirectStreamAPI } from 'nats/lib/jetstream/types';
import { ExitCode, runApply } from '../src/apply/apply';
import { APPLY_INBOX_PREFIX, LOCK_BUCKET, OWNERSHIP_BUCKET } from '../src/apply/names';
import { encodeOwnership, writeOwnership } from '../src/apply/ownership';
import {
  AuthEnvVariable, NatsAuth, NatsUser, Permissions, SecretKeyReference, TOKEN_VARIABLE, applyJobPermissions, authEnvironment,
  authProblems, consumerPermissions, keyValuePermissions, natsAuthorization, objectStorePermissions, passwordVariable, streamConsumerPermissions,
  streamPublisherPermissions,
} from '../src/auth';
import { renderNatsConfig } from '../src/nats-config';
import { StreamStore } from '../src/stream-store';
import { declaredStreams } from './support/streams-document';
import { formatProblem } from '../src/problems';
import { subjectsOverlap } from '../src/subjects';
import { DEFAULT_NATS_SERVER_VERSION } from '../src/versions';
import { declaredConfig, declaredConsumerConfig } from './apply/fixtures';
import { NatsServerHandle, checkConfig, makeTempDir, rewriteConfigForLocal, startNatsServer, stopAll } from './support/nats-server';
import { freePort } from './support/ports';
import { SINGLE_SERVER as BASE_OPTIONS } from './support/nats-config-options';

const ORDERS = { name: 'ORDERS', subjects: ['orders.>'] };
const PAYMENTS = { name: 'PAYMENTS', subjects: ['payments.>'] };
const STORE = 'events';
const SECRET = 'nats-users';
/** A reader's own inbox prefix, which no other user may subscribe to. */
const PRIVATE_INBOX = '_INBOX_private_reader';
/** Large messages on `orders.bulk`: a push consumer asks for flow control after about 2MB. */
const BULK = { count: 8, bytes: 256 * 1024 };
/** Bound on each client request: a refused one fails at once, so only a hang would reach it. */
const REQUEST_TIMEOUT_MS = 2_000;
const codec = StringCodec();
const json = JSONCodec();

afterAll(stopAll);

// ---------------------------------------------------------------- the pod, simulated

/**
 * The container environment Kubernetes makes from `variables`: Secret keys looked up in
 * `secrets` (by `secretName/key`), and `$(VAR)` in a value expanded from the variables
 * declared before it, as the kubelet does.
 */
function podEnvironment(variables: readonly AuthEnvVariable[], secrets: ReadonlyMap<string, string>): NodeJS.ProcessEnv {
  const env: Record<string, string> = { PATH: process.env.PATH ?? '/usr/bin:/bin', POD_NAME: 'events-0' };
  for (const variable of variables) {
    if ('valueFrom' in variable) {
      const value = secrets.get(secretId(variable.valueFrom));
      if (value === undefined) throw new Error(`no secret ${secretId(variable.valueFrom)}`);
      env[variable.name] = value;
    } else {
      env[variable.name] = variable.value.replace(/\$\(([A-Za-z_]\w*)\)/g, (reference, name: string) => env[name] ?? reference);
    }
  }
  return env;
}

function secretId(secret: SecretKeyReference): string {
  return `${secret.secretName}/${secret.key}`;
}


/**
 * Starts a server from the nats.conf rendered for `auth`, with the pod's environment.
 * rewriteConfigForLocal knows neither anonymous blocks (the users array's entries) nor `$VAR`
 * references that must stay, so it rewrites the config without its authorization block, which
 * names no port or path, and the block is put back as rendered.
 */
async function startWithAuth(auth: NatsAuth, secrets: ReadonlyMap<string, string>): Promise<NatsServerHandle> {
  expect(authProblems(auth).map(formatProblem)).toEqual([]);
  const rendered = renderNatsConfig({ ...BASE_OPTIONS, authorization: natsAuthorization(auth) });
  const env = podEnvironment(authEnvironment(auth), secrets);
  const check = await checkConfig(rendered, { env });
  expect(check).toEqual({ ok: true, output: expect.stringContaining('is valid') });
  const authorization = /^authorization \{\n[\s\S]*?^\}\n/m.exec(rendered)?.[0] ?? '';
  const storeDir = makeTempDir();
  const local = rewriteConfigForLocal(rendered.replace(authorization, ''), {
    storeDir, clientPort: await freePort(), monitorPort: await freePort(), serverName: 'auth-test',
  });
  return startNatsServer({ config: local + authorization, storeDir, env });
}

// ---------------------------------------------------------------- permission bookkeeping

type Direction = 'publish' | 'subscribe';

/** One granted subject, in one direction. */
interface Grant {
  readonly direction: Direction;
  readonly subject: string;
}

function grants(permissions: Permissions): Grant[] {
  return (['publish', 'subscribe'] as const).flatMap((direction) =>
    (permissions[direction]?.allow ?? []).map((subject) => ({ direction, subject })));
}

function without(permissions: Permissions, grant: Grant): Permissions {
  const allow = (permissions[grant.direction]?.allow ?? []).filter((subject) => subject !== grant.subject);
  return { ...permissions, [grant.direction]: { ...permissions[grant.direction], allow } };
}

function grantName(grant: Grant): string {
  return `${grant.direction} ${grant.subject}`;
}

/** A permission violation the server reported to a client. */
interface Violation {
  readonly operation: string;
  readonly subject: string;
}

/** True when `violation` is the server refusing what `grant` would have allowed. */
function refuses(violation: Violation, grant: Grant): boolean {
  const operation = grant.direction === 'publish' ? 'publish' : 'subscription';
  return violation.operation === operation && subjectsOverlap(violation.subject, grant.subject);
}

// ---------------------------------------------------------------- users

const READER = streamConsumerPermissions(ORDERS);
const PUBLISHER = streamPublisherPermissions(ORDERS);
/** Declared consumers of ORDERS, granted by name: a pull one, and a push one delivering to DELIVER_TO. */
const PULL = { stream: ORDERS.name, name: 'granted-pull' };
const DELIVER_TO = 'deliver.granted';
const PUSH = { stream: ORDERS.name, name: 'granted-push', deliverSubject: DELIVER_TO };
const PULL_CONSUMER = consumerPermissions(PULL);
const PUSH_CONSUMER = consumerPermissions(PUSH);
/** An object large enough that reading it needs flow control. */
const REPORT_BYTES = 8 * 256 * 1024;
/** A key-value bucket and an object store as the library declares them. */
const BUCKET = 'config';
/** The store that declares them. */
const BUCKETS_STORE = 'grants';
const OBJECTS = 'files';
const KV_READER = keyValuePermissions(BUCKET, false);
const KV_WRITER = keyValuePermissions(BUCKET, true);
const OS_READER = objectStorePermissions(OBJECTS, false);
const OS_WRITER = objectStorePermissions(OBJECTS, true);
/** Roles whose every granted subject is shown used and needed, each with its permissions. */
const ROLES = {
  'reader': READER, 'publisher': PUBLISHER, 'pull-consumer': PULL_CONSUMER, 'push-consumer': PUSH_CONSUMER,
  'kv-reader': KV_READER, 'kv-writer': KV_WRITER, 'os-reader': OS_READER, 'os-writer': OS_WRITER,
} as const;

/** Users and their permissions; undefined is everything. */
const PERMISSIONS = new Map<string, Permissions | undefined>([
  ['admin', undefined],
  ['private-reader', streamConsumerPermissions(ORDERS, { inboxPrefix: PRIVATE_INBOX })],
  ['apply', applyJobPermissions(STORE)],
  ['careful', { publish: { allow: ['orders.>'], deny: ['orders.secret'] }, subscribe: { allow: ['_INBOX.>'] } }],
  ['mute', { publish: { allow: [] }, subscribe: { allow: [] } }],
  ...Object.entries(ROLES).flatMap(([role, permissions]) => [
    [role, permissions] as const,
    ...grants(permissions).map((grant, i) => [`${role}-without-${i}`, without(permissions, grant)] as const),
  ]),
]);
/** Each apply check runs for its own store, with a full user and one without the grant. */
const APPLY_GRANTS = grants(applyJobPermissions(STORE));
APPLY_GRANTS.forEach((grant, i) => {
  PERMISSIONS.set(`apply-${i}`, applyJobPermissions(`store-${i}`));
  PERMISSIONS.set(`apply-without-${i}`, without(applyJobPermissions(`store-${i}`), { ...grant, subject: grant.subject.replace(STORE, `store-${i}`) }));
});

/** Passwords nats.conf would misread if the server got them unquoted, and plain ones. */
const PASSWORDS = new Map([...PERMISSIONS.keys()].map((name) => [name, `pw-${name}`]));
PASSWORDS.set('admin', '1234');
PASSWORDS.set('publisher', 'true');
PASSWORDS.set('reader', 'a,b c#d');
PASSWORDS.set('apply', ' $2a$ {x}\n');

const USERS: NatsUser[] = [...PERMISSIONS].map(([name, permissions]) => ({ name, password: { secretName: SECRET, key: name }, permissions }));

describe('users', () => {
  let server: NatsServerHandle;
  let admin: NatsConnection;
  let adminJsm: JetStreamManager;
  let tags = 0;
  /** A fresh name for each consumer a check creates. */
  const tag = () => `c${++tags}`;

  beforeAll(async () => {
    const secrets = new Map(USERS.map((user) => [secretId(user.password), PASSWORDS.get(user.name) as string]));
    server = await startWithAuth(NatsAuth.users(USERS), secrets);
    admin = await connectAs('admin');
    adminJsm = await admin.jetstreamManager();
    await adminJsm.streams.add({ ...ORDERS, storage: StorageType.Memory, allow_direct: true });
    await adminJsm.streams.add({ ...PAYMENTS, storage: StorageType.Memory });
    const js = admin.jetstream();
    for (let i = 0; i < 3; i++) await js.publish('orders.created', codec.encode(`order ${i}`));
    for (let i = 0; i < BULK.count; i++) await js.publish('orders.bulk', new Uint8Array(BULK.bytes));
    await adminJsm.consumers.add(ORDERS.name, declaredConsumerConfig({ durable_name: PULL.name, filter_subject: 'orders.granted' }) as never);
    const seed = admin.jetstream();
    // The bucket and the object store, declared with the library and created by the apply program.
    expect((await applyBuckets()).exitCode).toBe(ExitCode.OK);
    const kv = await seed.views.kv(BUCKET, { bindOnly: true, allow_direct: true });
    await kv.put('greeting', codec.encode('hello'));
    // Five revisions of a large value: reading their history needs flow control.
    for (let i = 0; i < 5; i++) await kv.put('large', new Uint8Array(BULK.bytes));
    await (await seed.views.os(OBJECTS)).putBlob({ name: 'report' }, new Uint8Array(REPORT_BYTES));
  });

  afterAll(async () => {
    await admin?.close();
    await server?.stop();
  });

  /** Runs the apply program, as the admin, on a store declaring the bucket and the object store the grants read and write. */
  async function applyBuckets(): Promise<{ exitCode: ExitCode; out: string[] }> {
    const chart = new Chart(Testing.app(), 'grants');
    const store = new StreamStore(chart, BUCKETS_STORE);
    store.addKeyValue(BUCKET, { history: 5 });
    store.addObjectStore(OBJECTS);
    const definitions = path.join(makeTempDir(), 'streams.json');
    fs.writeFileSync(definitions, JSON.stringify({ ...declaredStreams(Testing.synth(chart), BUCKETS_STORE), generation: 0 }));
    const out: string[] = [];
    const { exitCode } = await runApply(
      { command: 'apply', server: server.url, definitions, waitMs: 5_000, concurrency: 4, ownerReplicas: 1, lockTtlMs: 30_000, auth: { user: 'admin', password: PASSWORDS.get('admin') } },
      { out: (line) => out.push(line), err: (line) => out.push(line) },
    );
    return { exitCode, out };
  }

  function connectAs(user: string, options: { inboxPrefix?: string } = {}): Promise<NatsConnection> {
    return connect({ servers: server.url, user, pass: PASSWORDS.get(user), reconnect: false, timeout: REQUEST_TIMEOUT_MS, ...options });
  }

  /** Runs `work` on a new connection as `user`; returns what it threw and the violations the server reported. */
  async function runAs(user: string, work: (nc: NatsConnection) => Promise<void>, options: { inboxPrefix?: string } = {}) {
    const nc = await connectAs(user, options);
    const violations: Violation[] = [];
    const statuses = nc.status();
    const watching = (async () => {
      for await (const status of statuses) {
        if (status.type === Events.Error && status.permissionContext) violations.push(status.permissionContext);
      }
    })();
    let error: unknown;
    try {
      await work(nc);
      // The server reports a refused publish before it answers the flush's ping.
      await nc.flush();
    } catch (thrown) {
      error = thrown;
    }
    await nc.close();
    // close() does not end the status iterator; its implementation has stop(), its type does not.
    (statuses as unknown as { stop(): void }).stop();
    await watching;
    return { error, violations };
  }

  const messages = async (stream: string) => (await adminJsm.streams.info(stream)).state.messages;
  const durable = (name: string, config: Record<string, unknown> = {}) =>
    adminJsm.consumers.add(ORDERS.name, { durable_name: name, ack_policy: AckPolicy.Explicit, ...config });
  const manager = async (nc: NatsConnection) =>
    (await nc.jetstreamManager({ checkAPI: false, timeout: REQUEST_TIMEOUT_MS })) as JetStreamManager & { direct: DirectStreamAPI };
  const jetStream = (nc: NatsConnection) => nc.jetstream({ timeout: REQUEST_TIMEOUT_MS });

  /** A raw JetStream API request; throws the server's error. */
  async function api(nc: NatsConnection, subject: string, body: unknown): Promise<Record<string, any>> {
    const answer = json.decode((await nc.request(subject, json.encode(body), { timeout: REQUEST_TIMEOUT_MS })).data) as Record<string, any>;
    if (answer.error) throw new Error(answer.error.description);
    return answer;
  }

  test('refuses a connection without credentials and one with a wrong password', async () => {
    await expect(connect({ servers: server.url, reconnect: false })).rejects.toMatchObject({ code: 'AUTHORIZATION_VIOLATION' });
    await expect(connect({ servers: server.url, user: 'admin', pass: '12345', reconnect: false }))
      .rejects.toMatchObject({ code: 'AUTHORIZATION_VIOLATION' });
    await expect(connect({ servers: server.url, user: 'nobody', pass: '1234', reconnect: false }))
      .rejects.toMatchObject({ code: 'AUTHORIZATION_VIOLATION' });
  });

  test('takes every password exactly as stored: a number, a boolean, commas, spaces, $ and a trailing newline', async () => {
    for (const user of ['admin', 'publisher', 'reader', 'apply']) {
      const { error } = await runAs(user, async () => {});
      expect([user, error]).toEqual([user, undefined]);
    }
  });

  test('a publisher publishes to its stream with an ack, and not to another stream', async () => {
    const before = await messages(ORDERS.name);
    const { error, violations } = await runAs('publisher', async (nc) => {
      const ack = await jetStream(nc).publish('orders.created', codec.encode('from the publisher'));
      expect(ack.stream).toBe(ORDERS.name);
      await expect(jetStream(nc).publish('payments.settled', codec.encode('no'))).rejects.toMatchObject({ code: 'PERMISSIONS_VIOLATION' });
    });
    expect(error).toBeUndefined();
    expect(violations).toEqual([{ operation: 'publish', subject: 'payments.settled' }]);
    expect(await messages(ORDERS.name)).toBe(before + 1);
    expect(await messages(PAYMENTS.name)).toBe(0);
  });

  test('a reader creates a consumer and fetches, and cannot publish to its stream', async () => {
    const before = await messages(ORDERS.name);
    const name = tag();
    const { error, violations } = await runAs('reader', async (nc) => {
      await (await manager(nc)).consumers.add(ORDERS.name, { durable_name: name, ack_policy: AckPolicy.Explicit, filter_subject: 'orders.created' });
      const consumer = await jetStream(nc).consumers.get(ORDERS.name, name);
      const fetched: string[] = [];
      for await (const m of await consumer.fetch({ max_messages: 2, expires: 1_000 })) {
        fetched.push(m.string());
        await m.ackAck();
      }
      expect(fetched).toEqual(['order 0', 'order 1']);
      await expect(jetStream(nc).publish('orders.created', codec.encode('no'))).rejects.toMatchObject({ code: 'PERMISSIONS_VIOLATION' });
      nc.publish('orders.created', codec.encode('no'));
    });
    expect(error).toBeUndefined();
    expect(violations).toEqual([{ operation: 'publish', subject: 'orders.created' }, { operation: 'publish', subject: 'orders.created' }]);
    expect(await messages(ORDERS.name)).toBe(before);
    expect((await adminJsm.consumers.info(ORDERS.name, name)).ack_floor.stream_seq).toBe(2);
  });

  test('deny wins over allow whatever the order', async () => {
    const { violations } = await runAs('careful', async (nc) => {
      await jetStream(nc).publish('orders.fine', codec.encode('yes'));
      await expect(jetStream(nc).publish('orders.secret', codec.encode('no'))).rejects.toMatchObject({ code: 'PERMISSIONS_VIOLATION' });
    });
    expect(violations).toEqual([{ operation: 'publish', subject: 'orders.secret' }]);
  });

  test('an empty allow list allows nothing', async () => {
    const { violations } = await runAs('mute', async (nc) => {
      nc.publish('orders.created');
      await nc.flush();
      nc.subscribe('orders.>');
    });
    expect(violations).toEqual([{ operation: 'publish', subject: 'orders.created' }, { operation: 'subscription', subject: 'orders.>', queue: undefined }]);
  });

  /** For each subject a reader is granted, a client operation that needs it. */
  const READER_USES: Record<string, (nc: NatsConnection) => Promise<void>> = {
    'publish $JS.API.INFO': async (nc) => {
      await nc.jetstreamManager({ timeout: REQUEST_TIMEOUT_MS });
    },
    'publish $JS.API.STREAM.INFO.ORDERS': async (nc) => {
      expect((await jetStream(nc).streams.get(ORDERS.name)).name).toBe(ORDERS.name);
    },
    'publish $JS.API.STREAM.NAMES': async (nc) => {
      // What js.subscribe and js.pullSubscribe do to find the stream of a subject.
      expect(await (await manager(nc)).streams.find('orders.created')).toBe(ORDERS.name);
    },
    'publish $JS.API.CONSUMER.CREATE.ORDERS': async (nc) => {
      const info = await (await manager(nc)).consumers.add(ORDERS.name, { ack_policy: AckPolicy.Explicit, inactive_threshold: nanos(10_000) });
      expect(info.name).toBeTruthy();
    },
    'publish $JS.API.CONSUMER.CREATE.ORDERS.>': async (nc) => {
      const name = tag();
      expect((await (await manager(nc)).consumers.add(ORDERS.name, { durable_name: name, ack_policy: AckPolicy.Explicit })).name).toBe(name);
    },
    'publish $JS.API.CONSUMER.DURABLE.CREATE.ORDERS.*': async (nc) => {
      const name = tag();
      const answer = await api(nc, `$JS.API.CONSUMER.DURABLE.CREATE.ORDERS.${name}`, {
        stream_name: ORDERS.name, config: { durable_name: name, ack_policy: 'explicit' },
      });
      expect(answer.name).toBe(name);
    },
    'publish $JS.API.CONSUMER.INFO.ORDERS.*': async (nc) => {
      const name = tag();
      await durable(name);
      expect((await (await jetStream(nc).consumers.get(ORDERS.name, name)).info()).name).toBe(name);
    },
    'publish $JS.API.CONSUMER.DELETE.ORDERS.*': async (nc) => {
      const name = tag();
      await durable(name);
      expect(await (await manager(nc)).consumers.delete(ORDERS.name, name)).toBe(true);
    },
    'publish $JS.API.CONSUMER.LIST.ORDERS': async (nc) => {
      const names: string[] = [];
      for await (const info of (await manager(nc)).consumers.list(ORDERS.name)) names.push(info.name);
      expect(names.length).toBeGreaterThan(0);
    },
    'publish $JS.API.CONSUMER.NAMES.ORDERS': async (nc) => {
      expect((await api(nc, '$JS.API.CONSUMER.NAMES.ORDERS', {})).consumers.length).toBeGreaterThan(0);
    },
    'publish $JS.API.CONSUMER.MSG.NEXT.ORDERS.*': async (nc) => {
      const name = tag();
      await durable(name, { filter_subject: 'orders.created' });
      const m = await (await jetStream(nc).consumers.get(ORDERS.name, name)).next({ expires: 1_000 });
      expect(m?.string()).toBe('order 0');
    },
    'publish $JS.ACK.ORDERS.>': async (nc) => {
      const name = tag();
      await durable(name, { filter_subject: 'orders.created' });
      const m = await (await jetStream(nc).consumers.get(ORDERS.name, name)).next({ expires: 1_000 });
      expect(await m?.ackAck({ timeout: REQUEST_TIMEOUT_MS })).toBe(true);
    },
    'publish $JS.FC.ORDERS.>': async (nc) => {
      // A push consumer delivering to an inbox; nats.js answers the server's flow control requests.
      const options = consumerOpts().bindStream(ORDERS.name).deliverTo(createInbox()).filterSubject('orders.bulk')
        .flowControl().idleHeartbeat(1_000).ackNone().deliverAll();
      const subscription = await jetStream(nc).subscribe('orders.bulk', options);
      let received = 0;
      const timer = setTimeout(() => subscription.unsubscribe(), 3_000);
      for await (const _ of subscription) if (++received === BULK.count) break;
      clearTimeout(timer);
      expect(received).toBe(BULK.count);
    },
    'publish $JS.API.DIRECT.GET.ORDERS': async (nc) => {
      expect((await (await manager(nc)).direct.getMessage(ORDERS.name, { seq: 1 })).string()).toBe('order 0');
    },
    'publish $JS.API.DIRECT.GET.ORDERS.>': async (nc) => {
      expect((await (await manager(nc)).direct.getMessage(ORDERS.name, { last_by_subj: 'orders.bulk' })).subject).toBe('orders.bulk');
    },
    'publish $JS.API.STREAM.MSG.GET.ORDERS': async (nc) => {
      expect((await (await manager(nc)).streams.getMessage(ORDERS.name, { seq: 1 })).string()).toBe('order 0');
    },
    'subscribe _INBOX.>': async (nc) => {
      await jetStream(nc).streams.get(ORDERS.name);
    },
  };

  /** Publishes `text` to `orders.granted` for the pull consumer. */
  const offer = async (text: string) => { await admin.jetstream().publish('orders.granted', codec.encode(text)); };
  const pullConsumer = (nc: NatsConnection) => jetStream(nc).consumers.get(ORDERS.name, PULL.name);

  /** For each subject a client of the declared pull consumer is granted, a client operation that needs it. */
  const PULL_USES: Record<string, (nc: NatsConnection) => Promise<void>> = {
    [`publish $JS.API.CONSUMER.INFO.ORDERS.${PULL.name}`]: async (nc) => {
      expect((await (await pullConsumer(nc)).info()).name).toBe(PULL.name);
    },
    [`publish $JS.API.CONSUMER.MSG.NEXT.ORDERS.${PULL.name}`]: async (nc) => {
      await offer('next');
      const m = await (await pullConsumer(nc)).next({ expires: 1_000 });
      expect(m?.subject).toBe('orders.granted');
      m?.ack();
    },
    [`publish $JS.ACK.ORDERS.${PULL.name}.>`]: async (nc) => {
      await offer('ack');
      const m = await (await pullConsumer(nc)).next({ expires: 1_000 });
      expect(await m?.ackAck({ timeout: REQUEST_TIMEOUT_MS })).toBe(true);
    },
    'subscribe _INBOX.>': async (nc) => {
      await (await pullConsumer(nc)).info();
    },
  };

  /** Deletes and makes again the declared push consumer, so each check gets every bulk message delivered anew. */
  async function freshPushConsumer(): Promise<void> {
    await adminJsm.consumers.delete(ORDERS.name, PUSH.name).catch(() => undefined);
    await adminJsm.consumers.add(ORDERS.name, declaredConsumerConfig({
      durable_name: PUSH.name, deliver_subject: DELIVER_TO, filter_subject: 'orders.bulk', flow_control: true, idle_heartbeat: nanos(1_000), max_waiting: undefined,
    }) as never);
  }

  /** Receives `count` deliveries of the push consumer, as a plain subscriber of its deliver subject; flow control requests are answered. */
  async function receivePushed(nc: NatsConnection, count: number, onMessage: (m: Msg) => void): Promise<number> {
    await freshPushConsumer();
    let received = 0;
    const subscription = nc.subscribe(DELIVER_TO);
    const timer = setTimeout(() => subscription.unsubscribe(), 3_000);
    for await (const m of subscription) {
      // Heartbeats and flow control requests carry a status header and no payload.
      if (m.headers?.code === 100) {
        if (m.reply) m.respond();
        continue;
      }
      onMessage(m);
      if (++received === count) break;
    }
    clearTimeout(timer);
    return received;
  }

  /** For each subject a client of the declared push consumer is granted, a client operation that needs it. */
  const PUSH_USES: Record<string, (nc: NatsConnection) => Promise<void>> = {
    [`publish $JS.API.CONSUMER.INFO.ORDERS.${PUSH.name}`]: async (nc) => {
      await freshPushConsumer();
      expect((await api(nc, `$JS.API.CONSUMER.INFO.ORDERS.${PUSH.name}`, {})).name).toBe(PUSH.name);
    },
    [`subscribe ${DELIVER_TO}`]: async (nc) => {
      expect(await receivePushed(nc, 1, () => undefined)).toBe(1);
    },
    [`publish $JS.ACK.ORDERS.${PUSH.name}.>`]: async (nc) => {
      expect(await receivePushed(nc, 1, (m) => m.respond(codec.encode('+ACK')))).toBe(1);
    },
    // The server asks for flow control once the deliveries in flight pass its window: every bulk message.
    [`publish $JS.FC.ORDERS.${PUSH.name}.*`]: async (nc) => {
      expect(await receivePushed(nc, BULK.count, (m) => m.respond(codec.encode('+ACK')))).toBe(BULK.count);
    },
    'subscribe _INBOX.>': async (nc) => {
      await freshPushConsumer();
      await api(nc, `$JS.API.CONSUMER.INFO.ORDERS.${PUSH.name}`, {});
    },
  };

  /** The bucket as a client binds it: through its stream info, or bound only (then it reads through the stream unless told direct). */
  const bucket = (nc: NatsConnection, options: { bindOnly?: boolean } = {}) => jetStream(nc).views.kv(BUCKET, options);
  const KV_READ_USES: Record<string, (nc: NatsConnection) => Promise<void>> = {
    'publish $JS.API.INFO': async (nc) => {
      await bucket(nc, { bindOnly: true });
    },
    'publish $JS.API.STREAM.INFO.KV_config': async (nc) => {
      expect((await (await bucket(nc)).status()).history).toBe(5);
    },
    'publish $JS.API.DIRECT.GET.KV_config': async (nc) => {
      expect((await (await bucket(nc)).get('greeting', { revision: 1 }))?.string()).toBe('hello');
    },
    'publish $JS.API.DIRECT.GET.KV_config.>': async (nc) => {
      expect((await (await bucket(nc)).get('greeting'))?.string()).toBe('hello');
    },
    'publish $JS.API.STREAM.MSG.GET.KV_config': async (nc) => {
      expect((await (await bucket(nc, { bindOnly: true })).get('greeting'))?.string()).toBe('hello');
    },
    'publish $JS.API.CONSUMER.CREATE.KV_config': async (nc) => {
      expect(await collect((await bucket(nc)).keys())).toContain('greeting');
    },
    'publish $JS.FC.KV_config.>': async (nc) => {
      const history = await (await bucket(nc)).history({ key: 'large' });
      let count = 0;
      for await (const _ of history) count++;
      expect(count).toBe(5);
    },
    'subscribe _INBOX.>': async (nc) => {
      await (await bucket(nc)).status();
    },
  };
  const KV_WRITE_USES: Record<string, (nc: NatsConnection) => Promise<void>> = {
    ...KV_READ_USES,
    'publish $KV.config.>': async (nc) => {
      expect(await (await bucket(nc)).put('written', codec.encode('by the writer'))).toBeGreaterThan(0);
    },
  };

  const objects = (nc: NatsConnection) => jetStream(nc).views.os(OBJECTS);
  const OS_READ_USES: Record<string, (nc: NatsConnection) => Promise<void>> = {
    'publish $JS.API.INFO': async (nc) => {
      await objects(nc);
    },
    'publish $JS.API.STREAM.INFO.OBJ_files': async (nc) => {
      expect((await (await objects(nc)).status()).bucket).toBe(OBJECTS);
    },
    'publish $JS.API.STREAM.NAMES': async (nc) => {
      expect((await (await objects(nc)).getBlob('report'))?.length).toBe(REPORT_BYTES);
    },
    // As nats.go reads an object's metadata: the last message of its subject, from any replica.
    'publish $JS.API.DIRECT.GET.OBJ_files.>': async (nc) => {
      const meta = await (await manager(nc)).direct.getMessage('OBJ_files', { last_by_subj: `$O.files.M.${Buffer.from('report').toString('base64url')}` });
      expect(meta.json<{ name: string }>().name).toBe('report');
    },
    'publish $JS.API.STREAM.MSG.GET.OBJ_files': async (nc) => {
      expect((await (await objects(nc)).info('report'))?.size).toBe(REPORT_BYTES);
    },
    'publish $JS.API.CONSUMER.CREATE.OBJ_files': async (nc) => {
      expect((await (await objects(nc)).getBlob('report'))?.length).toBe(REPORT_BYTES);
    },
    'publish $JS.FC.OBJ_files.>': async (nc) => {
      expect((await (await objects(nc)).getBlob('report'))?.length).toBe(REPORT_BYTES);
    },
    'subscribe _INBOX.>': async (nc) => {
      await (await objects(nc)).status();
    },
  };
  const OS_WRITE_USES: Record<string, (nc: NatsConnection) => Promise<void>> = {
    ...OS_READ_USES,
    'publish $O.files.>': async (nc) => {
      expect((await (await objects(nc)).putBlob({ name: 'written' }, new Uint8Array(1024))).size).toBe(1024);
    },
    // Replacing an object purges the chunks of the one it replaces.
    'publish $JS.API.STREAM.PURGE.OBJ_files': async (nc) => {
      const store = await objects(nc);
      await store.putBlob({ name: 'replaced' }, new Uint8Array(1024));
      await store.putBlob({ name: 'replaced' }, new Uint8Array(2048));
    },
  };

  /** For each subject a publisher is granted, a client operation that needs it. */
  const PUBLISHER_USES: Record<string, (nc: NatsConnection) => Promise<void>> = {
    'publish orders.>': async (nc) => {
      expect((await jetStream(nc).publish('orders.shipped', codec.encode('shipped'))).stream).toBe(ORDERS.name);
    },
    'publish $JS.API.INFO': READER_USES['publish $JS.API.INFO'],
    'publish $JS.API.STREAM.INFO.ORDERS': READER_USES['publish $JS.API.STREAM.INFO.ORDERS'],
    'subscribe _INBOX.>': async (nc) => {
      await jetStream(nc).publish('orders.shipped', codec.encode('shipped'));
    },
  };

  const USES: Record<keyof typeof ROLES, Record<string, (nc: NatsConnection) => Promise<void>>> = {
    'reader': READER_USES, 'publisher': PUBLISHER_USES, 'pull-consumer': PULL_USES, 'push-consumer': PUSH_USES,
    'kv-reader': KV_READ_USES, 'kv-writer': KV_WRITE_USES, 'os-reader': OS_READ_USES, 'os-writer': OS_WRITE_USES,
  };

  describe.each(Object.entries(ROLES).map(([role, permissions]) => [role, permissions, USES[role as keyof typeof ROLES]] as const))('%s permissions', (role, permissions, uses) => {
    test('have one client operation for each granted subject', () => {
      expect(grants(permissions).map(grantName).sort()).toEqual(Object.keys(uses).sort());
    });

    test.each(grants(permissions).map((grant, i) => [grantName(grant), grant, i] as const))(
      '%s: used by the client, refused without it',
      async (name, grant, i) => {
        const granted = await runAs(role, uses[name]);
        expect(granted).toEqual({ error: undefined, violations: [] });
        const refused = await runAs(`${role}-without-${i}`, uses[name]);
        expect(refused.violations.filter((v) => refuses(v, grant))).not.toEqual([]);
      },
    );
  });

  test('a client allowed _INBOX.> reads what others fetch to theirs; an own inbox prefix keeps it private', async () => {
    const sniffer = await connectAs('publisher');
    const sniffed: string[] = [];
    sniffer.subscribe('_INBOX.>', { callback: (_, m) => sniffed.push(codec.decode(m.data)) });
    const refused = new Promise((resolve) => sniffer.subscribe(`${PRIVATE_INBOX}.>`, { callback: (e) => resolve(e) }));
    await sniffer.flush();
    await expect(refused).resolves.toMatchObject({ code: 'PERMISSIONS_VIOLATION' });
    const fetchOne = async (user: string, inboxPrefix?: string) => {
      const name = tag();
      await durable(name, { filter_subject: 'orders.created' });
      // The reply to the admin's request went to the sniffer too: let it arrive, then forget it.
      await sniffer.flush();
      sniffed.length = 0;
      const result = await runAs(user, async (nc) => {
        expect((await (await jetStream(nc).consumers.get(ORDERS.name, name)).next({ expires: 1_000 }))?.string()).toBe('order 0');
      }, { inboxPrefix });
      await sniffer.flush();
      return result;
    };

    expect(await fetchOne('reader')).toEqual({ error: undefined, violations: [] });
    expect(sniffed).toContain('order 0');
    expect(await fetchOne('private-reader', PRIVATE_INBOX)).toEqual({ error: undefined, violations: [] });
    expect(sniffed).toEqual([]);
    await sniffer.close();
  });

  test('documents: nats-server 2.9.10 does not check a push consumer\'s deliver subject against its creator\'s permissions', async () => {
    // A subscriber on a subject PAYMENTS captures makes the server deliver there; PAYMENTS stores the copies.
    const listener = admin.subscribe('payments.injected', { callback: () => undefined });
    await admin.flush();
    const before = await messages(PAYMENTS.name);
    const { error } = await runAs('reader', async (nc) => {
      const jsm = await manager(nc);
      await expect(jsm.consumers.add(ORDERS.name, { deliver_subject: 'orders.loop', ack_policy: AckPolicy.None }))
        .rejects.toThrow('consumer deliver subject forms a cycle');
      await jsm.consumers.add(ORDERS.name, {
        durable_name: tag(), deliver_subject: 'payments.injected', filter_subject: 'orders.created',
        ack_policy: AckPolicy.None, deliver_policy: DeliverPolicy.All,
      });
    });
    expect(error).toBeUndefined();
    await waitFor(async () => (await messages(PAYMENTS.name)) > before);
    listener.unsubscribe();
  });

  test('a client of a declared consumer fetches and acknowledges, and cannot create, delete or read another consumer (the audit\'s case)', async () => {
    await durable('other-app', { filter_subject: 'orders.created' });
    await offer('audited');
    const fetched = await runAs('pull-consumer', async (nc) => {
      const m = await (await pullConsumer(nc)).next({ expires: 1_000 });
      expect(await m?.ackAck({ timeout: REQUEST_TIMEOUT_MS })).toBe(true);
    });
    expect(fetched).toEqual({ error: undefined, violations: [] });
    const violations: Violation[] = [];
    for (const subject of [
      '$JS.API.CONSUMER.DELETE.ORDERS.other-app', '$JS.API.CONSUMER.CREATE.ORDERS.mine', '$JS.API.CONSUMER.DURABLE.CREATE.ORDERS.mine',
      '$JS.API.CONSUMER.MSG.NEXT.ORDERS.other-app', `$JS.API.CONSUMER.DELETE.ORDERS.${PULL.name}`,
    ]) {
      // One connection each: the client reports one violation per connection.
      violations.push(...(await runAs('pull-consumer', async (nc) => nc.publish(subject, json.encode({})))).violations);
    }
    expect(violations.map((v) => v.subject)).toEqual([
      '$JS.API.CONSUMER.DELETE.ORDERS.other-app', '$JS.API.CONSUMER.CREATE.ORDERS.mine', '$JS.API.CONSUMER.DURABLE.CREATE.ORDERS.mine',
      '$JS.API.CONSUMER.MSG.NEXT.ORDERS.other-app', `$JS.API.CONSUMER.DELETE.ORDERS.${PULL.name}`,
    ]);
    expect((await adminJsm.consumers.info(ORDERS.name, 'other-app')).name).toBe('other-app');
  });

  test('the program made the bucket and the object store the grants use; after they were written and read, a second run changes nothing', async () => {
    const again = await applyBuckets();
    expect(again.exitCode).toBe(ExitCode.OK);
    expect(again.out.filter((line) => /^\[\d+\/\d+\]/.test(line)).map((line) => line.replace(/^\[\d+\/\d+\] /, '')).sort())
      .toEqual(expect.arrayContaining(['unchanged KV_config', 'unchanged OBJ_files']));
    expect(again.out.some((line) => line.startsWith('ownership record'))).toBe(false);
  });

  test('a bucket reader reads and cannot write; a writer writes; an object store reader reads and cannot put', async () => {
    const { violations } = await runAs('kv-reader', async (nc) => {
      const kv = await bucket(nc);
      expect((await kv.get('greeting'))?.string()).toBe('hello');
      await expect(kv.put('greeting', codec.encode('no'))).rejects.toMatchObject({ code: 'PERMISSIONS_VIOLATION' });
    });
    expect(violations.map((v) => v.subject)).toEqual(['$KV.config.greeting']);
    const written = await runAs('kv-writer', async (nc) => { await (await bucket(nc)).put('greeting', codec.encode('hello')); });
    expect(written).toEqual({ error: undefined, violations: [] });
    const reader = await runAs('os-reader', async (nc) => {
      const store = await objects(nc);
      expect((await store.getBlob('report'))?.length).toBe(REPORT_BYTES);
      await expect(store.putBlob({ name: 'no' }, new Uint8Array(10))).rejects.toThrow();
    });
    expect(reader.violations.map((v) => v.subject)[0]).toMatch(/^\$O\.files\.C\./);
    expect(await (await admin.jetstream().views.os(OBJECTS)).info('no')).toBeNull();
  });

  describe('the apply Job', () => {
    let dir: string;
    beforeAll(() => {
      dir = makeTempDir();
    });

    /** Runs the apply program as `user` for `store` with streams `name` (Delete policy), each with `overrides`. */
    async function apply(
      user: string, store: string, command: 'plan' | 'apply', names: string[], overrides: Record<string, unknown> = {}, consumers: string[] = [],
      consumerOverrides: Record<string, unknown> = {},
    ) {
      const definitions = path.join(dir, `${user}.json`);
      const streams = names.map((name) => ({
        retentionPolicy: 'Delete',
        config: declaredConfig({ name, subjects: [`${name.toLowerCase()}.>`], ...overrides }),
        consumers: consumers.map((durable) => ({ retentionPolicy: 'Delete', config: declaredConsumerConfig({ durable_name: durable, ...consumerOverrides }) })),
      }));
      fs.writeFileSync(definitions, JSON.stringify({ store, version: DEFAULT_NATS_SERVER_VERSION.version, streams }));
      const lines: string[] = [];
      const outcome = await runApply(
        { command, server: server.url, definitions, waitMs: 1_000, concurrency: 4, ownerReplicas: 1, lockTtlMs: 30_000, auth: { user, password: PASSWORDS.get(user) } },
        { out: (line) => lines.push(line), err: (line) => lines.push(line) },
      );
      return { exitCode: outcome.exitCode, output: lines.join('\n') };
    }

    /** Writes the record of `store` as pieces, as a record too large for one message is kept. */
    async function recordInPieces(user: string, store: string): Promise<void> {
      await apply(user, store, 'apply', []);
      const kv = await admin.jetstream().views.kv(OWNERSHIP_BUCKET, { bindOnly: true, allow_direct: true });
      const current = await kv.get(store);
      const text = encodeOwnership({ managed: new Map(), applied: { generation: 0 } });
      await kv.put(`${store}.0a1b.0`, text.slice(0, 10));
      await kv.put(`${store}.0a1b.1`, text.slice(10));
      await kv.update(store, JSON.stringify({ pieces: { epoch: '0a1b', count: 2 } }), current?.revision ?? 0);
    }

    /** A second writer of a new record loses: nats.js reads the key (DIRECT.GET) to tell why. */
    async function losingCreate(user: string, store: string): Promise<string> {
      // As the program connects: its user may only read replies under its own prefix.
      const nc = await connectAs(user, { inboxPrefix: APPLY_INBOX_PREFIX });
      try {
        await writeOwnership(nc, store, { managed: new Map(), applied: { generation: 0 } }, { revision: 0 }, 1);
        return 'written';
      } catch (error) {
        return (error as Error).message;
      } finally {
        await nc.close();
      }
    }

    test('creates, updates and deletes streams with runApply, and cannot publish to them', async () => {
      expect(await apply('apply', STORE, 'apply', ['JOB_A', 'JOB_B'])).toMatchObject({ exitCode: ExitCode.OK });
      const updated = await apply('apply', STORE, 'apply', ['JOB_A', 'JOB_B'], { max_age: nanos(3_600_000) });
      expect(updated).toMatchObject({ exitCode: ExitCode.OK });
      expect(updated.output).toContain('updated JOB_A');
      const deleted = await apply('apply', STORE, 'apply', ['JOB_A'], { max_age: nanos(3_600_000) });
      expect(deleted).toMatchObject({ exitCode: ExitCode.OK });
      expect(deleted.output).toContain('deleted JOB_B');
      expect(await apply('apply', STORE, 'plan', ['JOB_A'], { max_age: nanos(3_600_000) })).toMatchObject({ exitCode: ExitCode.OK });
      expect((await adminJsm.streams.info('JOB_A')).config.max_age).toBe(nanos(3_600_000));
      await expect(adminJsm.streams.info('JOB_B')).rejects.toThrow('stream not found');
      expect(await losingCreate('apply', STORE)).toContain('was changed by another run');

      const { violations } = await runAs('apply', async (nc) => {
        await expect(jetStream(nc).publish('job_a.created', codec.encode('no'))).rejects.toMatchObject({ code: 'PERMISSIONS_VIOLATION' });
        await expect(jetStream(nc).publish(`$KV.${OWNERSHIP_BUCKET}.other-store`, codec.encode('{}')))
          .rejects.toMatchObject({ code: 'PERMISSIONS_VIOLATION' });
      }, { inboxPrefix: APPLY_INBOX_PREFIX });
      expect(violations.map((v) => v.subject)).toEqual(['job_a.created', `$KV.${OWNERSHIP_BUCKET}.other-store`]);
      expect(await messages('JOB_A')).toBe(0);
    });

    test('cannot delete or reconfigure the record and lock buckets, nor read another store\'s record', async () => {
      expect(await apply('admin', 'other-store', 'apply', ['OTHER_A'])).toMatchObject({ exitCode: ExitCode.OK });
      expect(await apply('apply', STORE, 'apply', [])).toMatchObject({ exitCode: ExitCode.OK });
      const violations: Violation[] = [];
      for (const subject of [
        `$JS.API.STREAM.DELETE.KV_${OWNERSHIP_BUCKET}`, `$JS.API.STREAM.UPDATE.KV_${LOCK_BUCKET}`,
        `$JS.API.DIRECT.GET.KV_${OWNERSHIP_BUCKET}.$KV.${OWNERSHIP_BUCKET}.other-store`,
      ]) {
        // One connection each: the client reports one violation per connection.
        violations.push(...(await runAs('apply', async (nc) => nc.publish(subject, codec.encode('{}')), { inboxPrefix: APPLY_INBOX_PREFIX })).violations);
      }
      expect(violations.map((v) => v.subject)).toEqual([
        `$JS.API.STREAM.DELETE.KV_${OWNERSHIP_BUCKET}`, `$JS.API.STREAM.UPDATE.KV_${LOCK_BUCKET}`,
        `$JS.API.DIRECT.GET.KV_${OWNERSHIP_BUCKET}.$KV.${OWNERSHIP_BUCKET}.other-store`,
      ]);
      expect((await adminJsm.streams.info(`KV_${OWNERSHIP_BUCKET}`)).config.name).toBe(`KV_${OWNERSHIP_BUCKET}`);
    });

    test('cannot read other clients\' replies: only its own inbox prefix', async () => {
      const { violations } = await runAs('apply', async (nc) => {
        nc.subscribe('_INBOX.>');
        await nc.flush();
      }, { inboxPrefix: APPLY_INBOX_PREFIX });
      expect(violations).toMatchObject([{ operation: 'subscription', subject: '_INBOX.>' }]);
    });

    /** For each subject the Job is granted, what needs it; `setup` runs as the full user first. */
    const APPLY_USES: Record<string, { setup?: (user: string, store: string, stream: string) => Promise<unknown>; run: (user: string, store: string, stream: string) => Promise<string> }> = {
      'publish $JS.API.INFO': { run: async (user, store) => (await apply(user, store, 'plan', [])).output },
      'publish $JS.API.STREAM.LIST': { run: async (user, store) => (await apply(user, store, 'plan', [])).output },
      'publish $JS.API.STREAM.CREATE.*': {
        setup: (user, store) => apply(user, store, 'apply', []), // the bucket exists: only the stream is left to create
        run: async (user, store, stream) => (await apply(user, store, 'apply', [stream])).output,
      },
      'publish $JS.API.STREAM.UPDATE.*': {
        setup: (user, store, stream) => apply(user, store, 'apply', [stream]),
        run: async (user, store, stream) => (await apply(user, store, 'apply', [stream], { max_age: nanos(60_000) })).output,
      },
      'publish $JS.API.STREAM.DELETE.*': {
        setup: (user, store, stream) => apply(user, store, 'apply', [stream]),
        run: async (user, store) => (await apply(user, store, 'apply', [])).output,
      },
      'publish $JS.API.CONSUMER.LIST.*': {
        setup: (user, store, stream) => apply(user, store, 'apply', [stream], {}, ['reader']),
        run: async (user, store, stream) => (await apply(user, store, 'plan', [stream], {}, ['reader'])).output,
      },
      'publish $JS.API.CONSUMER.DURABLE.CREATE.*.*': {
        setup: (user, store, stream) => apply(user, store, 'apply', [stream]),
        run: async (user, store, stream) => (await apply(user, store, 'apply', [stream], {}, ['reader'])).output,
      },
      'publish $JS.API.CONSUMER.DELETE.*.*': {
        setup: (user, store, stream) => apply(user, store, 'apply', [stream], {}, ['reader']),
        run: async (user, store, stream) => (await apply(user, store, 'apply', [stream])).output,
      },
      'publish $JS.API.CONSUMER.PAUSE.*.*': {
        setup: (user, store, stream) => apply(user, store, 'apply', [stream], {}, ['reader']),
        run: async (user, store, stream) => (await apply(user, store, 'apply', [stream], {}, ['reader'], { pause_until: '2030-01-01T00:00:00Z' })).output,
      },
      'publish $JS.API.STREAM.INFO.KV_jetstream-cdk8s': { run: async (user, store, stream) => (await apply(user, store, 'apply', [stream])).output },
      'publish $JS.API.DIRECT.GET.KV_jetstream-cdk8s.$KV.jetstream-cdk8s.events': {
        setup: (user, store, stream) => apply(user, store, 'apply', [stream]),
        run: async (user, store, stream) => (await apply(user, store, 'plan', [stream])).output,
      },
      // A record in pieces: its key names them, each read by its own subject.
      'publish $JS.API.DIRECT.GET.KV_jetstream-cdk8s.$KV.jetstream-cdk8s.events.>': {
        setup: (user, store) => recordInPieces(user, store),
        run: async (user, store, stream) => (await apply(user, store, 'plan', [stream])).output,
      },
      'publish $KV.jetstream-cdk8s.events': { run: async (user, store, stream) => (await apply(user, store, 'apply', [stream])).output },
      // A record in pieces replaced by one that fits its key: the earlier pieces are removed.
      'publish $KV.jetstream-cdk8s.events.>': {
        setup: (user, store) => recordInPieces(user, store),
        run: async (user, store, stream) => (await apply(user, store, 'apply', [stream])).output,
      },
      'publish $JS.API.STREAM.INFO.KV_jetstream-cdk8s-locks': { run: async (user, store, stream) => (await apply(user, store, 'apply', [stream])).output },
      // Held by a newer run: the program reads who holds it.
      'publish $JS.API.STREAM.MSG.GET.KV_jetstream-cdk8s-locks': {
        setup: async (user, store) => {
          await apply(user, store, 'apply', []);
          const locks = await admin.jetstream().views.kv(LOCK_BUCKET, { bindOnly: true });
          await locks.create(store, JSON.stringify({ holder: 'newer', since: 'now', generation: 9 }));
        },
        run: async (user, store, stream) => (await apply(user, store, 'apply', [stream])).output,
      },
      'publish $KV.jetstream-cdk8s-locks.events': { run: async (user, store, stream) => (await apply(user, store, 'apply', [stream])).output },
      'subscribe _INBOX_jetstream-apply.>': { run: async (user, store) => (await apply(user, store, 'plan', [])).output },
    };

    test('has one use for each granted subject', () => {
      expect(APPLY_GRANTS.map(grantName).sort()).toEqual(Object.keys(APPLY_USES).sort());
    });

    test.each(APPLY_GRANTS.map((grant, i) => [grantName(grant), grant, i] as const))(
      '%s: refused without it',
      async (name, grant, i) => {
        const store = `store-${i}`;
        const stream = `STREAM_${i}`;
        const { setup, run } = APPLY_USES[name];
        await setup?.(`apply-${i}`, store, stream);
        const output = await run(`apply-without-${i}`, store, stream);
        const subject = grant.subject.replace(STORE, store);
        const refused = [...output.matchAll(/Permissions Violation for (Publish|Subscription) to "([^"]+)"/g)]
          .some(([, operation, refusedSubject]) => refuses({ operation: operation.toLowerCase(), subject: refusedSubject }, { ...grant, subject }));
        expect([output, refused]).toEqual([output, true]);
      },
    );
  });
});

test('documents: nats-server 2.9.10 reads an empty allow list as no restriction', async () => {
  const port = await freePort();
  const server = await startNatsServer({
    config: [
      `listen: "127.0.0.1:${port}"`,
      `http: "127.0.0.1:${await freePort()}"`,
      'authorization {',
      '  users: [',
      '    { user: "raw", password: "pw", permissions: { publish: { allow: [] }, subscribe: { allow: [] } } }',
      '  ]',
      '}',
      '',
    ].join('\n'),
  });
  const nc = await connect({ servers: server.url, user: 'raw', pass: 'pw', reconnect: false });
  const received = new Promise<string>((resolve) => nc.subscribe('orders.>', { callback: (_, m) => resolve(m.subject) }));
  nc.publish('orders.created');
  await expect(received).resolves.toBe('orders.created');
  await nc.close();
  await server.stop();
});

describe('token', () => {
  const TOKEN = { secretName: 'nats-token', key: 'token' };
  let server: NatsServerHandle;

  beforeAll(async () => {
    // Unquoted, the server would read "yes" as a boolean and refuse to start.
    server = await startWithAuth(NatsAuth.token(TOKEN), new Map([[secretId(TOKEN), 'yes']]));
  });

  afterAll(() => server?.stop());

  test('accepts the right token and refuses a wrong one or none', async () => {
    const nc = await connect({ servers: server.url, token: 'yes', reconnect: false });
    expect((await (await nc.jetstreamManager()).getAccountInfo()).streams).toBe(0);
    await nc.close();
    await expect(connect({ servers: server.url, token: 'no', reconnect: false })).rejects.toMatchObject({ code: 'AUTHORIZATION_VIOLATION' });
    await expect(connect({ servers: server.url, reconnect: false })).rejects.toMatchObject({ code: 'AUTHORIZATION_VIOLATION' });
  });
});

describe('authEnvironment', () => {
  test('gives each secret a raw variable from the Secret, then the quoted one nats.conf reads', () => {
    const auth = NatsAuth.users([
      { name: 'orders-reader', password: { secretName: 'readers', key: 'orders' } },
      { name: 'apply', password: { secretName: 'jobs', key: 'apply' } },
    ]);
    expect(authEnvironment(auth)).toEqual([
      { name: 'NATS_USER_APPLY_PASSWORD_RAW', valueFrom: { secretName: 'jobs', key: 'apply' } },
      { name: 'NATS_USER_APPLY_PASSWORD', value: "'$(NATS_USER_APPLY_PASSWORD_RAW)'" },
      { name: 'NATS_USER_ORDERS_READER_PASSWORD_RAW', valueFrom: { secretName: 'readers', key: 'orders' } },
      { name: 'NATS_USER_ORDERS_READER_PASSWORD', value: "'$(NATS_USER_ORDERS_READER_PASSWORD_RAW)'" },
    ]);
    expect(authEnvironment(NatsAuth.token({ secretName: 'nats', key: 'token' }))).toEqual([
      { name: `${TOKEN_VARIABLE}_RAW`, valueFrom: { secretName: 'nats', key: 'token' } },
      { name: TOKEN_VARIABLE, value: "'$(NATS_TOKEN_RAW)'" },
    ]);
    expect(authEnvironment(NatsAuth.none())).toEqual([]);
  });

  test.each([
    ['orders', 'NATS_USER_ORDERS_PASSWORD'],
    ['orders-reader', 'NATS_USER_ORDERS_READER_PASSWORD'],
    ['app.v2_x', 'NATS_USER_APP_V2_X_PASSWORD'],
  ])('names the password variable of user %s %s', (name, variable) => {
    expect(passwordVariable(name)).toBe(variable);
  });

  test.each([
    ['1234', 'interface {} is int64, not string'],
    ['true', 'interface {} is bool, not string'],
    ['a b', "variable reference for 'PW' on line 3 could not be parsed"],
  ])('documents why the quotes: unquoted, nats-server refuses the password %j', async (password, message) => {
    const config = 'authorization {\n  users: [\n    { user: "a", password: $PW }\n  ]\n}\n';
    const result = await checkConfig(config, { env: { PATH: process.env.PATH ?? '', PW: password } });
    expect(result.ok).toBe(false);
    expect(result.output).toContain(message);
  });
});

describe('authProblems', () => {
  const password = { secretName: 'nats-users', key: 'x' };

  test('accepts no authentication, a token and valid users', () => {
    expect(authProblems(NatsAuth.none())).toEqual([]);
    expect(authProblems(NatsAuth.token({ secretName: 'nats', key: 'token' }))).toEqual([]);
    expect(authProblems(NatsAuth.users(USERS))).toEqual([]);
  });

  test('fails on users that share a name or a password variable, bad names, Secret references and subjects', () => {
    const problems = authProblems(NatsAuth.users([
      { name: 'orders-reader', password },
      { name: 'orders.reader', password },
      { name: 'orders-reader', password },
      { name: 'has space', password: { secretName: 'Upper', key: 'a/b' } },
      { name: 'ok', password, permissions: { publish: { allow: ['orders.>'], deny: ['a..b'] }, subscribe: { allow: ['>.x'] } } },
    ])).map(formatProblem);
    expect(problems).toEqual([
      'auth.users[1].name "orders.reader" takes the password variable NATS_USER_ORDERS_READER_PASSWORD of user "orders-reader": names must differ in more than case, "." and "-"',
      'auth.users[2].name "orders-reader" is given twice: user names must be unique',
      'auth.users[3].name "has space" must be letters, digits, ".", "_" and "-"',
      'auth.users[3].password.secretName "Upper" must be a Kubernetes object name (DNS subdomain)',
      'auth.users[3].password.key "a/b" must be a Secret key: letters, digits, ".", "_" and "-"',
      'auth.users[4].permissions.publish.deny[0] "a..b" has an empty token',
      'auth.users[4].permissions.subscribe.allow[0] ">.x" ">" must be the last token',
    ]);
  });

  test('fails on no users and on a bad token reference', () => {
    expect(authProblems(NatsAuth.users([])).map(formatProblem)).toEqual(['auth.users [] must name at least one user: no client could connect']);
    expect(authProblems(NatsAuth.token({ secretName: 'nats', key: '' }), 'store.auth').map(formatProblem))
      .toEqual(['store.auth.token.key "" must be a Secret key: letters, digits, ".", "_" and "-"']);
  });
});

describe('permission helpers', () => {
  test('the publisher may publish to its stream subjects and read the stream info, nothing else', () => {
    expect(streamPublisherPermissions({ name: 'ORDERS', subjects: ['orders.*', 'returns.>'] })).toEqual({
      publish: { allow: ['orders.*', 'returns.>', '$JS.API.INFO', '$JS.API.STREAM.INFO.ORDERS'] },
      subscribe: { allow: ['_INBOX.>'] },
    });
  });

  test('a reader may not publish to any subject of its stream', () => {
    const allowed = streamConsumerPermissions({ name: 'ORDERS', subjects: ['orders.>'] }).publish?.allow ?? [];
    expect(allowed.filter((subject) => subjectsOverlap(subject, 'orders.>'))).toEqual([]);
  });

  test('the inbox prefix replaces _INBOX in the subscribe permission', () => {
    expect(streamConsumerPermissions(ORDERS, { inboxPrefix: '_INBOX_app' }).subscribe).toEqual({ allow: ['_INBOX_app.>'] });
    expect(streamPublisherPermissions(ORDERS, { inboxPrefix: 'app.inbox' }).subscribe).toEqual({ allow: ['app.inbox.>'] });
  });

  test.each([
    ['_INBOX.*', 'inboxPrefix "_INBOX.*" must not contain wildcards'],
    ['>', 'inboxPrefix ">" must not contain wildcards'],
    ['a..b', 'inboxPrefix "a..b" has an empty token'],
  ])('fails on the inbox prefix %j', (inboxPrefix, message) => {
    expect(() => streamConsumerPermissions(ORDERS, { inboxPrefix })).toThrow(message);
  });

  test('the Job writes the buckets apply/ names, only its store\'s keys, and may delete neither bucket', () => {
    const { allow = [], deny = [] } = applyJobPermissions('orders-store').publish ?? {};
    expect(allow.filter((subject) => subject.startsWith('$KV.'))).toEqual([
      `$KV.${OWNERSHIP_BUCKET}.orders-store`, `$KV.${OWNERSHIP_BUCKET}.orders-store.>`, `$KV.${LOCK_BUCKET}.orders-store`,
    ]);
    expect(deny).toEqual([
      `$JS.API.STREAM.DELETE.KV_${OWNERSHIP_BUCKET}`, `$JS.API.STREAM.UPDATE.KV_${OWNERSHIP_BUCKET}`,
      `$JS.API.STREAM.DELETE.KV_${LOCK_BUCKET}`, `$JS.API.STREAM.UPDATE.KV_${LOCK_BUCKET}`,
    ]);
  });
});

async function collect<T>(items: Promise<AsyncIterable<T>>): Promise<T[]> {
  const collected: T[] = [];
  for await (const item of await items) collected.push(item);
  return collected;
}

async function waitFor(condition: () => Promise<boolean>, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
