/**
 * The synth-time rules that restate nats-server's own, held against a real server of every release
 * the tests build: for every case and release, synth reports a problem exactly when that server
 * refuses the stream, and a stream synth accepts is stored as sent. Names the request subject
 * cannot carry (with `.`, `*`, `>` or whitespace) are left out: the server never sees them as a name.
 */
import { connect, NatsConnection } from 'nats';
import { userMetadata } from '../src/apply/normalize';
import { renderNatsConfig } from '../src/nats-config';
import {
  Compression, DiscardPolicy, JetStreamStreamConfig, PersistMode, Retention, StorageType, StreamOptions, StreamPolicy, resolveStream, toJetStreamConfig,
} from '../src/stream-definition';
import { NatsServerVersion, STREAM_FIELD_MIN_VERSION } from '../src/versions';
import { SINGLE_SERVER } from './support/nats-config-options';
import {
  DEFAULT_RELEASE, NATS_SERVER_RELEASES, NatsServerHandle, NatsServerRelease, makeTempDir, rewriteConfigForLocal, startNatsServer, stopAll, versionOf,
} from './support/nats-server';
import { httpGet } from './support/io';
import { freePort } from './support/ports';

/** What synth says of a stream: its problems as "field: rule" lines. */
function synthVerdict(options: StreamOptions, name: string, policy: StreamPolicy): { problems: string[]; config: JetStreamStreamConfig } {
  const resolved = resolveStream(options, name, policy);
  const problems = resolved.problems.map((p) => `${p.field}: ${p.rule}`);
  return { problems, config: toJetStreamConfig(resolved.value) };
}

/** What the server says of the same configuration: its error, or the configuration it stored (then deleted). */
async function serverVerdict(nc: NatsConnection, config: JetStreamStreamConfig): Promise<{ error?: string; stored?: Record<string, unknown> }> {
  const create = async () => {
    const reply = await nc.request(`$JS.API.STREAM.CREATE.${config.name}`, JSON.stringify(config), { timeout: 5_000 });
    return JSON.parse(new TextDecoder().decode(reply.data)) as { error?: { description: string }; config?: Record<string, unknown> };
  };
  let answer = await create();
  // 2.10.27 on a loaded CI machine twice failed a valid create this way (never in 200 tries alone):
  // a second try tells that from a refusal, which a name the file system refuses (NUL) is.
  if (answer.error?.description === 'error creating store for stream' && !config.name.includes('\u0000')) {
    console.warn(`${config.name}: "${answer.error.description}" on the first create; trying once more`);
    answer = await create();
  }
  if (answer.error) return { error: answer.error.description };
  await nc.request(`$JS.API.STREAM.DELETE.${config.name}`, '', { timeout: 5_000 });
  return { stored: answer.config };
}

/**
 * A stream to try, and the server's words when it refuses it (on the releases that do). A rule of
 * ours that is stricter than the server names instead the field the server would store otherwise
 * than declared: synth refuses what would make the server's copy differ from the app's.
 */
type RuleCase = [what: string, options: StreamOptions, serverError?: string | { storesOtherwise: string }];

const CASES: readonly RuleCase[] = [
  ['max age under 100ms', { maxAge: '50ms' }, 'max age needs to be >= 100ms'],
  ['a duplicate window under 100ms', { duplicateWindow: '50ms' }, 'duplicates window needs to be >= 100ms'],
  ['a duplicate window longer than max age', { maxAge: '1m', duplicateWindow: '2m' }, 'duplicates window can not be larger then max age'],
  ['deny purge with allow rollup', { denyPurge: true, allowRollup: true }, 'roll-ups require the purge permission'],
  ['discard new per subject without discard new', { discardNewPerSubject: true, maxMsgsPerSubject: 5 }, 'discard new per subject requires discard new policy to be set'],
  ['discard new per subject without max per subject', { discardNewPerSubject: true, discard: DiscardPolicy.NEW }, 'discard new per subject requires max msgs per subject > 0'],
  ['more replicas than servers', { replicas: 3 }, 'replicas > 1 not supported in non-clustered mode'],
  ['the JetStream API, even without acks', { subjects: ['$JS.API.STREAM.>'], noAck: true }, 'subjects overlap with jetstream api'],
  ['a name with "/"', { name: 'a/b', subjects: ['rules.slash'] }, 'Stream name can not contain path separators'],
  ['a name with "\\"', { name: 'a\\b', subjects: ['rules.backslash'] }, 'Stream name can not contain path separators'],
  ['a name of 256 bytes', { name: 'n'.repeat(256), subjects: ['rules.long'] }, 'stream name is too long, maximum allowed is 255'],
  ['a file stream whose name has NUL', { name: 'a\u0000b', subjects: ['rules.nul'] }, 'error creating store for stream'],
  ['max age and duplicate window of 100ms', { maxAge: '100ms', duplicateWindow: '100ms' }],
  ['a duplicate window of 0, the server default', { duplicateWindow: 0, maxAge: '1m' }],
  ['discard new per subject with its prerequisites', { discardNewPerSubject: true, discard: DiscardPolicy.NEW, maxMsgsPerSubject: 5 }],
  ['allow rollup without deny purge', { allowRollup: true, denyDelete: true }],
  ['">" with acks (refused from 2.10.17)', { subjects: ['>'] }],
  ['">" without acks', { subjects: ['>'], noAck: true }],
  ['the system API (refused from 2.10.17)', { subjects: ['$SYS.REQ.rules'] }],
  ['a subject a wildcard puts beside "$JS.>" (refused from 2.11.2)', { subjects: ['*.rules'] }],
  ['a subject inside "$JSC.>" (refused from 2.10.17)', { subjects: ['$JSC.rules'] }],
  ['a subject inside "$NRG.>" (refused from 2.11.2)', { subjects: ['$NRG.rules'] }],
  ['the system account events, exempt', { subjects: ['$SYS.ACCOUNT.rules.>'] }],
  ['JetStream events', { subjects: ['$JS.EVENT.ADVISORY.rules'] }],
  ['a name of 255 bytes', { name: 'n'.repeat(255), subjects: ['rules.long'] }],
  ['a name with a vertical tab', { name: 'a\vb', subjects: ['rules.vt'] }],
  ['a name with a no-break space', { name: 'a\u00a0b', subjects: ['rules.nbsp'] }],
  ['a name with a control character', { name: 'a\u0001b', subjects: ['rules.ctl'] }],
  ['a memory stream', { storage: StorageType.MEMORY, maxBytes: '1Mi' }],
  ['metadata (2.10+)', { metadata: { team: 'shop' } }],
  ['compression (2.10+)', { compression: Compression.S2 }],
  ['a first sequence (2.10+)', { firstSequence: 100 }],
  ['consumer limits (2.10+)', { consumerLimits: { inactiveThreshold: '1h', maxAckPending: 100 } }],
  ['message TTLs (2.11+)', { allowMsgTtl: true }],
  ['subject delete markers with message TTLs and roll-ups (2.11+)', { allowMsgTtl: true, allowRollup: true, subjectDeleteMarkerTtl: '5m' }],
  ['a subject delete marker TTL under 1s', { allowMsgTtl: true, allowRollup: true, subjectDeleteMarkerTtl: '500ms' },
    'subject delete marker TTL must be at least 1 second'],
  ['subject delete markers without message TTLs', { allowRollup: true, subjectDeleteMarkerTtl: '5m' }, { storesOtherwise: 'allow_msg_ttl' }],
  ['subject delete markers without roll-ups', { allowMsgTtl: true, subjectDeleteMarkerTtl: '5m' }, { storesOtherwise: 'allow_rollup_hdrs' }],
  ['a counter (2.12+)', { allowMsgCounter: true }],
  ['a counter with discard new', { allowMsgCounter: true, discard: DiscardPolicy.NEW }, 'counter stream cannot use discard new'],
  ['a counter with message TTLs', { allowMsgCounter: true, allowMsgTtl: true }, 'counter stream cannot use message TTLs'],
  ['a counter with message schedules', { allowMsgCounter: true, allowMsgSchedules: true, allowRollup: true }, 'counter stream cannot use message schedules'],
  ['a counter with interest retention', { allowMsgCounter: true, retention: Retention.INTEREST }, 'counter stream can only use limits retention'],
  ['atomic batches (2.12+)', { allowAtomic: true }],
  ['message schedules with roll-ups (2.12+)', { allowMsgSchedules: true, allowRollup: true }],
  ['message schedules with discard new', { allowMsgSchedules: true, allowRollup: true, discard: DiscardPolicy.NEW }, 'message scheduling cannot use discard new'],
  ['message schedules without roll-ups', { allowMsgSchedules: true }, { storesOtherwise: 'allow_rollup_hdrs' }],
  ['async persistence (2.12+)', { persistMode: PersistMode.ASYNC }],
  ['async persistence of a memory stream', { persistMode: PersistMode.ASYNC, storage: StorageType.MEMORY }, 'async persist mode is only supported on file storage'],
  ['async persistence with atomic batches', { persistMode: PersistMode.ASYNC, allowAtomic: true }, 'async persist mode is not supported with atomic batch publish'],
  ['fast batches (2.14+)', { allowBatched: true }],
];

/**
 * The fields synth sends (false booleans left out: the server omits them) beside what the server
 * stored of each, its own metadata keys left out: equal when the server stored what was sent.
 */
function sentAndStored(config: JetStreamStreamConfig, stored: Record<string, unknown> | undefined) {
  const sent = Object.entries(config).filter(([, value]) => value !== false);
  return {
    sent: Object.fromEntries(sent),
    stored: Object.fromEntries(sent.map(([key]) => [key, key === 'metadata' ? userMetadata(stored?.[key]) : stored?.[key]])),
  };
}

/** The fields of `config` that `version` is too old for. */
function fieldsNewerThan(config: JetStreamStreamConfig, version: NatsServerVersion): string[] {
  return Object.entries(STREAM_FIELD_MIN_VERSION)
    .filter(([field, since]) => (config as unknown as Record<string, unknown>)[field] !== undefined && !version.atLeast(since))
    .map(([field]) => field);
}

afterAll(async () => {
  await stopAll();
});

describe.each(NATS_SERVER_RELEASES)('nats-server %s', (release: NatsServerRelease) => {
  const policy: StreamPolicy = {
    storeName: 'rules', replicas: 1, version: versionOf(release), maxPayloadBytes: 1024 * 1024, defaults: {}, limits: {},
  };
  let server: NatsServerHandle;
  let nc: NatsConnection;

  beforeAll(async () => {
    server = await startNatsServer({ release });
    nc = await connect({ servers: server.url });
  });

  afterAll(async () => {
    await nc?.close();
    await server?.stop();
  });

  // First, on a fresh server: a stream the server failed to create can fail the full /healthz.
  test('answers the health checks the store\'s probes ask', async () => {
    const paths = ['/healthz?js-enabled-only=true', '/healthz?js-server-only=true', '/healthz'];
    const answers = await Promise.all(paths.map((p) => httpGet(`http://127.0.0.1:${server.monitorPort}${p}`, 2_000)));
    expect(Object.fromEntries(paths.map((p, i) => [p, answers[i].status]))).toEqual(Object.fromEntries(paths.map((p) => [p, 200])));
  });

  // As objects: a row without its server error would make jest take the missing argument for done().
  // Each case has a stream name of its own: a create the server failed must not affect the next.
  test.each(CASES.map(([what, options, serverError], i) => ({ what, options, serverError, i })))('$what', async ({ options, serverError, i }) => {
    const synth = synthVerdict(options, `rules${i}`, policy);
    const { error, stored } = await serverVerdict(nc, synth.config);
    const tooNew = fieldsNewerThan(synth.config, policy.version);
    if (tooNew.length > 0) {
      // A field the release does not know: synth names it, and the server refuses it or drops it.
      expect({ synth: synth.problems.filter((p) => /needs NATS server \S+ or newer/.test(p)).length, kept: error ? [] : tooNew.filter((f) => stored?.[f] !== undefined) })
        .toEqual({ synth: tooNew.length, kept: [] });
    } else if (typeof serverError === 'object') {
      const field = serverError.storesOtherwise;
      const sent = (synth.config as unknown as Record<string, unknown>)[field] ?? false;
      expect({ synth: synth.problems.length > 0 ? 'refuses' : 'accepts', error, [field]: stored?.[field] === sent ? 'as sent' : 'otherwise' })
        .toEqual({ synth: 'refuses', error: undefined, [field]: 'otherwise' });
    } else if (synth.problems.length > 0) {
      expect({ synth: 'refuses', server: error === undefined ? 'accepts' : 'refuses', error })
        .toEqual({ synth: 'refuses', server: 'refuses', error: serverError ?? error });
    } else {
      expect({ synth: 'accepts', server: error === undefined ? 'accepts' : 'refuses', error })
        .toEqual({ synth: 'accepts', server: 'accepts', error: undefined });
      // Every field synth would send comes back as sent.
      const both = sentAndStored(synth.config, stored);
      expect(both.stored).toEqual(both.sent);
    }
  });

  describe('max payload', () => {
    /** Starts a server from the nats.conf a store renders with `maxPayloadBytes`. */
    async function startWithMaxPayload(maxPayloadBytes: number): Promise<NatsServerHandle> {
      const storeDir = makeTempDir();
      const config = rewriteConfigForLocal(renderNatsConfig({ ...SINGLE_SERVER, maxPayloadBytes }), {
        storeDir, clientPort: await freePort(), monitorPort: await freePort(), serverName: 'payload-0',
      });
      return startNatsServer({ config, storeDir, timeoutMs: 5_000, release });
    }

    test('a server with 64MiB starts; above it, the server stops at startup, as synth says', async () => {
      const largest = await startWithMaxPayload(64 * 1024 * 1024);
      await largest.stop();
      await expect(startWithMaxPayload(64 * 1024 * 1024 + 1)).rejects.toThrow('cannot be higher than max_pending');
    });
  });
});

describe('every stream field newer than 2.9, in two streams (counters and async persistence exclude some of the others)', () => {
  const STREAMS: Record<string, StreamOptions> = {
    everything: {
      metadata: { team: 'shop' }, compression: Compression.S2, firstSequence: 100, consumerLimits: { inactiveThreshold: '1h', maxAckPending: 100 },
      allowMsgTtl: true, subjectDeleteMarkerTtl: '5m',
      allowRollup: true, allowAtomic: true, allowMsgSchedules: true, allowBatched: true,
    },
    counter: { allowMsgCounter: true, persistMode: PersistMode.ASYNC },
  };
  const policyOf = (release: NatsServerRelease): StreamPolicy => ({
    storeName: 'rules', replicas: 1, version: versionOf(release), maxPayloadBytes: 1024 * 1024, defaults: {}, limits: {},
  });

  test('the default release stores exactly what was declared', async () => {
    const server = await startNatsServer({ release: DEFAULT_RELEASE });
    const nc = await connect({ servers: server.url });
    try {
      for (const [name, options] of Object.entries(STREAMS)) {
        const synth = synthVerdict(options, name, policyOf(DEFAULT_RELEASE));
        const { error, stored } = await serverVerdict(nc, synth.config);
        const both = sentAndStored(synth.config, stored);
        expect({ name, problems: synth.problems, error, stored: both.stored }).toEqual({ name, problems: [], error: undefined, stored: both.sent });
      }
    } finally {
      await nc.close();
      await server.stop();
    }
  });

  test('for 2.9.10, synth names each of them and the version it needs', () => {
    const problems = Object.entries(STREAMS).flatMap(([name, options]) => synthVerdict(options, name, policyOf('2.9.10')).problems);
    expect(problems).toEqual([
      'metadata: needs NATS server 2.10.0 or newer; store "rules" runs 2.9.25',
      'compression: needs NATS server 2.10.0 or newer; store "rules" runs 2.9.25',
      'firstSequence: needs NATS server 2.10.0 or newer; store "rules" runs 2.9.25',
      'consumerLimits: needs NATS server 2.10.0 or newer; store "rules" runs 2.9.25',
      'allowMsgTtl: needs NATS server 2.11.0 or newer; store "rules" runs 2.9.25',
      'subjectDeleteMarkerTtl: needs NATS server 2.11.0 or newer; store "rules" runs 2.9.25',
      'allowAtomic: needs NATS server 2.12.0 or newer; store "rules" runs 2.9.25',
      'allowMsgSchedules: needs NATS server 2.12.0 or newer; store "rules" runs 2.9.25',
      'allowBatched: needs NATS server 2.14.0 or newer; store "rules" runs 2.9.25',
      'allowMsgCounter: needs NATS server 2.12.0 or newer; store "rules" runs 2.9.25',
      'persistMode: needs NATS server 2.12.0 or newer; store "rules" runs 2.9.25',
    ]);
  });
});
