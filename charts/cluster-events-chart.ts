import { ApiObject, Chart, ChartProps } from 'cdk8s';
import * as kplus from 'cdk8s-plus-28';
import { Construct } from 'constructs';
import { DEFAULT_ENRICHED_KINDS, KubernetesEvents, NatsAuth, StreamStore, renderStoredForm } from '../src';

/**
 * The cluster's Kubernetes events in a stream, k8stream's pipeline without its duplicates and
 * losses: a forwarder with two replicas (one leads) publishing every event with its object's labels,
 * a stream that keeps them a week and drops what a restart or relist sends again, and an incident
 * bot that reads the pods' failures through its own consumer.
 */
export class ClusterEventsChart extends Chart {
  constructor(scope: Construct, id: string, props: ChartProps = {}) {
    super(scope, id, { namespace: 'cluster-events', ...props });
    const password = (key: string) => ({ secretName: 'cluster-events-users', key });
    const store = new StreamStore(this, 'cluster-events', {
      storage: { size: '20Gi' },
      auth: NatsAuth.users([{ name: 'admin', password: password('admin') }]),
      applyJob: { password: password('jetstream-apply') },
    });
    const events = store.addStream('k8s-events', {
      subjects: ['k8s.events.>'],
      description: 'Kubernetes events: <namespace>.<involved kind>.<reason>, with the involved object\'s labels',
      maxAge: '168h',
      maxBytes: '10Gi',
      // At least the API server's event lifetime: a relist sends every event it keeps again.
      duplicateWindow: '1h',
    });
    new KubernetesEvents(this, 'forwarder', {
      stream: events,
      password: password('forwarder'),
      replicas: 2,
      enrichWith: [...DEFAULT_ENRICHED_KINDS, 'Node'],
    });
    const bot = new kplus.Deployment(this, 'incident-bot', { containers: [{ name: 'bot', image: 'example.com/ops/incident-bot:1.0.0' }] });
    const podFailures = events.addConsumer('incident-bot', {
      description: 'Pods that fail to start or run',
      filterSubjects: ['k8s.events.*.Pod.BackOff', 'k8s.events.*.Pod.Failed', 'k8s.events.*.Pod.FailedScheduling'],
      ackWait: '1m',
    });
    podFailures.grantConsume(bot, { user: 'incident-bot', password: password('incident-bot') });
    renderStoredForm(ApiObject.of(bot));
  }
}
