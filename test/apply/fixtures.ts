import type { JetStreamConsumerConfig } from '../../src/consumer-options';
import type { JetStreamStreamConfig } from '../../src/stream-definition';

/** A declared configuration as `toJetStreamConfig` writes it for `{ subjects: ['orders.>'] }`. */
export function declaredConfig(overrides: Partial<JetStreamStreamConfig> = {}): JetStreamStreamConfig {
  return {
    name: 'orders',
    subjects: ['orders.>'],
    retention: 'limits',
    storage: 'file',
    num_replicas: 1,
    max_consumers: -1,
    max_msgs: -1,
    max_bytes: -1,
    max_age: 0,
    max_msg_size: -1,
    max_msgs_per_subject: -1,
    discard: 'old',
    discard_new_per_subject: false,
    duplicate_window: 120_000_000_000,
    deny_delete: false,
    deny_purge: false,
    allow_rollup_hdrs: false,
    allow_direct: false,
    mirror_direct: false,
    sealed: false,
    no_ack: false,
    ...overrides,
  };
}

/**
 * The `config` nats-server 2.9.10 (Debian) answered for `{"name":"orders","subjects":["orders.>"]}`,
 * captured from a live server: it leaves out `description`, `discard_new_per_subject`, `no_ack`
 * and every 2.10 field.
 */
export function serverAnswer2910(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name: 'orders',
    subjects: ['orders.>'],
    retention: 'limits',
    max_consumers: -1,
    max_msgs: -1,
    max_bytes: -1,
    max_age: 0,
    max_msgs_per_subject: -1,
    max_msg_size: -1,
    discard: 'old',
    storage: 'file',
    num_replicas: 1,
    duplicate_window: 120_000_000_000,
    allow_direct: false,
    mirror_direct: false,
    sealed: false,
    deny_delete: false,
    deny_purge: false,
    allow_rollup_hdrs: false,
    ...overrides,
  };
}

/** The same stream as a 2.10 server reports it: `compression` and `consumer_limits` always present. */
export function serverAnswer210(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return serverAnswer2910({ compression: 'none', consumer_limits: {}, ...overrides });
}

export const HOUR_NS = 3_600_000_000_000;
export const GIB = 2 ** 30;

/** A declared consumer configuration as `resolveConsumer` writes it for a pull consumer with every default. */
export function declaredConsumerConfig(overrides: Partial<JetStreamConsumerConfig> = {}): JetStreamConsumerConfig {
  return {
    durable_name: 'auditor',
    deliver_policy: 'all',
    ack_policy: 'explicit',
    ack_wait: 30_000_000_000,
    max_deliver: -1,
    replay_policy: 'instant',
    max_waiting: 512,
    max_ack_pending: 1000,
    num_replicas: 0,
    ...overrides,
  };
}
