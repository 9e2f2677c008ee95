/**
 * Synth time of N streams against a bare cdk8s chart with N plain objects, in one run.
 *
 *   npm run bench:synth            # 10, 100, 1,000 and 10,000
 *   npm run bench:synth -- 10 100  # chosen sizes
 *
 * Goal: 1,000 streams within 2x of the bare chart, and the time per stream flat as N
 * grows (the subject-overlap check is a subject tree, not all pairs), for literal subjects and
 * for a `*` in the middle of every stream's subject.
 */
import { ApiObject, App, Chart, Size } from 'cdk8s';
import { StreamStore } from '../src';

/** Streams per store: one store's definitions must fit a ConfigMap. */
const STREAMS_PER_STORE = 1000;
const RUNS = 3;

/** Each stream's subjects: distinct literal prefixes, or a `*` in the middle that meets every other stream's token there. */
const SHAPES: Record<string, (i: number) => string[]> = {
  'literal prefixes': (i) => [`s${i}.>`, `t${i}.events`],
  'mid-subject wildcards': (i) => [`orders.s${i}.created`, `orders.*.k${i}`],
};

function streamsApp(count: number, subjects: (i: number) => string[]): App {
  const app = new App({ outdir: '/dev/null' });
  const chart = new Chart(app, 'bench');
  for (let first = 0; first < count; first += STREAMS_PER_STORE) {
    const store = new StreamStore(chart, `store-${first / STREAMS_PER_STORE}`, {
      storage: { size: Size.tebibytes(100) },
    });
    for (let i = first; i < Math.min(count, first + STREAMS_PER_STORE); i++) {
      store.addStream(`stream-${i}`, { subjects: subjects(i), maxBytes: '1Gi', maxAge: '24h' });
    }
  }
  return app;
}

function bareApp(count: number): App {
  const app = new App({ outdir: '/dev/null' });
  const chart = new Chart(app, 'bench');
  for (let i = 0; i < count; i++) {
    new ApiObject(chart, `object-${i}`, { apiVersion: 'v1', kind: 'ConfigMap', data: { key: `value-${i}` } });
  }
  return app;
}

/** Median wall time of building and synthesizing an app to YAML, in milliseconds. */
function measure(build: (n: number) => App, count: number): number {
  const times: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    const start = process.hrtime.bigint();
    build(count).synthYaml();
    times.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  return times.sort((a, b) => a - b)[Math.floor(RUNS / 2)];
}

function main(): void {
  const sizes = process.argv.slice(2).map(Number);
  const counts = sizes.length > 0 ? sizes : [10, 100, 1000, 10000];
  measure((n) => streamsApp(n, SHAPES['literal prefixes']), 10); // warm up the JIT and module caches for both
  measure(bareApp, 10);
  for (const [shape, subjects] of Object.entries(SHAPES)) {
    console.log(`subjects: ${shape}`);
    console.log('streams   bare chart ms   our synth ms   ratio   our us/stream');
    for (const count of counts) {
      const bare = measure(bareApp, count);
      const ours = measure((n) => streamsApp(n, subjects), count);
      console.log(
        `${String(count).padStart(7)}   ${bare.toFixed(1).padStart(13)}   ${ours.toFixed(1).padStart(12)}   ${(ours / bare).toFixed(2).padStart(5)}   ${((ours * 1000) / count).toFixed(0).padStart(13)}`,
      );
    }
  }
}

main();
