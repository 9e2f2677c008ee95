import { Chart, ChartProps } from 'cdk8s';
import { Construct } from 'constructs';
import { StreamRetentionPolicy, StreamStore, VolumeRetention } from '../src';

/** Placeholder until the Tawon loader lands. */
export class TawonChart extends Chart {
  constructor(scope: Construct, id: string, props: ChartProps = {}) {
    super(scope, id, props);
    const store = new StreamStore(this, 'mystreamstore', {
      storage: { size: '10Gi', storageClassName: 'ssd-csi', retention: { whenDeleted: VolumeRetention.DELETE } },
      defaults: { maxMsgs: 1000000, maxAge: '240h', maxBytes: '1G' },
      limits: { maxMsgs: 10000000, maxAge: '2400h', maxBytes: '2G' },
    });
    store.addStream('mystream', { maxMsgs: 100000, maxAge: '6h', maxBytes: '1G' });
    store.addStream('coredns', { maxAge: '6h', retentionPolicy: StreamRetentionPolicy.DELETE });
  }
}
