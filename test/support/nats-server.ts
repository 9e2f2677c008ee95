import { ChildProcess, spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { randomBytes } from 'crypto';
import { DEFAULT_NATS_SERVER_VERSION, NatsServerVersion } from '../../src/versions';
import { cacheRoot, httpGet, settledWithin, sleep } from './io';
import { freePort } from './ports';

/**
 * The nats-server releases the tests run, oldest first: Debian's package for the 2.9 line, and the
 * latest patch of each newer line, which `scripts/ensure-nats-server.sh` builds.
 */
export const NATS_SERVER_RELEASES = ['2.9.10', '2.10.27', '2.11.17', '2.12.15', '2.14.10', '2.15.3'] as const;
export type NatsServerRelease = typeof NATS_SERVER_RELEASES[number];
/** The release Debian installs on PATH; the others are in the build cache. */
const DEBIAN_RELEASE = '2.9.10';
/** The release live suites run on: the library's default. */
export const DEFAULT_RELEASE = releaseOf(DEFAULT_NATS_SERVER_VERSION);

/** The tested release of a library version's line: its rules are that line's. */
export function releaseOf(version: NatsServerVersion): NatsServerRelease {
  const line = version.version.split('.').slice(0, 2).join('.');
  const release = NATS_SERVER_RELEASES.find((r) => r.startsWith(`${line}.`));
  if (!release) throw new Error(`no tested nats-server release of the ${line} line (NatsServerVersion ${version.version})`);
  return release;
}

/** The library version a tested release stands for: the one of its line listed last. */
export function versionOf(release: NatsServerRelease): NatsServerVersion {
  const line = release.split('.').slice(0, 2).join('.');
  const versions = NatsServerVersion.all().filter((v) => v.version.startsWith(`${line}.`));
  if (versions.length === 0) throw new Error(`NatsServerVersion lists no ${line} release for nats-server ${release}`);
  return versions[versions.length - 1];
}

/**
 * The binary of a release: Debian's on PATH, the others under the build cache. NATS_SERVER_BIN
 * points the default release at another build.
 */
export function natsServerBinary(release: NatsServerRelease = DEFAULT_RELEASE): string {
  if (release === DEFAULT_RELEASE && process.env.NATS_SERVER_BIN) return process.env.NATS_SERVER_BIN;
  if (release === DEBIAN_RELEASE) return 'nats-server';
  const binary = path.join(cacheRoot(), 'nats-server', release, 'nats-server');
  if (!fs.existsSync(binary)) throw new Error(`nats-server ${release} is not built (${binary}): run bash scripts/ensure-nats-server.sh`);
  return binary;
}
/** Lines of server output kept for error messages. */
const LOG_TAIL_LINES = 200;
/** How often startup polls /healthz. */
const HEALTH_POLL_MS = 50;
/** How long stop() lets the server shut down cleanly before SIGKILL. */
const STOP_GRACE_MS = 5_000;
/** Upper bound on waiting for a SIGKILLed process to be reaped. */
const KILL_WAIT_MS = 5_000;
/** Attempts for auto-allocated ports: freePort() releases the port, so another process can win it. */
const PORT_RACE_ATTEMPTS = 3;

/** A running nats-server started by {@link startNatsServer}. */
export interface NatsServerHandle {
  /** Client URL, `nats://127.0.0.1:<port>`. */
  readonly url: string;
  /** Client port. */
  readonly port: number;
  /** HTTP monitoring port (`/healthz`, `/varz`, `/jsz`). */
  readonly monitorPort: number;
  /** Route port when the server is clustered. */
  readonly clusterPort?: number;
  /** JetStream store directory (nats-server keeps its data in a `jetstream/` subdirectory). */
  readonly storeDir: string;
  /** Config file the server runs with. */
  readonly configFile: string;
  /** The current server process; replaced by {@link NatsServerHandle.restart}. */
  readonly process: ChildProcess;
  /** Last lines of server output, oldest first. */
  logTail(): string;
  /** SIGTERM, then SIGKILL after 5 s; waits for exit and removes the temp dirs this module made for the server. Idempotent. */
  stop(): Promise<void>;
  /** SIGKILL (a crash) and wait for exit; keeps the store so {@link NatsServerHandle.restart} can recover it. */
  kill(): Promise<void>;
  /**
   * Stops the process if it runs, then starts it again with the same config, ports and store and
   * waits for /healthz; with `jetStreamEnabledOnly`, for `/healthz?js-enabled-only=true`, as our
   * startup probe does (a server that must repair a stream answers the full check 503 until then).
   */
  restart(options?: { jetStreamEnabledOnly?: boolean }): Promise<void>;
}

/** Options of {@link startNatsServer}. */
export interface StartNatsServerOptions {
  /** nats.conf text, used as is: the caller has already put loopback ports and local paths in it. */
  readonly config?: string;
  /** Existing config file, used as is (not removed by stop()). */
  readonly configFile?: string;
  /** Store directory; defaults to a fresh temp dir (generated config) or the config's `store_dir`. Never removed by stop(). */
  readonly storeDir?: string;
  /** Client port; defaults to a free port (generated config) or the config's top-level `port`/`listen`. */
  readonly port?: number;
  /** Monitoring port; defaults to a free port (generated config) or the config's `http`/`http_port`. */
  readonly monitorPort?: number;
  /** Route port; for a generated config it adds a `cluster` block (then `routes` is required). */
  readonly clusterPort?: number;
  /** Route URLs for a generated clustered config, this server's own included. */
  readonly routes?: readonly string[];
  /** Cluster name for a generated clustered config (default `test-cluster`). */
  readonly clusterName?: string;
  /** `server_name` for a generated config (default `test-<random>`). */
  readonly name?: string;
  /** How long to wait for /healthz to return 200 (default 10 s). */
  readonly timeoutMs?: number;
  /** Environment of the server process; defaults to PATH only so no stray `$VAR` resolves. */
  readonly env?: NodeJS.ProcessEnv;
  /** The nats-server release to run (default: the library's default version's). */
  readonly release?: NatsServerRelease;
}

/** Servers started and not yet stopped, for {@link stopAll}. */
const running = new Set<NatsServer>();
/** Dirs from {@link makeTempDir} not yet removed, for {@link stopAll}. */
const tempDirs = new Set<string>();

/**
 * Creates an empty `nats-test-*` directory under the OS temp dir that {@link stopAll} removes.
 * Use it for a store that must outlive one server handle (e.g. re-starting with a changed config).
 */
export function makeTempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nats-test-'));
  tempDirs.add(dir);
  return dir;
}

/**
 * Starts nats-server on loopback and resolves once `/healthz` answers 200.
 *
 * Without `config`/`configFile` a minimal JetStream config is generated on free ports with a temp
 * store. Clustered JetStream servers only turn healthy once a meta leader is elected, so start
 * all members of a cluster concurrently (`Promise.all`), never one after another.
 * On failure the process is killed and the error carries the server's last log lines.
 */
export async function startNatsServer(options: StartNatsServerOptions = {}): Promise<NatsServerHandle> {
  const generated = options.config === undefined && options.configFile === undefined;
  const autoPorts =
    generated && options.port === undefined && options.monitorPort === undefined && options.clusterPort === undefined;
  const attempts = autoPorts ? PORT_RACE_ATTEMPTS : 1;
  let lastError: unknown;
  for (let attempt = 1; attempt <= attempts; attempt++) {
    const server = await prepare(options);
    try {
      await server.launch();
      return server;
    } catch (err) {
      lastError = err;
      await server.stop();
      // Only a lost port race is worth another try; anything else would fail the same way.
      if (!/address already in use/.test(String(err))) break;
    }
  }
  throw lastError;
}

/** Stops every server this module started and removes every temp dir it made; for afterAll. */
export async function stopAll(): Promise<void> {
  const results = await Promise.allSettled([...running].map((server) => server.stop()));
  for (const dir of tempDirs) fs.rmSync(dir, { recursive: true, force: true });
  tempDirs.clear();
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
}

/**
 * Runs nats-server's config test mode (`nats-server -t -c <file>`) on the text.
 * The environment holds only PATH unless `env` is given, so an unresolved `$VAR` fails as it
 * would in a pod that lacks the variable.
 */
export async function checkConfig(
  configText: string,
  options: { env?: NodeJS.ProcessEnv; timeoutMs?: number; release?: NatsServerRelease } = {},
): Promise<{ ok: boolean; output: string }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nats-test-'));
  try {
    const file = path.join(dir, 'nats.conf');
    fs.writeFileSync(file, configText);
    const result = await run(natsServerBinary(options.release), ['-t', '-c', file], options.env ?? minimalEnv(), options.timeoutMs ?? 10_000);
    return { ok: result.code === 0, output: result.output };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Options of {@link rewriteConfigForLocal}. */
export interface LocalConfigOptions {
  /** Replaces `jetstream { store_dir }`; `pid_file` moves into it too. */
  readonly storeDir: string;
  /** Replaces the top-level `port`; the client listener is bound to 127.0.0.1. */
  readonly clientPort: number;
  /** Replaces `http_port`/`http` with `http: 127.0.0.1:<monitorPort>`. */
  readonly monitorPort: number;
  /** Replaces `port` in the `cluster` block (bound to 127.0.0.1); required when the config has one. */
  readonly clusterPort?: number;
  /** Replaces `server_name` (which the pod takes from an environment variable). */
  readonly serverName: string;
  /** Replaces the `cluster` block's `routes`; required when the config has one. */
  readonly routes?: readonly string[];
}

/**
 * Rewrites a nats.conf rendered for Kubernetes so it runs on this machine: loopback-only
 * listeners on the given ports, the given store dir and server name, and no `$VAR` references.
 *
 * Line-based on purpose: it relies on the generated layout — one `key: value` per line, a block
 * opened by a line `name {` and closed by a line `}`, a multi-line array closed by a line `]` —
 * and throws on anything it cannot rewrite safely (a port in another block, an unbalanced
 * block, a `$VAR` left over) rather than emit a config that would reach fixed ports or paths.
 */
export function rewriteConfigForLocal(configText: string, opts: LocalConfigOptions): string {
  const out: string[] = [];
  const blocks: string[] = [];
  const quote = (value: string) => JSON.stringify(value);
  // Where to insert a `host:` line if the scope has none (index in `out` after its `port:` line).
  let topPortAt = -1;
  let topHost = false;
  let topHttp = false;
  let topName = false;
  let clusterPortAt = -1;
  let clusterHost = false;
  let clusterRoutes = false;
  let clusterSeen = false;
  let skippingArray = false;
  const clusterRoutesLines = (indent: string) => [
    `${indent}routes: [`,
    ...(opts.routes ?? []).map((route) => `${indent}  ${quote(route)}`),
    `${indent}]`,
  ];
  const lines = configText.replace(/\r\n/g, '\n').split('\n');
  lines.forEach((line, index) => {
    const where = `line ${index + 1}`;
    const trimmed = line.trim();
    if (skippingArray) {
      // Drop the old route entries up to the closing bracket.
      if (/^\]\s*,?$/.test(trimmed)) skippingArray = false;
      return;
    }
    if (trimmed === '' || trimmed.startsWith('#') || trimmed.startsWith('//')) {
      out.push(line);
      return;
    }
    const open = /^\s*([A-Za-z_][\w-]*)\s*[:=]?\s*\{$/.exec(line);
    if (open) {
      blocks.push(open[1]);
      if (open[1] === 'cluster' && blocks.length === 1) {
        if (opts.clusterPort === undefined || opts.routes === undefined) {
          throw new Error(`rewriteConfigForLocal: ${where}: the config has a cluster block; give clusterPort and routes`);
        }
        clusterSeen = true;
      }
      out.push(line);
      return;
    }
    if (trimmed === '}') {
      if (blocks.length === 0) throw new Error(`rewriteConfigForLocal: ${where}: '}' without an open block`);
      if (blocks.length === 1 && blocks[0] === 'cluster') {
        const indent = '  ';
        if (!clusterRoutes) out.push(...clusterRoutesLines(indent));
        if (clusterPortAt < 0) {
          out.push(`${indent}port: ${opts.clusterPort}`);
          clusterPortAt = out.length;
        }
        if (!clusterHost) out.splice(clusterPortAt, 0, `${indent}host: 127.0.0.1`);
      }
      blocks.pop();
      out.push(line);
      return;
    }
    const kv = /^(\s*)([A-Za-z_][\w-]*)\s*[:=]\s*(.*)$/.exec(line);
    if (!kv) {
      out.push(line);
      return;
    }
    const [, indent, key, value] = kv;
    const scope = blocks.join('.');
    if (scope === '') {
      switch (key) {
        case 'port':
          out.push(`${indent}port: ${opts.clientPort}`);
          topPortAt = out.length;
          return;
        case 'host':
        case 'net':
          out.push(`${indent}host: 127.0.0.1`);
          topHost = true;
          return;
        case 'listen':
          out.push(`${indent}listen: ${quote(`127.0.0.1:${opts.clientPort}`)}`);
          topPortAt = out.length;
          topHost = true;
          return;
        case 'http_port':
        case 'monitor_port':
        case 'http':
          out.push(`${indent}http: ${quote(`127.0.0.1:${opts.monitorPort}`)}`);
          topHttp = true;
          return;
        case 'https_port':
        case 'https':
          throw new Error(`rewriteConfigForLocal: ${where}: https monitoring is not supported`);
        case 'server_name':
          out.push(`${indent}server_name: ${quote(opts.serverName)}`);
          topName = true;
          return;
        case 'pid_file':
          out.push(`${indent}pid_file: ${quote(path.join(opts.storeDir, 'nats.pid'))}`);
          return;
        case 'ports_file_dir':
          out.push(`${indent}ports_file_dir: ${quote(opts.storeDir)}`);
          return;
        case 'store_dir':
          out.push(`${indent}store_dir: ${quote(opts.storeDir)}`);
          return;
        default:
          out.push(line);
          return;
      }
    }
    if (scope === 'jetstream' && key === 'store_dir') {
      out.push(`${indent}store_dir: ${quote(opts.storeDir)}`);
      return;
    }
    if (scope === 'cluster') {
      switch (key) {
        case 'port':
          out.push(`${indent}port: ${opts.clusterPort}`);
          clusterPortAt = out.length;
          return;
        case 'host':
          out.push(`${indent}host: 127.0.0.1`);
          clusterHost = true;
          return;
        case 'listen':
          out.push(`${indent}listen: ${quote(`127.0.0.1:${opts.clusterPort}`)}`);
          clusterPortAt = out.length;
          clusterHost = true;
          return;
        case 'routes':
          clusterRoutes = true;
          out.push(...clusterRoutesLines(indent));
          if (value.trim() === '[') skippingArray = true;
          else if (!/^\[.*\]\s*,?$/.test(value.trim())) {
            throw new Error(`rewriteConfigForLocal: ${where}: cannot parse routes: ${value}`);
          }
          return;
        default:
          out.push(line);
          return;
      }
    }
    // Any other listener (leafnodes, gateway, websocket, mqtt...) would keep a fixed port.
    if (['port', 'listen', 'host'].includes(key)) {
      throw new Error(`rewriteConfigForLocal: ${where}: '${key}' in block '${scope}' is not supported`);
    }
    out.push(line);
  });
  if (skippingArray) throw new Error('rewriteConfigForLocal: unterminated routes array');
  if (blocks.length > 0) throw new Error(`rewriteConfigForLocal: unclosed block '${blocks.join('.')}'`);
  while (out.length > 0 && out[out.length - 1].trim() === '') out.pop();
  // Fill in what the input left to defaults (0.0.0.0, 4222, no monitoring): tests must not use those.
  if (topPortAt < 0) {
    out.push(`port: ${opts.clientPort}`);
    topPortAt = out.length;
  }
  if (!topHost) out.splice(topPortAt, 0, 'host: 127.0.0.1');
  if (!topHttp) out.push(`http: ${quote(`127.0.0.1:${opts.monitorPort}`)}`);
  if (!topName) out.push(`server_name: ${quote(opts.serverName)}`);
  if (opts.clusterPort !== undefined && !clusterSeen) {
    throw new Error('rewriteConfigForLocal: clusterPort given but the config has no cluster block');
  }
  const text = out.join('\n').replace(/\n*$/, '\n');
  const leftover = findVariableReference(text);
  if (leftover) throw new Error(`rewriteConfigForLocal: ${leftover} is still referenced after rewriting`);
  return text;
}

/** First unquoted `$VAR` in a config (nats-server substitutes only unquoted ones), or undefined. */
function findVariableReference(text: string): string | undefined {
  for (const line of text.split('\n')) {
    if (/^\s*(#|\/\/)/.test(line)) continue;
    const unquoted = line.replace(/"(?:[^"\\]|\\.)*"|'[^']*'/g, '""');
    const match = /\$\{?[A-Za-z_]\w*/.exec(unquoted);
    if (match) return match[0];
  }
  return undefined;
}

/** Prepares (but does not start) a server: config file, store dir and ports. */
async function prepare(options: StartNatsServerOptions): Promise<NatsServer> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'nats-test-'));
  const ownedDirs = [root];
  try {
    const env = options.env ?? minimalEnv();
    const timeoutMs = options.timeoutMs ?? 10_000;
    if (options.config !== undefined || options.configFile !== undefined) {
      if (options.config !== undefined && options.configFile !== undefined) {
        throw new Error('startNatsServer: give config or configFile, not both');
      }
      let configFile: string;
      let text: string;
      if (options.config !== undefined) {
        text = options.config;
        configFile = path.join(root, 'nats.conf');
        fs.writeFileSync(configFile, text);
      } else {
        configFile = path.resolve(options.configFile as string);
        text = fs.readFileSync(configFile, 'utf8');
      }
      const found = readPorts(text);
      const port = options.port ?? found.port;
      const monitorPort = options.monitorPort ?? found.monitorPort;
      if (port === undefined || monitorPort === undefined) {
        throw new Error('startNatsServer: the config names no client port or monitoring port; pass port and monitorPort');
      }
      return new NatsServer({
        configFile,
        port,
        monitorPort,
        clusterPort: options.clusterPort,
        storeDir: options.storeDir ?? found.storeDir ?? '',
        ownedDirs,
        env,
        timeoutMs,
        binary: natsServerBinary(options.release),
      });
    }
    const port = options.port ?? (await freePort());
    const monitorPort = options.monitorPort ?? (await freePort());
    const storeDir = options.storeDir ?? path.join(root, 'store');
    const name = options.name ?? `test-${randomBytes(4).toString('hex')}`;
    const lines = [
      '# Generated by test/support/nats-server.ts',
      `server_name: ${JSON.stringify(name)}`,
      `listen: ${JSON.stringify(`127.0.0.1:${port}`)}`,
      `http: ${JSON.stringify(`127.0.0.1:${monitorPort}`)}`,
      'jetstream {',
      `  store_dir: ${JSON.stringify(storeDir)}`,
      '}',
    ];
    if (options.clusterPort !== undefined) {
      // nats-server 2.9 exits (FTL) when a JetStream cluster block has no routes.
      if (!options.routes || options.routes.length === 0) {
        throw new Error('startNatsServer: clusterPort needs routes (JetStream clusters cannot start without them)');
      }
      lines.push(
        'cluster {',
        `  name: ${JSON.stringify(options.clusterName ?? 'test-cluster')}`,
        `  listen: ${JSON.stringify(`127.0.0.1:${options.clusterPort}`)}`,
        '  connect_retries: 120',
        '  routes: [',
        ...options.routes.map((route) => `    ${JSON.stringify(route)}`),
        '  ]',
        '}',
      );
    }
    const configFile = path.join(root, 'nats.conf');
    fs.writeFileSync(configFile, lines.join('\n') + '\n');
    return new NatsServer({
      configFile,
      port,
      monitorPort,
      clusterPort: options.clusterPort,
      storeDir,
      ownedDirs,
      env,
      timeoutMs,
      binary: natsServerBinary(options.release),
    });
  } catch (err) {
    fs.rmSync(root, { recursive: true, force: true });
    throw err;
  }
}

/** Ports and store dir named by a config, from its top-level (unindented) lines and indented `store_dir`. */
function readPorts(text: string): { port?: number; monitorPort?: number; storeDir?: string } {
  const num = (re: RegExp) => {
    const m = re.exec(text);
    return m ? Number(m[1]) : undefined;
  };
  const storeDir = /^\s*store_dir\s*[:=]\s*"?([^"\n]+)"?\s*$/m.exec(text)?.[1];
  return {
    port: num(/^port\s*[:=]\s*(\d+)\s*$/m) ?? num(/^listen\s*[:=]\s*"?[^"\n]*:(\d+)"?\s*$/m),
    monitorPort: num(/^http_port\s*[:=]\s*(\d+)\s*$/m) ?? num(/^http\s*[:=]\s*"?[^"\n]*:(\d+)"?\s*$/m),
    storeDir,
  };
}

function minimalEnv(): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH ?? '/usr/bin:/bin' };
}

interface ServerSetup {
  configFile: string;
  port: number;
  monitorPort: number;
  clusterPort?: number;
  storeDir: string;
  ownedDirs: string[];
  env: NodeJS.ProcessEnv;
  timeoutMs: number;
  /** The nats-server executable. */
  binary: string;
}

/** One process generation: the child plus a promise settled when it is gone. */
interface Generation {
  child: ChildProcess;
  gone: Promise<void>;
  exited: boolean;
  spawnError?: Error;
}

class NatsServer implements NatsServerHandle {
  readonly url: string;
  readonly port: number;
  readonly monitorPort: number;
  readonly clusterPort?: number;
  readonly storeDir: string;
  readonly configFile: string;
  private readonly setup: ServerSetup;
  private readonly log: string[] = [];
  private current?: Generation;
  private stopping?: Promise<void>;

  constructor(setup: ServerSetup) {
    this.setup = setup;
    this.port = setup.port;
    this.monitorPort = setup.monitorPort;
    this.clusterPort = setup.clusterPort;
    this.storeDir = setup.storeDir;
    this.configFile = setup.configFile;
    this.url = `nats://127.0.0.1:${setup.port}`;
  }

  get process(): ChildProcess {
    if (!this.current) throw new Error('nats-server has not been started');
    return this.current.child;
  }

  logTail(): string {
    return this.log.join('\n');
  }

  /** Spawns the server and waits for /healthz; kills it and throws with the log tail on failure. */
  async launch(healthPath = '/healthz'): Promise<void> {
    running.add(this);
    const gen = this.spawn();
    this.current = gen;
    const deadline = Date.now() + this.setup.timeoutMs;
    const maxPolls = Math.ceil(this.setup.timeoutMs / HEALTH_POLL_MS) + 1;
    let lastStatus = 'no answer';
    for (let poll = 0; poll < maxPolls && Date.now() < deadline; poll++) {
      if (gen.exited) break;
      const res = await httpGet(`http://127.0.0.1:${this.monitorPort}${healthPath}`, 1_000);
      if (res.status === 200 && !gen.exited) {
        // The monitoring port could belong to another server that won a port race: check it is ours.
        const varz = await httpGet(`http://127.0.0.1:${this.monitorPort}/varz`, 1_000);
        if (varz.status === 200 && jsonField(varz.body, 'port') === this.port) return;
        lastStatus = `monitoring port ${this.monitorPort} answers for another server`;
      } else {
        lastStatus = res.status === 0 ? 'no answer' : `${res.status} ${res.body.trim()}`;
      }
      await Promise.race([gen.gone, sleep(HEALTH_POLL_MS)]);
    }
    const reason = gen.spawnError
      ? `could not spawn ${this.setup.binary}: ${gen.spawnError.message}`
      : gen.exited
        ? `exited during startup (code ${gen.child.exitCode}, signal ${gen.child.signalCode})`
        : `not healthy after ${this.setup.timeoutMs} ms (last ${healthPath}: ${lastStatus})`;
    await this.terminate('SIGKILL');
    throw new Error(
      `nats-server (${this.configFile}) ${reason}\n--- last ${LOG_TAIL_LINES} log lines ---\n${this.logTail()}`,
    );
  }

  async stop(): Promise<void> {
    if (!this.stopping) {
      this.stopping = (async () => {
        try {
          await this.terminate('SIGTERM');
        } finally {
          for (const dir of this.setup.ownedDirs) fs.rmSync(dir, { recursive: true, force: true });
          running.delete(this);
        }
      })();
    }
    return this.stopping;
  }

  async kill(): Promise<void> {
    await this.terminate('SIGKILL');
  }

  async restart(options: { jetStreamEnabledOnly?: boolean } = {}): Promise<void> {
    if (this.stopping) throw new Error('nats-server: restart() after stop(); its temp dirs are gone');
    await this.terminate('SIGTERM');
    await this.launch(options.jetStreamEnabledOnly ? '/healthz?js-enabled-only=true' : '/healthz');
  }

  private spawn(): Generation {
    const child = spawn(this.setup.binary, ['-c', this.setup.configFile], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: this.setup.env,
    });
    let markGone!: () => void;
    const gen: Generation = { child, exited: false, gone: new Promise<void>((resolve) => (markGone = resolve)) };
    const settle = () => {
      gen.exited = true;
      markGone();
    };
    child.once('close', settle);
    child.once('error', (err) => {
      // 'error' without a pid means the spawn itself failed and no 'close' may follow.
      if (child.pid === undefined) {
        gen.spawnError = err;
        settle();
      }
    });
    this.capture(child.stdout);
    this.capture(child.stderr);
    return gen;
  }

  /** Appends complete output lines to the ring buffer. */
  private capture(stream: NodeJS.ReadableStream | null): void {
    if (!stream) return;
    let partial = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      const parts = (partial + chunk).split('\n');
      partial = parts.pop() ?? '';
      for (const line of parts) this.push(line);
    });
    stream.on('end', () => {
      if (partial) this.push(partial);
      partial = '';
    });
  }

  private push(line: string): void {
    this.log.push(line);
    if (this.log.length > LOG_TAIL_LINES) this.log.splice(0, this.log.length - LOG_TAIL_LINES);
  }

  /** Ends the current process (SIGTERM escalates to SIGKILL after the grace period) and waits until it is gone. */
  private async terminate(signal: 'SIGTERM' | 'SIGKILL'): Promise<void> {
    const gen = this.current;
    if (!gen || gen.exited) return;
    if (signal === 'SIGTERM') {
      gen.child.kill('SIGTERM');
      if (await settledWithin(gen.gone, STOP_GRACE_MS)) return;
    }
    gen.child.kill('SIGKILL');
    if (!(await settledWithin(gen.gone, KILL_WAIT_MS))) {
      throw new Error(`nats-server pid ${gen.child.pid} did not exit after SIGKILL`);
    }
  }
}

/** Runs nats-server with args; resolves with the exit code and combined output, killing it at the timeout. */
function run(binary: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs: number): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
    const chunks: string[] = [];
    child.stdout.setEncoding('utf8').on('data', (c: string) => chunks.push(c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => chunks.push(c));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output: chunks.join('') });
    });
  });
}


function jsonField(body: string, field: string): unknown {
  try {
    return (JSON.parse(body) as Record<string, unknown>)[field];
  } catch {
    return undefined;
  }
}


