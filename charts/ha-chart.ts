import { ApiObject, Chart, ChartProps, Size } from 'cdk8s';
import * as kplus from 'cdk8s-plus-28';
import { Construct } from 'constructs';
import { NatsAuth, StreamStore, renderStoredForm } from '../src';

/**
 * A highly available, authenticated store: three servers spread over nodes and zones, users
 * whose passwords live in the Secret `backbone-users`, an API that may only publish orders and
 * keep the requests it handled in a bucket, an auditor that may only read orders through its own declared consumer,
 * the apply Job logging in as its own restricted user, a stream that sources two others, a mirror
 * and a key-value bucket.
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
      auth: NatsAuth.users([{ name: 'admin', password: password('admin') }]),
      applyJob: { password: password('jetstream-apply') },
      defaults: { maxAge: '168h', maxBytes: '5Gi' },
      limits: { maxAge: '720h', maxBytes: '20Gi' },
      metrics: {},
    });
    const orders = store.addStream('orders', { subjects: ['orders.>'], replicas: 3, maxBytes: '10Gi', duplicateWindow: '5m' });
    const audit = store.addStream('audit', { subjects: ['audit.>'], replicas: 3, maxAge: '720h', denyDelete: true, denyPurge: true });
    // One feed of what the shop did, for analytics: copies of orders and of the audit trail's order entries.
    store.addStream('shop-activity', { sources: [orders, { stream: audit, filterSubject: 'audit.orders.>' }], replicas: 3 });
    // A read-only copy of orders kept for a month, for reporting that must not load the orders stream.
    store.addStream('orders-archive', { mirror: orders, maxAge: '720h', maxBytes: '20Gi' });

    const api = new kplus.Deployment(this, 'orders-api', { containers: [{ name: 'api', image: 'example.com/shop/orders-api:1.0.0' }] });
    const auditor = new kplus.Deployment(this, 'orders-auditor', { containers: [{ name: 'auditor', image: 'example.com/shop/orders-auditor:1.0.0' }] });
    // The auditor reads through a consumer declared here: it may fetch and acknowledge, not create or delete consumers.
    const auditing = orders.addConsumer('orders-auditor', {
      description: 'Every order, for the audit trail',
      ackWait: '1m',
      maxDeliver: 5,
      backoff: ['1m', '5m', '15m'],
      maxAckPending: 500,
    });
    // The API records each request it handled for a day, so a retried request is answered, not repeated.
    const requests = store.addKeyValue('handled-requests', { ttl: '24h', replicas: 3, maxBytes: '1Gi', maxValueSize: '4Ki' });
    orders.grantPublish(api, { user: 'orders-api', password: password('orders-api') });
    requests.grantWrite(api, { user: 'orders-api', password: password('orders-api') });
    auditing.grantConsume(auditor, { user: 'orders-auditor', password: password('orders-auditor') });
    // cdk8s-plus writes some values otherwise than the API server stores them: render them as stored,
    // so a second kubectl apply changes nothing.
    for (const workload of [api, auditor]) renderStoredForm(ApiObject.of(workload));
  }
}
