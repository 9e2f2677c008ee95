import { App } from 'cdk8s';
import { KUBERNETES_VERSION_CONTEXT } from '../src';
import { ClusterEventsChart } from './cluster-events-chart';
import { EventsChart } from './events-chart';
import { HaChart } from './ha-chart';
import { TawonChart } from './tawon-chart';

/**
 * Builds the example app (into `outdir`, or where cdk8s synth says), rendered for the Kubernetes
 * version given (see KUBERNETES_VERSION_CONTEXT; dist/ is for 1.33 and newer); `main.ts`
 * synthesizes it and the tests check what it renders.
 */
export function buildApp(outdir?: string, kubernetesVersion?: string): App {
  const app = new App({ outdir });
  if (kubernetesVersion !== undefined) app.node.setContext(KUBERNETES_VERSION_CONTEXT, kubernetesVersion);
  new TawonChart(app, 'tawon-example');
  new EventsChart(app, 'events');
  new HaChart(app, 'ha');
  new ClusterEventsChart(app, 'cluster-events');
  return app;
}
