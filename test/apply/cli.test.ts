import { parseCli } from '../../src/apply/cli';

const ENV = { NATS_URL: 'nats://events:4222', STREAMS_FILE: '/etc/jetstream-streams/streams.json' };

function options(args: string[], env: Record<string, string | undefined> = ENV) {
  const request = parseCli(args, env);
  if (request.help) throw new Error('expected a run');
  return request.options;
}

describe('parseCli', () => {
  test('takes the Job\'s environment with the defaults', () => {
    expect(options(['apply'])).toEqual({
      command: 'apply',
      server: 'nats://events:4222',
      definitions: '/etc/jetstream-streams/streams.json',
      waitMs: 300_000,
      concurrency: 32,
      ownerReplicas: 1,
      lockTtlMs: 30_000,
      terminationLog: undefined,
      auth: { user: undefined, password: undefined, token: undefined, caFile: undefined },
    });
  });

  test('reads credentials and the CA from the environment only', () => {
    const env = { ...ENV, NATS_USER: 'apply', NATS_PASSWORD: 's3cret', NATS_CA_FILE: '/etc/nats-ca/ca.crt' };
    expect(options(['apply'], env).auth).toEqual({ user: 'apply', password: 's3cret', token: undefined, caFile: '/etc/nats-ca/ca.crt' });
    expect(options(['apply'], { ...ENV, NATS_TOKEN: 't0ken' }).auth).toMatchObject({ token: 't0ken', user: undefined });
  });

  test('reads every variable', () => {
    const env = { ...ENV, WAIT_TIMEOUT: '90s', CONCURRENCY: '8', OWNER_REPLICAS: '3', TERMINATION_LOG: '/tmp/term', LOCK_TTL: '1m' };
    expect(options(['plan'], env)).toMatchObject({
      command: 'plan', waitMs: 90_000, concurrency: 8, ownerReplicas: 3, terminationLog: '/tmp/term', lockTtlMs: 60_000,
    });
  });

  test('flags override the environment', () => {
    const args = [
      'plan', '--server', 'nats://127.0.0.1:4222', '--definitions', 'dist/streams.json', '--wait', '2s',
      '--concurrency', '4', '--owner-replicas', '5', '--termination-log', '/tmp/t', '--lock-ttl', '10s',
    ];
    const env = { ...ENV, WAIT_TIMEOUT: '1h', CONCURRENCY: '64', OWNER_REPLICAS: '3', TERMINATION_LOG: '/x' };
    expect(options(args, env)).toEqual({
      command: 'plan', server: 'nats://127.0.0.1:4222', definitions: 'dist/streams.json', waitMs: 2000,
      concurrency: 4, ownerReplicas: 5, terminationLog: '/tmp/t', lockTtlMs: 10_000,
      auth: { user: undefined, password: undefined, token: undefined, caFile: undefined },
    });
  });

  test('an empty variable counts as unset', () => {
    expect(options(['apply'], { ...ENV, CONCURRENCY: '', WAIT_TIMEOUT: '' })).toMatchObject({ concurrency: 32, waitMs: 300_000 });
  });

  test.each([['--help'], ['-h'], ['apply', '--help']])('%s asks for the usage', (...args) => {
    expect(parseCli(args, {})).toEqual({ help: true });
  });

  test.each<[string, string[], Record<string, string>, string]>([
    ['without a command', [], ENV, 'expected one command, plan, apply or repair; got none'],
    ['with an unknown command', ['sync'], ENV, 'expected one command, plan, apply or repair; got "sync"'],
    ['with two commands', ['plan', 'apply'], ENV, 'expected one command, plan, apply or repair; got "plan" "apply"'],
    ['without a server', ['apply'], { STREAMS_FILE: 'x' }, '--server or NATS_URL is required'],
    ['without definitions', ['apply'], { NATS_URL: 'x' }, '--definitions or STREAMS_FILE is required'],
    ['with a wait that is no duration', ['apply', '--wait', '5'], ENV, '--wait "5" is invalid'],
    ['with a bad WAIT_TIMEOUT', ['apply'], { ...ENV, WAIT_TIMEOUT: 'soon' }, 'WAIT_TIMEOUT "soon" is invalid'],
    ['with concurrency 0', ['apply', '--concurrency', '0'], ENV, '--concurrency "0" must be a whole number from 1 to 1024'],
    ['with a fractional CONCURRENCY', ['apply'], { ...ENV, CONCURRENCY: '1.5' }, 'CONCURRENCY "1.5" must be a whole number from 1 to 1024'],
    ['with 7 owner replicas', ['apply'], { ...ENV, OWNER_REPLICAS: '7' }, 'OWNER_REPLICAS "7" must be a whole number from 1 to 5'],
    ['with a lock lifetime under a second', ['apply', '--lock-ttl', '500ms'], ENV, '--lock-ttl "500ms" must be at least 1s'],
    ['with an unknown flag', ['apply', '--force'], ENV, "Unknown option '--force'"],
    ['with a password but no user', ['apply'], { ...ENV, NATS_PASSWORD: 'x' }, 'NATS_PASSWORD is set without NATS_USER'],
    ['with a token and a user', ['apply'], { ...ENV, NATS_TOKEN: 't', NATS_USER: 'u' }, 'set NATS_TOKEN or NATS_USER, not both'],
  ])('fails %s', (_, args, env, message) => {
    expect(() => parseCli(args, env)).toThrow(message);
  });
});
