import { App } from 'cdk8s';
import { EventsChart } from './events-chart';
import { HaChart } from './ha-chart';
import { TawonChart } from './tawon-chart';

/** Builds the example app (into `outdir`, or where cdk8s synth says); `main.ts` synthesizes it and the tests check what it renders. */
export function buildApp(outdir?: string): App {
  const app = new App({ outdir });
  new TawonChart(app, 'tawon-example');
  new EventsChart(app, 'events');
  new HaChart(app, 'ha');
  return app;
}
