/**
 * TLS against a real nats-server started from the nats.conf renderNatsConfig writes, with
 * certificates made by the test: on the client port (with and without client verification)
 * and on the routes of a three-server cluster.
 */
import * as fs from 'fs';
import * as http from 'http';
import * as net from 'net';
import * as tls from 'tls';
import { ConnectionOptions, connect } from 'nats';
import { TLS_FILES, TLS_MOUNT_PATHS, natsTls, tlsProblems } from '../src/auth';
import { renderNatsConfig } from '../src/nats-config';
import { runApply } from '../src/apply/apply';
import { parseCli } from '../src/apply/cli';
import { formatProblem } from '../src/problems';
import { resolveStream, toJetStreamConfig } from '../src/stream-definition';
import { DEFAULT_NATS_SERVER_VERSION } from '../src/versions';
import { TestCertificates, makeCertificates } from './support/certs';
import { NatsServerHandle, checkConfig, makeTempDir, rewriteConfigForLocal, startNatsServer, stopAll } from './support/nats-server';
import { freePort } from './support/ports';
import { SINGLE_SERVER as BASE_OPTIONS } from './support/nats-config-options';

const ENV = { PATH: process.env.PATH ?? '/usr/bin:/bin', POD_NAME: 'events-0' };

let certs: TestCertificates;

const streamConfig = toJetStreamConfig(resolveStream({ name: 'tls-orders', subjects: ['tls.orders.>'] }, 'tls-orders', {
  storeName: 'tls', replicas: 1, version: DEFAULT_NATS_SERVER_VERSION, maxPayloadBytes: 1024 * 1024, defaults: {}, limits: {},
}).value);

beforeAll(async () => {
  certs = await makeCertificates();
});

afterAll(stopAll);

/** Starts one server from the rendered config with TLS on the client port. */
async function startWithClientTls(verify: boolean): Promise<NatsServerHandle> {
  const rendered = renderNatsConfig({
    ...BASE_OPTIONS,
    tls: { client: { certFile: certs.server.certFile, keyFile: certs.server.keyFile, caFile: certs.server.caFile, verify } },
  });
  expect(await checkConfig(rendered, { env: ENV })).toEqual({ ok: true, output: expect.stringContaining('is valid') });
  const storeDir = makeTempDir();
  const config = rewriteConfigForLocal(rendered, { storeDir, clientPort: await freePort(), monitorPort: await freePort(), serverName: 'tls-test' });
  return startNatsServer({ config, storeDir, env: ENV });
}

/** Connects with `options`, proves the connection with a JetStream request, and closes it. */
async function roundTrip(server: NatsServerHandle, options: Partial<ConnectionOptions>): Promise<boolean> {
  const nc = await connect({ servers: server.url, reconnect: false, timeout: 2_000, ...options });
  try {
    await (await nc.jetstreamManager()).getAccountInfo();
    return nc.info?.tls_required === true;
  } finally {
    await nc.close();
  }
}

describe('TLS on the client port', () => {
  let server: NatsServerHandle;

  beforeAll(async () => {
    server = await startWithClientTls(false);
  });

  afterAll(() => server?.stop());

  test('a client that trusts the CA connects over TLS', async () => {
    expect(await roundTrip(server, { tls: { caFile: certs.server.caFile } })).toBe(true);
  });

  test('a client that trusts only the system CAs is refused', async () => {
    await expect(roundTrip(server, {})).rejects.toThrow('unable to verify the first certificate');
  });

  test('the apply program, trusting the CA through NATS_CA_FILE, applies streams over TLS; without it, it fails', async () => {
    const definitions = `${makeTempDir()}/streams.json`;
    fs.writeFileSync(definitions, `{"store":"tls","version":"${DEFAULT_NATS_SERVER_VERSION.version}","streams":[\n${JSON.stringify({ retentionPolicy: 'Retain', config: streamConfig })}\n]}\n`);
    const run = async (env: Record<string, string>) => {
      const request = parseCli(['apply'], { NATS_URL: server.url, STREAMS_FILE: definitions, WAIT_TIMEOUT: '2s', ...env });
      if (request.help) throw new Error('expected a run');
      const lines: string[] = [];
      const outcome = await runApply({ ...request.options, terminationLog: undefined }, { out: (l) => lines.push(l), err: (l) => lines.push(l) });
      return [outcome.exitCode, lines.join('\n')];
    };
    expect(await run({})).toEqual([1, expect.stringContaining('unable to verify the first certificate')]);
    expect(await run({ NATS_CA_FILE: certs.server.caFile })).toEqual([0, expect.stringContaining('created tls-orders')]);
  });

  test('a client that trusts another CA is refused', async () => {
    await expect(roundTrip(server, { tls: { caFile: certs.stranger.caFile } })).rejects.toThrow('unable to verify the first certificate');
  });

  test('a plain-text client is refused', async () => {
    // Raw: nats.js 2.29 cannot be told to stay in plain text with a server that requires TLS.
    const answer = await plainTextSession(server.port, 'CONNECT {"verbose":false}\r\nPING\r\n');
    expect(answer).toMatch(/^INFO .*"tls_required":true/);
    expect(answer).not.toContain('PONG');
  });
});

describe('TLS on the client port, verifying clients', () => {
  let server: NatsServerHandle;

  beforeAll(async () => {
    server = await startWithClientTls(true);
  });

  afterAll(() => server?.stop());

  test('a client with a certificate from the CA connects', async () => {
    const { caFile, certFile, keyFile } = certs.client;
    expect(await roundTrip(server, { tls: { caFile, certFile, keyFile } })).toBe(true);
  });

  // With TLS 1.3 the client learns of the refusal after its handshake: an alert (which one depends
  // on the Go release the server was built with) or a reset.
  test('a client without a certificate is refused', async () => {
    await expect(roundTrip(server, { tls: { caFile: certs.server.caFile } })).rejects.toThrow(/bad certificate|certificate required|ECONNRESET/);
  });

  test('a client with a certificate from another CA is refused', async () => {
    const { certFile, keyFile } = certs.stranger;
    await expect(roundTrip(server, { tls: { caFile: certs.server.caFile, certFile, keyFile } }))
      .rejects.toThrow(/bad certificate|unknown ca|ECONNRESET/);
  });
});

describe('TLS on the routes', () => {
  test('three servers form a cluster over TLS routes and elect a JetStream meta leader', async () => {
    const ports = await Promise.all([0, 1, 2].map(async () => ({ client: await freePort(), monitor: await freePort(), cluster: await freePort() })));
    const routes = ports.map((p) => `nats://127.0.0.1:${p.cluster}`);
    const rendered = renderNatsConfig({
      ...BASE_OPTIONS,
      cluster: { name: 'events', port: 6222, routes: ['nats://events-0.events-headless:6222'] },
      tls: { cluster: { certFile: certs.server.certFile, keyFile: certs.server.keyFile, caFile: certs.server.caFile } },
    });
    expect(await checkConfig(rendered, { env: ENV })).toEqual({ ok: true, output: expect.stringContaining('is valid') });
    // Started together: a clustered JetStream server is healthy only once a meta leader is elected.
    const servers = await Promise.all(ports.map((p, i) => {
      const storeDir = makeTempDir();
      const config = rewriteConfigForLocal(rendered, {
        storeDir, clientPort: p.client, monitorPort: p.monitor, clusterPort: p.cluster, serverName: `events-${i}`, routes,
      });
      return startNatsServer({ config, storeDir, env: ENV, timeoutMs: 20_000 });
    }));
    for (const [i, server] of servers.entries()) {
      // From 2.10 each pair of servers keeps a pool of routes (and one per pinned account): count the peers.
      const routez = JSON.parse(await get(`http://127.0.0.1:${server.monitorPort}/routez`)) as { routes: Array<{ remote_name: string }> };
      expect([...new Set(routez.routes.map((r) => r.remote_name))].sort()).toEqual([0, 1, 2].filter((j) => j !== i).map((j) => `events-${j}`));
      expect(JSON.parse((await greetingOverTls(ports[i].cluster, true)).replace(/^INFO /, ''))).toMatchObject({ tls_required: true });
      // Routes always verify the other end, though the block sets no `verify`. Go's TLS 1.3 says
      // "certificate required" (alert 116) in the newer releases' builds, "bad certificate" in 2.9.10's.
      await expect(greetingOverTls(ports[i].cluster, false)).rejects.toThrow(/alert (bad certificate|certificate required)/);
    }
    await Promise.all(servers.map((server) => server.stop()));
  }, 40_000);
});

describe('natsTls', () => {
  test('points the client port and the routes at the mounted cert-manager files', () => {
    expect(natsTls({ client: { secretName: 'events-tls' }, routes: { secretName: 'events-routes-tls' } })).toEqual({
      client: {
        certFile: '/etc/nats-tls/client/tls.crt',
        keyFile: '/etc/nats-tls/client/tls.key',
        verify: false,
      },
      cluster: {
        certFile: '/etc/nats-tls/routes/tls.crt',
        keyFile: '/etc/nats-tls/routes/tls.key',
        caFile: '/etc/nats-tls/routes/ca.crt',
      },
    });
    expect([TLS_MOUNT_PATHS.client, TLS_FILES.ca]).toEqual(['/etc/nats-tls/client', 'ca.crt']);
  });

  test('leaves ca.crt out when clients are not verified: ACME issuers may not write it', () => {
    expect(natsTls({ client: { secretName: 'events-tls' } })).toEqual({
      client: { certFile: '/etc/nats-tls/client/tls.crt', keyFile: '/etc/nats-tls/client/tls.key', caFile: undefined, verify: false },
      cluster: undefined,
    });
  });

  test('fails on a Secret name that is not a Kubernetes name', () => {
    expect(tlsProblems({ client: { secretName: 'Events_TLS' }, routes: { secretName: 'ok' } }).map(formatProblem))
      .toEqual(['tls.client.secretName "Events_TLS" must be a Kubernetes object name (DNS subdomain)']);
    expect(tlsProblems({})).toEqual([]);
  });
});

/**
 * The first line a route port sends once a TLS handshake is done, presenting the test CA's
 * client certificate when `withCertificate`; it fails unless the port speaks TLS with a
 * certificate that CA issued.
 */
function greetingOverTls(port: number, withCertificate: boolean): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({
      host: '127.0.0.1',
      port,
      ca: fs.readFileSync(certs.server.caFile),
      ...(withCertificate ? { cert: fs.readFileSync(certs.client.certFile), key: fs.readFileSync(certs.client.keyFile) } : {}),
    });
    let text = '';
    socket.setEncoding('utf8');
    socket.setTimeout(2_000, () => socket.destroy(new Error(`no greeting on port ${port}`)));
    socket.on('data', (chunk: string) => {
      text += chunk;
      if (text.includes('\r\n')) {
        socket.destroy();
        resolve(text.slice(0, text.indexOf('\r\n')));
      }
    });
    socket.on('error', reject);
  });
}

/** Everything a client port sends, until it closes or 2 s pass, to a client that writes `text` in plain text. */
function plainTextSession(port: number, text: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    let received = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      if (received === '') socket.write(text);
      received += chunk;
    });
    const done = () => resolve(received);
    socket.setTimeout(2_000, () => socket.destroy());
    socket.on('close', done);
    socket.on('error', () => undefined);
  });
}

function get(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    http.get(url, { agent: false }, (res) => {
      const chunks: string[] = [];
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => chunks.push(chunk));
      res.on('end', () => resolve(chunks.join('')));
    }).on('error', reject);
  });
}
