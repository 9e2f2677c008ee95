import * as fs from 'fs';
import * as path from 'path';
import { Chart, Testing } from 'cdk8s';
import * as kplus from 'cdk8s-plus-28';
import { connect } from 'nats';
import { ExistingStreamStoreProps, StreamOptions, StreamStore } from '../src';
import { runApply } from '../src/apply/apply';
import { parseCli } from '../src/apply/cli';
import { validateManifests } from './support/k8s-schema';
import { kubeletEnvironment } from './support/kubelet';
import { makeTempDir, startNatsServer, stopAll } from './support/nats-server';
import { freePort } from './support/ports';
import { validationErrors } from './support/validation-errors';

const CREDENTIALS = { user: 'apply', password: { secretName: 'shared-nats', key: 'apply' } };

function build(props: Partial<ExistingStreamStoreProps> = {}, streams: Array<[string, StreamOptions]> = [['orders', { subjects: ['orders.>'] }]]) {
  const chart = new Chart(Testing.app(), 'test');
  const store = StreamStore.fromExisting(chart, 'shared', { url: 'nats://nats.messaging:4222', credentials: CREDENTIALS, ...props });
  for (const [id, options] of streams) store.addStream(id, options);
  return { chart, store };
}

afterAll(stopAll);

test('synthesizes only the streams, the program and the Job, pointed at the server with its credentials', () => {
  const objects = Testing.synth(build().chart);
  expect(objects.map((o) => `${o.kind}/${o.metadata.name}`).sort()).toEqual([
    expect.stringMatching(/^ConfigMap\/jetstream-apply-[0-9a-f]{10}$/), 'ConfigMap/shared-streams', 'CronJob/shared-drift',
    expect.stringMatching(/^Job\/shared-apply-[0-9a-f]{8}$/),
  ]);
  const env = objects.find((o) => o.kind === 'Job').spec.template.spec.containers[0].env;
  expect(env).toEqual(expect.arrayContaining([
    { name: 'NATS_URL', value: 'nats://nats.messaging:4222' },
    { name: 'NATS_USER', value: 'apply' },
    { name: 'NATS_PASSWORD', valueFrom: { secretKeyRef: { key: 'apply', name: 'shared-nats' } } },
  ]));
  expect(validateManifests(objects)).toEqual([]);
});

test('validates streams as on any store', () => {
  const { chart } = build({ replicas: 3, limits: { maxBytes: '1Gi' } }, [
    ['orders', { subjects: ['orders.>'], maxBytes: '2Gi', replicas: 5 }],
    ['audit', { subjects: ['orders.audit'] }],
  ]);
  expect(validationErrors(() => Testing.synth(chart))).toEqual([
    '[test/shared] store "shared": stream "orders" subjects[0] "orders.>" overlaps stream "audit" subjects[0] "orders.audit" (test/shared/audit): JetStream refuses overlapping subjects on one server',
    '[test/shared/orders] stream "orders": replicas 5 exceeds the 3 server(s) of store "shared"',
    '[test/shared/orders] stream "orders": maxBytes 2GiB exceeds the limit 1GiB of store "shared"',
  ]);
});

test('fails on a malformed URL and on grants, which need users this app configures', () => {
  const { chart, store } = build({ url: 'http://nats:4222' });
  const app = new kplus.Deployment(chart, 'app', { containers: [{ image: 'app:1' }] });
  (store.streams[0] as any).grantPublish(app, { user: 'app', password: { secretName: 's', key: 'k' } });
  expect(validationErrors(() => Testing.synth(chart))).toEqual([
    '[test/shared] store "shared": url "http://nats:4222" must match pattern "^(nats|tls)://[^\\s]+$"',
    '[test/shared] store "shared": grant stream "orders" cannot give test/app a user on an existing server this app does not deploy: create the user on that server and wire its credentials yourself',
  ]);
});

test('fails on credentials the Job could not log in with', () => {
  const errors = (credentials: ExistingStreamStoreProps['credentials']) => validationErrors(() => Testing.synth(build({ credentials }).chart));
  expect(errors({ user: 'apply' })).toEqual(['[test/shared] store "shared": credentials.user (set) needs credentials.password: the Job logs in with both']);
  expect(errors({ password: CREDENTIALS.password })).toEqual(['[test/shared] store "shared": credentials.password (set) needs credentials.user: the Job logs in with both']);
  expect(errors({ ...CREDENTIALS, token: { secretName: 'shared-nats', key: 'token' } }))
    .toEqual(['[test/shared] store "shared": credentials.token (set) cannot be combined with a user and password: the server takes one or the other']);
  expect(errors({ token: { secretName: 'shared-nats', key: 'token' } })).toEqual([]);
});

test('the Job\'s own command applies the streams to a running server with the credentials from the Secret', async () => {
  const objects = Testing.synth(build().chart);
  const storeDir = makeTempDir();
  const port = await freePort();
  const config = [
    `listen: 127.0.0.1:${port}`, `http: 127.0.0.1:${await freePort()}`, 'server_name: shared-0',
    `jetstream { store_dir: ${JSON.stringify(storeDir)} }`,
    'authorization { users: [ { user: "apply", password: "s3cret" } ] }', '',
  ].join('\n');
  const server = await startNatsServer({ config, storeDir });
  const container = objects.find((o) => o.kind === 'Job').spec.template.spec.containers[0];
  const definitions = path.join(makeTempDir(), 'streams.json');
  fs.writeFileSync(definitions, objects.find((o) => o.metadata.name === 'shared-streams').data['streams.json']);
  const env = { ...kubeletEnvironment(container.env, new Map([['shared-nats/apply', 's3cret']])), NATS_URL: server.url, STREAMS_FILE: definitions };
  const request = parseCli(container.command.slice(2), env);
  if (request.help) throw new Error('expected a run');
  const lines: string[] = [];
  const outcome = await runApply({ ...request.options, terminationLog: undefined }, { out: (l) => lines.push(l), err: (l) => lines.push(l) });
  expect([outcome.exitCode, lines.join('\n')]).toEqual([0, expect.stringContaining('created orders')]);
  const nc = await connect({ servers: server.url, user: 'apply', pass: 's3cret', reconnect: false });
  try {
    expect((await (await nc.jetstreamManager()).streams.info('orders')).config.subjects).toEqual(['orders.>']);
  } finally {
    await nc.close();
  }
});
