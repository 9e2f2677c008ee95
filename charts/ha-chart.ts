import { Chart, ChartProps, Size } from 'cdk8s';
import { Construct } from 'constructs';
import { NatsAuth, StreamStore, streamConsumerPermissions, streamPublisherPermissions } from '../src';

const ORDERS = { name: 'orders', subjects: ['orders.>'] };

/**
 * A highly available, authenticated store: three servers spread over nodes and zones, users
 * whose passwords live in the Secret `backbone-users`, each application allowed just its
 * stream, and the apply Job logging in as its own restricted user.
 */
export class HaChart extends Chart {
  constructor(scope: Construct, id: string, props: ChartProps = {}) {
    super(scope, id, props);
    const password = (key: string) => ({ secretName: 'backbone-users', key });
    const store = new StreamStore(this, 'backbone', {
      replicas: 3,
      spread: { zones: true },
      storage: { size: '50Gi', storageClassName: 'ssd-csi' },
      resources: { memory: { request: Size.gibibytes(2), limit: Size.gibibytes(2) } },
      auth: NatsAuth.users([
        { name: 'admin', password: password('admin') },
        { name: 'orders-writer', password: password('orders-writer'), permissions: streamPublisherPermissions(ORDERS, { inboxPrefix: '_INBOX_orders_writer' }) },
        { name: 'orders-reader', password: password('orders-reader'), permissions: streamConsumerPermissions(ORDERS, { inboxPrefix: '_INBOX_orders_reader' }) },
      ]),
      applyJob: { password: password('jetstream-apply') },
      defaults: { maxAge: '168h', maxBytes: '5Gi' },
      limits: { maxAge: '720h', maxBytes: '20Gi' },
      metrics: {},
    });
    store.addStream(ORDERS.name, { subjects: ORDERS.subjects, replicas: 3, maxBytes: '10Gi', duplicateWindow: '5m' });
    store.addStream('audit', { subjects: ['audit.>'], replicas: 3, maxAge: '720h', denyDelete: true, denyPurge: true });
  }
}
