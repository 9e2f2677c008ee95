/**
 * The synth-time rules that restate nats-server's own, held against a real server (Debian's
 * 2.9.10, so the 2.9 rule set): for every case, synth reports a problem exactly when the server
 * refuses the stream. Names the request subject cannot carry (with `.`, `*`, `>` or whitespace)
 * are left out: the server never sees them as a name.
 */
import { connect, NatsConnection } from 'nats';
import { renderNatsConfig } from '../src/nats-config';
import {
  DiscardPolicy, JetStreamStreamConfig, StorageType, StreamOptions, StreamPolicy, definitionProblems, resolveStream, toJetStreamConfig,
} from '../src/stream-definition';
import { NatsServerVersion } from '../src/versions';
import { SINGLE_SERVER } from './support/nats-config-options';
import { NatsServerHandle, makeTempDir, rewriteConfigForLocal, startNatsServer, stopAll } from './support/nats-server';
import { freePort } from './support/ports';

const POLICY: StreamPolicy = {
  storeName: 'rules', replicas: 1, version: NatsServerVersion.V2_9_25, maxPayloadBytes: 1024 * 1024, defaults: {}, limits: {},
};

let server: NatsServerHandle;
let nc: NatsConnection;

beforeAll(async () => {
  server = await startNatsServer();
  nc = await connect({ servers: server.url });
});

afterAll(async () => {
  await nc?.close();
  await stopAll();
});

/** What synth says of a stream: its problems as "field: rule" lines. */
function synthVerdict(options: StreamOptions): { problems: string[]; config: JetStreamStreamConfig } {
  const resolved = resolveStream(options, 'rules', POLICY);
  const problems = [...resolved.problems, ...definitionProblems(resolved.value, POLICY)].map((p) => `${p.field}: ${p.rule}`);
  return { problems, config: toJetStreamConfig(resolved.value) };
}

/** What the server says of the same configuration: its error, or the configuration it stored (then deleted). */
async function serverVerdict(config: JetStreamStreamConfig): Promise<{ error?: string; stored?: Record<string, unknown> }> {
  const reply = await nc.request(`$JS.API.STREAM.CREATE.${config.name}`, JSON.stringify(config), { timeout: 5_000 });
  const answer = JSON.parse(new TextDecoder().decode(reply.data)) as { error?: { description: string }; config?: Record<string, unknown> };
  if (answer.error) return { error: answer.error.description };
  await nc.request(`$JS.API.STREAM.DELETE.${config.name}`, '', { timeout: 5_000 });
  return { stored: answer.config };
}

describe('streams the server refuses, synth refuses', () => {
  test.each<[string, StreamOptions, string]>([
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
  ])('%s', async (_what, options, serverError) => {
    const synth = synthVerdict(options);
    expect(synth.problems).not.toEqual([]);
    expect(await serverVerdict(synth.config)).toEqual({ error: serverError });
  });
});

describe('streams the server accepts, synth accepts as the server stores them', () => {
  test.each<[string, StreamOptions]>([
    ['max age and duplicate window of 100ms', { maxAge: '100ms', duplicateWindow: '100ms' }],
    ['a duplicate window of 0, the server default', { duplicateWindow: 0, maxAge: '1m' }],
    ['discard new per subject with its prerequisites', { discardNewPerSubject: true, discard: DiscardPolicy.NEW, maxMsgsPerSubject: 5 }],
    ['allow rollup without deny purge', { allowRollup: true, denyDelete: true }],
    ['">" with acks, before NATS 2.10.17', { subjects: ['>'] }],
    ['the system API, before NATS 2.10.17', { subjects: ['$SYS.REQ.rules'] }],
    ['a subject a wildcard puts beside "$JS.>", before NATS 2.10.17', { subjects: ['*.rules'] }],
    ['JetStream events', { subjects: ['$JS.EVENT.ADVISORY.rules'] }],
    ['a name of 255 bytes', { name: 'n'.repeat(255), subjects: ['rules.long'] }],
    ['a name with a vertical tab', { name: 'a\vb', subjects: ['rules.vt'] }],
    ['a name with a no-break space', { name: 'a\u00a0b', subjects: ['rules.nbsp'] }],
    ['a name with a control character', { name: 'a\u0001b', subjects: ['rules.ctl'] }],
    ['a memory stream', { storage: StorageType.MEMORY, maxBytes: '1Mi' }],
  ])('%s', async (_what, options) => {
    const synth = synthVerdict(options);
    expect(synth.problems).toEqual([]);
    const { error, stored } = await serverVerdict(synth.config);
    expect(error).toBeUndefined();
    // Every field synth would send comes back as sent (false booleans are left out by the server).
    const sent = Object.entries(synth.config).filter(([, value]) => value !== false);
    expect(Object.fromEntries(sent.map(([key]) => [key, stored?.[key]]))).toEqual(Object.fromEntries(sent));
  });
});

describe('max payload', () => {
  /** Starts a server from the nats.conf a store renders with `maxPayloadBytes`. */
  async function startWithMaxPayload(maxPayloadBytes: number): Promise<NatsServerHandle> {
    const storeDir = makeTempDir();
    const config = rewriteConfigForLocal(renderNatsConfig({ ...SINGLE_SERVER, maxPayloadBytes }), {
      storeDir, clientPort: await freePort(), monitorPort: await freePort(), serverName: 'payload-0',
    });
    return startNatsServer({ config, storeDir, timeoutMs: 5_000 });
  }

  test('a server with 64MiB starts; above it, the server stops at startup, as synth says', async () => {
    const largest = await startWithMaxPayload(64 * 1024 * 1024);
    await largest.stop();
    await expect(startWithMaxPayload(64 * 1024 * 1024 + 1)).rejects.toThrow('cannot be higher than max_pending');
  });
});
