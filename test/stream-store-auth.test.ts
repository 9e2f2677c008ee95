import { Chart, Testing } from 'cdk8s';
import * as kplus from 'cdk8s-plus-28';
import { AckPolicy, connect } from 'nats';
import { NatsAuth, Stream, StreamStore, StreamStoreProps } from '../src';
import { runApply } from '../src/apply/apply';
import { parseCli } from '../src/apply/cli';
import { validateManifests } from './support/k8s-schema';
import { kubeletEnvironment } from './support/kubelet';
import { checkConfig, makeTempDir, rewriteConfigForLocal, startNatsServer, stopAll } from './support/nats-server';
import { freePort } from './support/ports';
import { fakeSecrets, startStoreFromManifests } from './support/store-from-manifests';
import { validationErrors } from './support/validation-errors';

const USERS = NatsAuth.users([{ name: 'app', password: { secretName: 'nats-users', key: 'app' } }]);
const JOB_PASSWORD = { secretName: 'nats-users', key: 'apply' };
const SECRETS = new Map([['nats-users/app', 'app-s3cret'], ['nats-users/apply', 'apply s3cret, with a comma']]);

function synth(props: StreamStoreProps): any[] {
  const chart = new Chart(Testing.app(), 'test');
  new StreamStore(chart, 'events', props).addStream('orders', { subjects: ['orders.>'] });
  return Testing.synth(chart);
}

const natsConf = (objects: any[]) => objects.find((o) => o.metadata.name === 'events-config').data['nats.conf'];
const natsContainer = (objects: any[]) => objects.find((o) => o.kind === 'StatefulSet').spec.template.spec.containers[0];
const job = (objects: any[]) => objects.find((o) => o.kind === 'Job');

afterAll(stopAll);

const synthErrors = (props: StreamStoreProps) => validationErrors(() => synth(props));

describe('users', () => {
  const objects = synth({ auth: USERS, applyJob: { password: JOB_PASSWORD } });

  test('nats.conf names the password variables; no secret is in any object', () => {
    expect(natsConf(objects)).toContain('      user: "app"\n      password: $NATS_USER_APP_PASSWORD\n');
    expect(natsConf(objects)).toContain('      user: "jetstream-apply"\n      password: $NATS_USER_JETSTREAM_APPLY_PASSWORD\n');
    const rendered = JSON.stringify(objects);
    for (const secret of SECRETS.values()) expect(rendered).not.toContain(secret);
  });

  test('the server gets each password from its Secret, quoted for nats.conf', () => {
    expect(natsContainer(objects).env).toEqual(expect.arrayContaining([
      { name: 'NATS_USER_APP_PASSWORD_RAW', valueFrom: { secretKeyRef: { key: 'app', name: 'nats-users' } } },
      { name: 'NATS_USER_APP_PASSWORD', value: "'$(NATS_USER_APP_PASSWORD_RAW)'" },
    ]));
  });

  test('the Job logs in as its own user with its password from the Secret', () => {
    const env = job(objects).spec.template.spec.containers[0].env;
    expect(env).toEqual(expect.arrayContaining([
      { name: 'NATS_USER', value: 'jetstream-apply' },
      { name: 'NATS_PASSWORD', valueFrom: { secretKeyRef: { key: 'apply', name: 'nats-users' } } },
    ]));
  });

  test('every object validates against the Kubernetes schemas', () => {
    expect(validateManifests(objects)).toEqual([]);
  });

  test('fails without the Job\'s password', () => {
    expect(synthErrors({ auth: USERS })).toEqual([
      '[test/events] store "events": applyJob.password (unset) must name the Secret key of the apply Job\'s password when the store authenticates users: the Job logs in as "jetstream-apply"',
    ]);
  });

  test('a server started from the synthesized config and pod environment refuses anonymous clients, and the Job\'s own command applies the streams', async () => {
    const serverEnv = kubeletEnvironment(natsContainer(objects).env, SECRETS, { 'metadata.name': 'events-0' });
    const conf = natsConf(objects);
    expect(await checkConfig(conf, { env: serverEnv })).toMatchObject({ ok: true });

    // The harness rewrites ports and paths; the authorization block holds neither and stays as rendered.
    const authorization = /^authorization \{\n[\s\S]*?^\}\n/m.exec(conf)![0];
    const storeDir = makeTempDir();
    const local = rewriteConfigForLocal(conf.replace(authorization, ''), {
      storeDir, clientPort: await freePort(), monitorPort: await freePort(), serverName: 'events-0',
    });
    const server = await startNatsServer({ config: local + authorization, storeDir, env: serverEnv });

    await expect(connect({ servers: server.url, reconnect: false })).rejects.toThrow(/Authorization Violation/i);

    const container = job(objects).spec.template.spec.containers[0];
    const jobEnv = { ...kubeletEnvironment(container.env, SECRETS), NATS_URL: server.url, TERMINATION_LOG: '' };
    const streamsJson = objects.find((o) => o.metadata.name === 'events-streams').data['streams.json'];
    const definitions = `${makeTempDir()}/streams.json`;
    require('fs').writeFileSync(definitions, streamsJson);
    const request = parseCli(container.command.slice(2), { ...jobEnv, STREAMS_FILE: definitions });
    if (request.help) throw new Error('expected a run');
    const lines: string[] = [];
    const outcome = await runApply({ ...request.options, terminationLog: undefined }, { out: (l) => lines.push(l), err: (l) => lines.push(l) });
    expect([outcome.exitCode, lines.join('\n')]).toEqual([0, expect.stringContaining('created orders')]);

    const nc = await connect({ servers: server.url, user: 'app', pass: 'app-s3cret', reconnect: false });
    try {
      expect((await (await nc.jetstreamManager()).streams.info('orders')).config.subjects).toEqual(['orders.>']);
    } finally {
      await nc.close();
    }
  });
});

describe('token', () => {
  const objects = synth({ auth: NatsAuth.token({ secretName: 'nats-token', key: 'token' }) });

  test('the server and the Job read the token from its Secret', () => {
    expect(natsConf(objects)).toContain('token: $NATS_TOKEN');
    expect(job(objects).spec.template.spec.containers[0].env).toContainEqual(
      { name: 'NATS_TOKEN', valueFrom: { secretKeyRef: { key: 'token', name: 'nats-token' } } });
  });
});

describe('TLS', () => {
  const objects = synth({ replicas: 3, tls: { client: { secretName: 'nats-client-tls' }, routes: { secretName: 'nats-routes-tls' } } });

  test('mounts the certificates from their Secrets where nats.conf reads them', () => {
    const pod = objects.find((o) => o.kind === 'StatefulSet').spec.template.spec;
    expect(pod.volumes).toEqual(expect.arrayContaining([
      { name: 'tls-client', secret: { secretName: 'nats-client-tls' } },
      { name: 'tls-routes', secret: { secretName: 'nats-routes-tls' } },
    ]));
    expect(pod.containers[0].volumeMounts).toEqual(expect.arrayContaining([
      { mountPath: '/etc/nats-tls/client', name: 'tls-client', readOnly: true },
      { mountPath: '/etc/nats-tls/routes', name: 'tls-routes', readOnly: true },
    ]));
    expect(natsConf(objects)).toContain('cert_file: "/etc/nats-tls/client/tls.crt"');
    expect(natsConf(objects)).toContain('cert_file: "/etc/nats-tls/routes/tls.crt"');
  });

  test('the Job trusts the CA of the client certificate', () => {
    const spec = job(objects).spec.template.spec;
    expect(spec.containers[0].env).toContainEqual({ name: 'NATS_CA_FILE', value: '/etc/jetstream-ca/ca.crt' });
    expect(spec.volumes).toContainEqual({ name: 'ca', secret: { items: [{ key: 'ca.crt', path: 'ca.crt' }], secretName: 'nats-client-tls' } });
  });

  test('every object validates and nats.conf passes nats-server -t', async () => {
    expect(validateManifests(objects)).toEqual([]);
    const result = await checkConfig(natsConf(objects), { env: { PATH: process.env.PATH ?? '', POD_NAME: 'events-0' } });
    // The certificate files exist only in the pod: the check gets as far as opening them.
    expect(result.ok).toBe(false);
    expect(result.output).toContain('open /etc/nats-tls/client/tls.crt: no such file or directory');
  });
});

describe('connection info', () => {
  const connection = (objects: any[]) => objects.find((o) => o.metadata.name === 'events-connection').data;

  test('publishes the URL and the auth kind, for envFrom', () => {
    expect(connection(synth({}))).toEqual({ NATS_URL: 'nats://events:4222', NATS_AUTH: 'none' });
  });

  test('names the token Secret and the CA Secret, never their values', () => {
    const objects = synth({ auth: NatsAuth.token({ secretName: 'nats-token', key: 'token' }), tls: { client: { secretName: 'nats-tls' } } });
    expect(connection(objects)).toEqual({
      NATS_URL: 'nats://events:4222', NATS_AUTH: 'token',
      NATS_TOKEN_SECRET_NAME: 'nats-token', NATS_TOKEN_SECRET_KEY: 'token',
      NATS_CA_SECRET_NAME: 'nats-tls', NATS_CA_SECRET_KEY: 'ca.crt',
    });
  });

  test('uses the namespace of the chart in the URL', () => {
    const chart = new Chart(Testing.app(), 'test', { namespace: 'messaging' });
    new StreamStore(chart, 'events', { auth: USERS, applyJob: { password: JOB_PASSWORD } });
    const data = Testing.synth(chart).find((o) => o.metadata.name === 'events-connection').data;
    expect(data).toEqual({ NATS_URL: 'nats://events.messaging.svc:4222', NATS_AUTH: 'users' });
  });
});

describe('grants', () => {
  function grantedApp(auth: NatsAuth = USERS) {
    const chart = new Chart(Testing.app(), 'test');
    const store = new StreamStore(chart, 'events', { auth, applyJob: { password: JOB_PASSWORD } });
    const orders = store.addStream('orders', { subjects: ['orders.>'] });
    const payments = store.addStream('payments', { subjects: ['payments.>'] });
    const writer = new kplus.Deployment(chart, 'writer', { containers: [{ image: 'writer:1', name: 'app' }] });
    const reader = new kplus.Deployment(chart, 'reader', { containers: [{ image: 'reader:1', name: 'app' }] });
    orders.grantPublish(writer, { user: 'orders-writer', password: { secretName: 'nats-users', key: 'orders-writer' } });
    orders.grantConsume(reader, { user: 'orders-reader', password: { secretName: 'nats-users', key: 'orders-reader' } });
    // One workload with two grants: one user with both permissions.
    const relay = new kplus.Deployment(chart, 'relay', { containers: [{ image: 'relay:1', name: 'app' }] });
    orders.grantConsume(relay, { user: 'relay', password: { secretName: 'nats-users', key: 'relay' } });
    payments.grantPublish(relay, { user: 'relay', password: { secretName: 'nats-users', key: 'relay' } });
    return chart;
  }
  const deploymentEnv = (objects: any[], name: string) =>
    objects.find((o) => o.kind === 'Deployment' && o.metadata.name.startsWith(`test-${name}`)).spec.template.spec.containers[0].env;

  test('wire each workload with the store URL, its own user and its inbox prefix', () => {
    const objects = Testing.synth(grantedApp());
    expect(deploymentEnv(objects, 'writer')).toEqual([
      { name: 'NATS_URL', value: 'nats://events:4222' },
      { name: 'NATS_USER', value: 'orders-writer' },
      { name: 'NATS_PASSWORD', valueFrom: { secretKeyRef: { key: 'orders-writer', name: 'nats-users' } } },
      { name: 'NATS_INBOX_PREFIX', value: '_INBOX_orders-writer' },
    ]);
    expect(natsConf(objects)).toContain('      user: "orders-writer"\n      password: $NATS_USER_ORDERS_WRITER_PASSWORD\n');
    expect(natsContainer(objects).env).toContainEqual(
      { name: 'NATS_USER_ORDERS_READER_PASSWORD_RAW', valueFrom: { secretKeyRef: { key: 'orders-reader', name: 'nats-users' } } });
    expect(validateManifests(objects)).toEqual([]);
  });

  test('with client TLS, mount the store\'s CA into the workload and name it in NATS_CA_FILE', () => {
    const chart = new Chart(Testing.app(), 'test');
    const store = new StreamStore(chart, 'events', { auth: USERS, applyJob: { password: JOB_PASSWORD }, tls: { client: { secretName: 'nats-tls' } } });
    const writer = new kplus.Deployment(chart, 'writer', { containers: [{ image: 'writer:1', name: 'app' }] });
    store.addStream('orders', { subjects: ['orders.>'] }).grantPublish(writer, { user: 'w', password: { secretName: 'nats-users', key: 'w' } });
    const objects = Testing.synth(chart);
    const pod = objects.find((o) => o.kind === 'Deployment').spec.template.spec;
    expect(pod.volumes).toEqual([{ name: 'events-nats-ca', secret: { items: [{ key: 'ca.crt', path: 'ca.crt' }], secretName: 'nats-tls' } }]);
    expect(pod.containers[0].volumeMounts).toEqual([{ mountPath: '/etc/nats-ca', name: 'events-nats-ca', readOnly: true }]);
    expect(pod.containers[0].env).toContainEqual({ name: 'NATS_CA_FILE', value: '/etc/nats-ca/ca.crt' });
    expect(validateManifests(objects)).toEqual([]);
  });

  test('change the config checksum, so the servers restart with the new users', () => {
    const checksum = (objects: any[]) =>
      objects.find((o) => o.kind === 'StatefulSet').spec.template.metadata.annotations['jetstream-cdk8s/config-checksum'];
    expect(checksum(Testing.synth(grantedApp()))).not.toBe(checksum(synth({ auth: USERS, applyJob: { password: JOB_PASSWORD } })));
  });

  test('fail on a store without users', () => {
    const errors = validationErrors(() => Testing.synth(grantedApp(NatsAuth.token({ secretName: 'nats-token', key: 'token' }))));
    expect(errors).toEqual([
      '[test/events] store "events": auth "token" must be NatsAuth.users to grant test/writer access to stream "orders": a grant is a user with its own permissions',
      '[test/events] store "events": auth "token" must be NatsAuth.users to grant test/reader access to stream "orders": a grant is a user with its own permissions',
      '[test/events] store "events": auth "token" must be NatsAuth.users to grant test/relay access to stream "orders": a grant is a user with its own permissions',
      '[test/events] store "events": auth "token" must be NatsAuth.users to grant test/relay access to stream "payments": a grant is a user with its own permissions',
    ]);
  });

  test('give a workload granted twice one user with both permissions, wired once', () => {
    const objects = Testing.synth(grantedApp());
    expect(deploymentEnv(objects, 'relay').map((variable: { name: string }) => variable.name))
      .toEqual(['NATS_URL', 'NATS_USER', 'NATS_PASSWORD', 'NATS_INBOX_PREFIX']);
    const relayUser = natsConf(objects).split('user: "relay"')[1].split('user:')[0];
    expect(relayUser).toContain('"payments.>"');
    expect(relayUser).toContain('"$JS.API.CONSUMER.MSG.NEXT.orders.*"');
    expect(natsConf(objects).match(/user: "relay"/g)).toHaveLength(1);
  });

  test('a declared consumer, a bucket and an object store grant their users exactly their own rights', () => {
    const chart = new Chart(Testing.app(), 'test');
    const store = new StreamStore(chart, 'events', { auth: USERS, applyJob: { password: JOB_PASSWORD } });
    const auditor = store.addStream('orders', { subjects: ['orders.>'] }).addConsumer('auditor');
    const workload = (name: string) => new kplus.Deployment(chart, name, { containers: [{ image: `${name}:1`, name: 'app' }] });
    const password = (key: string) => ({ secretName: 'nats-users', key });
    auditor.grantConsume(workload('audit'), { user: 'audit', password: password('audit') });
    store.addKeyValue('settings', { history: 3 }).grantRead(workload('settings-reader'), { user: 'settings-reader', password: password('settings-reader') });
    store.addObjectStore('files').grantWrite(workload('uploader'), { user: 'uploader', password: password('uploader') });
    const objects = Testing.synth(chart);
    const userBlock = (user: string) => natsConf(objects).split(`user: "${user}"`)[1].split('user:')[0];
    expect(userBlock('audit')).toContain('"$JS.API.CONSUMER.MSG.NEXT.orders.auditor"');
    expect(userBlock('audit')).not.toContain('$JS.API.CONSUMER.CREATE');
    expect(userBlock('audit')).not.toContain('$JS.API.CONSUMER.DELETE');
    expect(userBlock('settings-reader')).toContain('"$JS.API.DIRECT.GET.KV_settings.>"');
    expect(userBlock('settings-reader')).not.toContain('"$KV.settings.>"');
    expect(userBlock('uploader')).toContain('"$O.files.>"');
    expect(deploymentEnv(objects, 'audit')).toContainEqual({ name: 'NATS_USER', value: 'audit' });
    expect(validateManifests(objects)).toEqual([]);
  });

  test('fail when a workload\'s second grant names another user', () => {
    const chart = grantedApp();
    const store = chart.node.findChild('events') as StreamStore;
    const writer = chart.node.findChild('writer') as kplus.Deployment;
    (store.streams[1] as Stream).grantConsume(writer, { user: 'someone-else', password: { secretName: 'nats-users', key: 'orders-writer' } });
    expect(validationErrors(() => Testing.synth(chart))).toEqual([
      '[test/events] store "events": grants user "someone-else" must be the user "orders-writer" with the same password, which test/writer was granted first: a workload has one NATS user',
    ]);
  });

  test('use the namespaced URL when the chart has a namespace', () => {
    const chart = new Chart(Testing.app(), 'test', { namespace: 'messaging' });
    const store = new StreamStore(chart, 'events', { auth: USERS, applyJob: { password: JOB_PASSWORD } });
    const app = new kplus.Deployment(chart, 'app', { containers: [{ image: 'app:1', name: 'app' }] });
    store.addStream('orders').grantPublish(app, { user: 'w', password: { secretName: 'nats-users', key: 'w' } });
    const env = Testing.synth(chart).find((o) => o.kind === 'Deployment').spec.template.spec.containers[0].env;
    expect(env).toContainEqual({ name: 'NATS_URL', value: 'nats://events.messaging.svc:4222' });
  });

  test('a granted writer publishes to its stream only; a granted reader reads and cannot publish', async () => {
    const objects = Testing.synth(grantedApp());
    const secrets = fakeSecrets(objects);
    const servers = await startStoreFromManifests(objects, 'events', secrets);
    const url = servers[0].url;

    const container = job(objects).spec.template.spec.containers[0];
    const definitions = `${makeTempDir()}/streams.json`;
    require('fs').writeFileSync(definitions, objects.find((o) => o.metadata.name === 'events-streams').data['streams.json']);
    const request = parseCli(container.command.slice(2), { ...kubeletEnvironment(container.env, secrets), NATS_URL: url, STREAMS_FILE: definitions });
    if (request.help) throw new Error('expected a run');
    expect((await runApply({ ...request.options, terminationLog: undefined }, { out: () => {}, err: () => {} })).exitCode).toBe(0);

    const clientOf = async (name: string) => {
      const env = kubeletEnvironment(deploymentEnv(objects, name), secrets);
      return connect({ servers: url, user: env.NATS_USER, pass: env.NATS_PASSWORD, inboxPrefix: env.NATS_INBOX_PREFIX, reconnect: false });
    };
    const writer = await clientOf('writer');
    const reader = await clientOf('reader');
    const relay = await clientOf('relay');
    try {
      const js = writer.jetstream();
      expect((await js.publish('orders.created', 'o-1')).stream).toBe('orders');
      await expect(js.publish('payments.captured', 'p-1', { timeout: 2000 })).rejects.toThrow(/permission|timeout/i);

      const consumer = await (await reader.jetstreamManager()).consumers.add('orders', { durable_name: 'audit', ack_policy: AckPolicy.Explicit });
      const messages = await (await reader.jetstream().consumers.get('orders', consumer.name)).fetch({ max_messages: 1, expires: 2000 });
      const read: string[] = [];
      for await (const message of messages) {
        read.push(message.string());
        message.ack();
      }
      expect(read).toEqual(['o-1']);
      await expect(reader.jetstream().publish('orders.created', 'forged', { timeout: 2000 })).rejects.toThrow(/permission|timeout/i);

      // The relay reads orders and publishes payments, with one user.
      const relayed = await (await relay.jetstreamManager()).consumers.add('orders', { durable_name: 'relay', ack_policy: AckPolicy.Explicit });
      const fetched = await (await relay.jetstream().consumers.get('orders', relayed.name)).fetch({ max_messages: 1, expires: 2000 });
      for await (const message of fetched) {
        expect((await relay.jetstream().publish('payments.captured', `paid ${message.string()}`)).stream).toBe('payments');
        message.ack();
      }
      expect((await (await relay.jetstreamManager()).streams.info('payments')).state.messages).toBe(1);
      await expect(relay.jetstream().publish('orders.created', 'forged', { timeout: 2000 })).rejects.toThrow(/permission|timeout/i);
    } finally {
      await writer.close();
      await reader.close();
      await relay.close();
      await Promise.all(servers.map((server) => server.stop()));
    }
  });
});
