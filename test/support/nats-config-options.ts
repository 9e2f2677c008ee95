import { NatsConfigOptions } from '../../src/nats-config';

/** The options a default single-server store renders nats.conf from (10Gi volume, 1Gi memory limit). */
export const SINGLE_SERVER: NatsConfigOptions = {
  clientPort: 4222,
  monitorPort: 8222,
  serverNameVariable: 'POD_NAME',
  pidFile: '/var/run/nats/nats.pid',
  maxPayloadBytes: 1048576,
  lameDuckDurationMs: 30_000,
  lameDuckGracePeriodMs: 10_000,
  jetStream: { storeDir: '/data', maxFileStoreBytes: 9663676416, maxMemoryStoreBytes: 536870912 },
};
