/**
 * Synth cost of a store with N streams, as whole processes (node start and module loading
 * included, as users run `cdk8s synth`), against a baseline measured in the same run: a process
 * that writes the same YAML with cdk8s alone, from the same objects as plain ApiObjects.
 *
 *   npm run bench:synth            # 10, 100, 1,000 and 10,000 streams
 *   npm run bench:synth -- 10 100  # chosen sizes
 *
 * Goal: 1,000 streams within 2x of the baseline, and the cost per stream flat as N grows (the
 * subject-overlap check is a subject tree, not all pairs), for literal subjects and for a `*` in
 * the middle of every stream's subject.
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { ApiObject, App, Chart, Size } from 'cdk8s';

const RUNS = 5;

/** Each stream's subjects: distinct literal prefixes, or a `*` in the middle that meets every other stream's token there. */
const SHAPES: Record<string, (i: number) => string[]> = {
  'literal prefixes': (i) => [`s${i}.>`, `t${i}.events`],
  'mid-subject wildcards': (i) => [`orders.s${i}.created`, `orders.*.k${i}`],
};

/** One store holding every stream, as a user's app builds it. */
function storeApp(count: number, subjects: (i: number) => string[]): App {
  // Loaded here, not at the top: the baseline process must not load the library.
  const { StreamStore } = require('../src') as typeof import('../src');
  const app = new App({ outdir: os.tmpdir() });
  const store = new StreamStore(new Chart(app, 'bench'), 'events', { storage: { size: Size.tebibytes(100) } });
  for (let i = 0; i < count; i++) store.addStream(`stream-${i}`, { subjects: subjects(i), maxBytes: '1Gi', maxAge: '24h' });
  return app;
}

/** The same objects as plain ApiObjects: what writing this YAML costs cdk8s without the library. */
function baselineApp(objects: any[]): App {
  const app = new App({ outdir: os.tmpdir() });
  const chart = new Chart(app, 'bench');
  objects.forEach((object, i) => new ApiObject(chart, `object-${i}`, object));
  return app;
}

/**
 * In a child process: builds and synthesizes one app, then prints the YAML's length (so nothing is
 * optimized away) and the milliseconds of building and synthesizing alone, modules already loaded.
 */
function child(kind: string, count: number, shape: string, objectsFile: string): void {
  let build: () => App;
  if (kind === 'store') {
    require('../src');
    build = () => storeApp(count, SHAPES[shape]);
  } else {
    const objects = JSON.parse(fs.readFileSync(objectsFile, 'utf8'));
    build = () => baselineApp(objects);
  }
  const start = process.hrtime.bigint();
  const yaml = build().synthYaml();
  process.stdout.write(`${yaml.length} ${Number(process.hrtime.bigint() - start) / 1e6}`);
}

interface Measured {
  /** Median wall time of the whole process. */
  readonly processMs: number;
  /** Median time of building and synthesizing inside it. */
  readonly synthMs: number;
  readonly bytes: number;
}

function measure(kind: string, count: number, shape: string, objectsFile: string): Measured {
  const runs = Array.from({ length: RUNS }, () => {
    const start = process.hrtime.bigint();
    const [bytes, synthMs] = execFileSync(process.execPath, [__filename, '--child', kind, String(count), shape, objectsFile], { encoding: 'utf8' })
      .split(' ').map(Number);
    return { processMs: Number(process.hrtime.bigint() - start) / 1e6, synthMs, bytes };
  });
  const median = (values: number[]) => values.sort((a, b) => a - b)[Math.floor(RUNS / 2)];
  return { processMs: median(runs.map((r) => r.processMs)), synthMs: median(runs.map((r) => r.synthMs)), bytes: runs[0].bytes };
}

function main(): void {
  if (process.argv[2] === '--child') {
    const [kind, count, shape, objectsFile] = process.argv.slice(3);
    child(kind, Number(count), shape, objectsFile);
    return;
  }
  const sizes = process.argv.slice(2).map(Number);
  const counts = sizes.length > 0 ? sizes : [10, 100, 1000, 10000];
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-synth-'));
  try {
    for (const [shape, subjects] of Object.entries(SHAPES)) {
      console.log(`subjects: ${shape} (median of ${RUNS} processes each; "synth" is building and synthesizing, modules loaded)`);
      console.log('streams   process: cdk8s alone   ours    ratio   synth: cdk8s alone   ours    ratio   our synth us/stream   same YAML');
      for (const count of counts) {
        const objectsFile = path.join(dir, `objects-${count}.json`);
        fs.writeFileSync(objectsFile, JSON.stringify(objectsOf(count, subjects)));
        const baseline = measure('baseline', count, shape, objectsFile);
        const ours = measure('store', count, shape, objectsFile);
        const ms = (value: number, width: number) => `${value.toFixed(0)} ms`.padStart(width);
        console.log(`${String(count).padStart(7)}   ${ms(baseline.processMs, 20)}   ${ms(ours.processMs, 7)}   `
          + `${(ours.processMs / baseline.processMs).toFixed(2).padStart(5)}   ${ms(baseline.synthMs, 18)}   ${ms(ours.synthMs, 7)}   `
          + `${(ours.synthMs / baseline.synthMs).toFixed(2).padStart(5)}   ${((ours.synthMs * 1000) / count).toFixed(0).padStart(19)}   `
          + `${ours.bytes === baseline.bytes ? 'yes' : `no (${ours.bytes} vs ${baseline.bytes} bytes)`}`);
      }
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** The objects a store of `count` streams synthesizes, in order. */
function objectsOf(count: number, subjects: (i: number) => string[]): any[] {
  const app = storeApp(count, subjects);
  return app.charts.flatMap((chart) => chart.toJson());
}

main();
