/** The Kubernetes recommended labels every object of a store carries. */
export function storeLabels(storeName: string, component: 'stream-store' | 'stream-apply', version: string): Record<string, string> {
  return {
    'app.kubernetes.io/name': 'nats',
    'app.kubernetes.io/instance': storeName,
    'app.kubernetes.io/component': component,
    'app.kubernetes.io/version': version,
    'app.kubernetes.io/managed-by': 'jetstream-cdk8s',
  };
}
