import { Chart, ChartProps, Size } from 'cdk8s';
import { Construct } from 'constructs';
import { Cpu } from 'cdk8s-plus-28';
import { Retention, StorageType, StreamRetentionPolicy, StreamStore, VolumeRetention } from '../src';

/**
 * A larger store: an event backbone for several teams, with metrics, tighter hard
 * limits, a memory stream for telemetry and the k8stream-style Kubernetes events pipeline.
 */
export class EventsChart extends Chart {
  constructor(scope: Construct, id: string, props: ChartProps = {}) {
    super(scope, id, props);
    const store = new StreamStore(this, 'events', {
      storage: {
        size: '100Gi',
        storageClassName: 'ssd-csi',
        retention: { whenDeleted: VolumeRetention.RETAIN, whenScaled: VolumeRetention.RETAIN },
      },
      resources: {
        cpu: { request: Cpu.millis(1000) },
        memory: { request: Size.gibibytes(4), limit: Size.gibibytes(4) },
      },
      maxMemoryStore: '1Gi',
      maxPayload: '4Mi',
      defaults: { maxAge: '72h', maxBytes: '5Gi', maxMsgSize: '1Mi' },
      limits: { maxAge: '720h', maxBytes: '40Gi', maxMsgSize: '4Mi', maxStreams: 100 },
      metrics: {},
      labels: { team: 'platform' },
    });
    store.addStream('orders', {
      subjects: ['orders.>'],
      description: 'Order lifecycle events',
      maxBytes: '20Gi',
      maxAge: '720h',
      duplicateWindow: '10m',
      denyDelete: true,
    });
    store.addStream('payments', {
      subjects: ['payments.authorized', 'payments.captured', 'payments.refunded'],
      retention: Retention.INTEREST,
      maxBytes: '10Gi',
    });
    store.addStream('jobs', {
      subjects: ['jobs.*'],
      retention: Retention.WORK_QUEUE,
      maxMsgsPerSubject: 100000,
    });
    store.addStream('k8s-events', {
      subjects: ['k8s.events.>'],
      description: 'Kubernetes events, batched by k8stream for post-hoc analysis',
      maxAge: '168h',
      maxBytes: '20Gi',
      retentionPolicy: StreamRetentionPolicy.RETAIN,
    });
    store.addStream('telemetry', {
      subjects: ['telemetry.*.*'],
      storage: StorageType.MEMORY,
      maxBytes: '512Mi',
      maxAge: '1h',
      maxMsgsPerSubject: 10,
      allowDirect: true,
    });
  }
}
