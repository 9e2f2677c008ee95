import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Chart, Testing } from 'cdk8s';
import { TawonChart } from '../charts/tawon-chart';
import {
  StreamRetentionPolicy, StreamStore, loadTawonManifestFiles, loadTawonManifests,
} from '../src';
import { validationErrors } from './support/validation-errors';

const TAWON_DIR = path.join(__dirname, '..', 'charts', 'tawon');
const REFERENCE_FILES = ['directive.yaml', 'store.yaml', 'stream.yaml'].map((file) => path.join(TAWON_DIR, file));
const HOUR = 3_600_000;

const STORE = `apiVersion: tawon.mantisnet.com/v1alpha1
kind: StreamStore
metadata:
  name: mystreamstore
spec:
  defaults:
    maxsize: 1000000
    maxbytes: 1G
  limits:
    maxbytes: 2G
`;

const stream = (name: string, spec: string) => `apiVersion: tawon.mantisnet.com/v1alpha1
kind: Stream
metadata:
  name: ${name}
spec:
${spec}`;

/** Loads into a fresh chart and returns the problems its synth reports, without the chart path and prefix. */
function loadProblems(sources: Array<{ name: string; text: string }>): { problems: string[]; chart: ReturnType<typeof Testing.chart> } {
  const chart = Testing.chart();
  const loaded = loadTawonManifests(chart, sources);
  expect(loaded).toEqual({ stores: [], streams: [] });
  const problems = validationErrors(() => Testing.synth(chart)).map((line) => {
    const prefix = `[${chart.node.path}] Tawon manifest `;
    expect(line.startsWith(prefix)).toBe(true);
    return line.slice(prefix.length);
  });
  return { problems, chart };
}

describe('the reference documents of the Tawon docs', () => {
  const chart = Testing.chart();
  const { stores, streams } = loadTawonManifestFiles(chart, [...REFERENCE_FILES].reverse());
  const byName = Object.fromEntries(streams.map((s) => [s.name, s]));

  test('load into one store and two streams', () => {
    expect(stores.map((s) => s.name)).toEqual(['mystreamstore']);
    expect(stores[0].node.id).toBe('mystreamstore');
    // Stream documents first, then Directive streams.
    expect(streams.map((s) => s.name)).toEqual(['mystream', 'coredns']);
    expect(streams.every((s) => s.store === stores[0])).toBe(true);
    expect(stores[0].streams).toEqual(streams);
  });

  test('translate the store: volume claim template, retention, defaults (maxsize) and limits (max)', () => {
    const settings = stores[0].settings;
    expect(settings.volumeBytes).toBe(10 * 2 ** 30);
    expect(settings.defaults).toEqual({ maxMsgs: 1000000, maxAgeMs: 240 * HOUR, maxBytes: 1e9, maxMsgSize: undefined });
    expect(settings.limits).toEqual({ maxMsgs: 10000000, maxAgeMs: 2400 * HOUR, maxBytes: 2e9, maxMsgSize: undefined });
  });

  test('translate mystream: its own limits, 1G being decimal', () => {
    expect(byName.mystream.node.id).toBe('mystream');
    expect(byName.mystream.definition).toMatchObject({
      maxMsgs: 100000, maxAgeMs: 6 * HOUR, maxBytes: 1_000_000_000, retentionPolicy: StreamRetentionPolicy.RETAIN,
    });
    expect(byName.mystream.definition!.description).toBeUndefined();
  });

  test('translate the Directive stream coredns: store defaults, retentionPolicy and owner', () => {
    expect(byName.coredns.definition).toMatchObject({
      maxMsgs: 1000000, maxAgeMs: 6 * HOUR, maxBytes: 1e9, retentionPolicy: StreamRetentionPolicy.DELETE,
      description: 'Owned by Tawon Directive capture-coredns',
    });
  });

  test('synthesize the volume claim template and its retention policy', () => {
    const statefulSet = Testing.synth(chart).find((o) => o.kind === 'StatefulSet');
    expect(statefulSet.spec.volumeClaimTemplates[0].spec).toEqual({
      accessModes: ['ReadWriteOnce'], storageClassName: 'ssd-csi', resources: { requests: { storage: '10Gi' } }, volumeMode: 'Filesystem',
    });
    expect(statefulSet.spec.persistentVolumeClaimRetentionPolicy).toEqual({ whenDeleted: 'Delete', whenScaled: 'Retain' });
  });
});

test('TawonChart loads charts/tawon and synthesizes without validation errors', () => {
  const app = Testing.app();
  const chart = new TawonChart(app, 'tawon');
  expect(() => app.synth()).not.toThrow();
  const store = chart.node.findChild('mystreamstore') as StreamStore;
  expect(store.streams.map((s) => s.name).sort()).toEqual(['coredns', 'mystream']);
  const streamsJson = Testing.synth(chart).find((o) => o.metadata.name === 'mystreamstore-streams').data['streams.json'];
  expect(JSON.parse(streamsJson).streams.map((s: any) => [s.config.name, s.retentionPolicy]))
    .toEqual([['coredns', 'Delete'], ['mystream', 'Retain']]);
});

test('a Directive stream defaults to Retain and the rest of the Directive is ignored', () => {
  const chart = Testing.chart();
  const { streams } = loadTawonManifests(chart, [{
    name: 'all.yaml',
    text: `${STORE}---
apiVersion: tawon.mantisnet.com/v1alpha1
kind: Directive
metadata:
  name: capture
  annotations: { team: net }
spec:
  condition: { anything: [1, 2] }
  tasks: [{ task: whatever, config: { x: y } }]
  streams:
    - { name: dns, store: mystreamstore, maxmsgs: 5, maxbytes: 1000 }
`,
  }]);
  expect(streams[0].definition).toMatchObject({ name: 'dns', maxMsgs: 5, maxBytes: 1000, retentionPolicy: StreamRetentionPolicy.RETAIN });
});

test('a Directive entry naming a declared stream publishes to it: its limits are ignored, as in Tawon', () => {
  const chart = Testing.chart();
  const stream = 'apiVersion: tawon.mantisnet.com/v1alpha1\nkind: Stream\nmetadata: { name: dns }\nspec: { store: { name: mystreamstore }, maxmsgs: 7 }\n';
  const directive = (name: string, maxmsgs: number) => 'apiVersion: tawon.mantisnet.com/v1alpha1\nkind: Directive\n'
    + `metadata: { name: ${name} }\nspec:\n  streams: [{ name: dns, store: mystreamstore, maxmsgs: ${maxmsgs}, retentionPolicy: Delete }, { name: other, store: mystreamstore, maxmsgs: ${maxmsgs} }]\n`;
  const { streams } = loadTawonManifests(chart, [{
    name: 'all.yaml', text: `${STORE}---\n${directive('first', 5)}---\n${stream}---\n${directive('second', 9)}`,
  }]);
  expect(streams.map((s) => [s.name, s.definition.maxMsgs, s.definition.retentionPolicy, s.definition.description]))
    .toEqual([['dns', 7, 'Retain', undefined], ['other', 5, 'Retain', 'Owned by Tawon Directive first']]);
  expect(Testing.synth(chart).length).toBeGreaterThan(0);
});

test('documents of other API groups are ignored, empty documents skipped', () => {
  const chart = Testing.chart();
  const result = loadTawonManifests(chart, [{
    name: 'mixed.yaml',
    text: `---\n# only a comment\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: { name: x }\n---\n${STORE}---\n`,
  }]);
  expect(result.stores).toHaveLength(1);
  // The store, and the apply program its Job runs, which belongs to the chart.
  expect(chart.node.children.map((c) => c.node.id)).toEqual(['mystreamstore', 'JetStreamApplyProgram']);
});

test('a name the store itself uses for a child gets another construct id but keeps its stream name', () => {
  const chart = Testing.chart();
  const directive = 'apiVersion: tawon.mantisnet.com/v1alpha1\nkind: Directive\nmetadata: { name: d }\nspec:\n  streams: [{ name: Config, store: mystreamstore }]\n';
  const { streams } = loadTawonManifests(chart, [{ name: 'a.yaml', text: `${STORE}---\n${directive}` }]);
  expect(streams[0].name).toBe('Config');
  expect(streams[0].node.id).toBe('Config (2)');
});

test('duplicate stream names are left to the store, which reports them at synth', () => {
  const chart = Testing.chart();
  const text = `${STORE}---\n${stream('dup', '  store: { name: mystreamstore }\n')}---\n${stream('dup', '  store: { name: mystreamstore }\n')}`;
  const { streams } = loadTawonManifests(chart, [{ name: 'a.yaml', text }]);
  expect(streams.map((s) => s.node.id)).toEqual(['dup', 'dup (2)']);
  const errors = chart.node.findAll().flatMap((c) => c.node.validate());
  expect(errors.join('\n')).toMatch(/name "dup" is used by both/);
});

test('loadTawonManifestFiles reads the files in sorted order', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tawon-'));
  try {
    fs.writeFileSync(path.join(dir, 'b.yaml'), stream('second', '  store: { name: mystreamstore }\n'));
    fs.writeFileSync(path.join(dir, 'a.yaml'), `${STORE}---\n${stream('first', '  store: { name: mystreamstore }\n')}`);
    const { streams } = loadTawonManifestFiles(Testing.chart(), [path.join(dir, 'b.yaml'), path.join(dir, 'a.yaml')]);
    expect(streams.map((s) => s.name)).toEqual(['first', 'second']);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

describe('invalid manifests', () => {
  test('an unknown field is reported with document, kind, name and path', () => {
    const { problems } = loadProblems([{ name: 'streams.yaml', text: `${STORE}---\n${stream('mystream', '  store: { name: mystreamstore }\n  maxbyte: 1G\n')}` }]);
    expect(problems).toEqual(['streams.yaml#2 (Stream mystream): spec.maxbyte "1G" is not a known property']);
  });

  test('an unknown field in the store defaults (maxmsgs is spelled maxsize there)', () => {
    const text = STORE.replace('maxsize:', 'maxmsgs:');
    const { problems } = loadProblems([{ name: 'store.yaml', text }]);
    expect(problems).toEqual(['store.yaml#1 (StreamStore mystreamstore): spec.defaults.maxmsgs 1000000 is not a known property']);
  });

  test('a malformed size is quoted with its path', () => {
    const { problems } = loadProblems([{ name: 'streams.yaml', text: `${STORE}---\n${stream('mystream', '  store: { name: mystreamstore }\n  maxbytes: 1Gx\n')}` }]);
    expect(problems).toEqual([expect.stringMatching(/^streams\.yaml#2 \(Stream mystream\): spec\.maxbytes "1Gx" is invalid: expected a whole number of bytes/)]);
  });

  test('a malformed duration and a duration without a unit', () => {
    const { problems } = loadProblems([{ name: 's.yaml', text: `${STORE}---\n${stream('a', '  store: { name: mystreamstore }\n  maxage: 6 hours\n')}---\n${stream('b', '  store: { name: mystreamstore }\n  maxage: 6\n')}` }]);
    expect(problems).toEqual([
      's.yaml#2 (Stream a): spec.maxage "6 hours" is invalid: expected a Go duration such as "240h", "4h35m", "90s" or "100ms"',
      's.yaml#3 (Stream b): spec.maxage 6 must be a duration string such as "6h" or "240h"',
    ]);
  });

  test('a stream on a store that no document defines', () => {
    const { problems } = loadProblems([{ name: 'a.yaml', text: `${STORE}---\n${STORE.replace('name: mystreamstore', 'name: other')}---\n${stream('s', '  store: { name: x }\n')}` }]);
    expect(problems).toEqual(['a.yaml#3 (Stream s): spec.store.name: unknown store "x"; loaded stores: "mystreamstore", "other"']);
  });

  test('a Directive stream on an unknown store, with no store loaded at all', () => {
    const text = `apiVersion: tawon.mantisnet.com/v1alpha1
kind: Directive
metadata: { name: d }
spec:
  streams:
    - { name: s, store: x }
`;
    const { problems } = loadProblems([{ name: 'd.yaml', text }]);
    expect(problems).toEqual(['d.yaml#1 (Directive d): spec.streams[0].store: unknown store "x"; loaded stores: none']);
  });

  test('an unknown Tawon kind and an unsupported version', () => {
    const text = 'apiVersion: tawon.mantisnet.com/v1alpha1\nkind: StreamSet\nmetadata: { name: x }\n---\napiVersion: tawon.mantisnet.com/v2\nkind: Stream\nmetadata: { name: y }\n';
    const { problems } = loadProblems([{ name: 'k.yaml', text }]);
    expect(problems).toEqual([
      'k.yaml#1 (StreamSet x): kind "StreamSet" is not a Tawon kind the loader reads; known kinds: "StreamStore", "Stream", "Directive"',
      'k.yaml#2 (Stream y): apiVersion "tawon.mantisnet.com/v2" is not supported; the loader reads tawon.mantisnet.com/v1alpha1',
    ]);
  });

  test('a YAML syntax error names the file, the document and the line', () => {
    const { problems } = loadProblems([{ name: 'bad.yaml', text: `${STORE}---\nkind: Stream\nmetadata:\n  name: a\n    b: c\n` }]);
    expect(problems).toEqual([
      'bad.yaml#2: YAML syntax error at line 14, column 9: Nested mappings are not allowed in compact mappings',
    ]);
  });

  test('a Directive streams entry must be well-formed', () => {
    const text = `${STORE}---
apiVersion: tawon.mantisnet.com/v1alpha1
kind: Directive
metadata: { name: d }
spec:
  streams:
    - { store: mystreamstore, retentionPolicy: Keep, maxage: 1h }
`;
    const { problems } = loadProblems([{ name: 'd.yaml', text }]);
    expect(problems).toEqual([
      'd.yaml#2 (Directive d): spec.streams[0].name is required',
      'd.yaml#2 (Directive d): spec.streams[0].retentionPolicy "Keep" must be one of "Delete", "Retain"',
    ]);
  });

  test('two StreamStores of one name, and a store name taken in the scope', () => {
    const chart = Testing.chart();
    new StreamStore(chart, 'taken');
    const before = chart.node.children.length;
    expect(loadTawonManifests(chart, [{ name: 'a.yaml', text: `${STORE}---\n${STORE}---\n${STORE.replace('mystreamstore', 'taken')}` }]))
      .toEqual({ stores: [], streams: [] });
    expect(chart.node.children).toHaveLength(before);
    expect(validationErrors(() => Testing.synth(chart))).toEqual([
      `[${chart.node.path}] Tawon manifest a.yaml#2 (StreamStore mystreamstore): metadata.name "mystreamstore" is already the name of the StreamStore a.yaml#1 (StreamStore mystreamstore)`,
      `[${chart.node.path}] Tawon manifest a.yaml#3 (StreamStore taken): metadata.name "taken" is already the id of a construct in ${chart.node.path}`,
    ]);
  });

  test('every problem of every file is reported in one synth, and nothing is created', () => {
    const { problems, chart } = loadProblems([
      { name: 'store.yaml', text: STORE.replace('maxbytes: 2G', 'maxbytes: 2G\n    maxbyte: 3G') },
      { name: 'streams.yaml', text: `${stream('good', '  store: { name: mystreamstore }\n')}---\n${stream('mystream', '  store: { name: nope }\n  maxbytes: 1Gx\n')}` },
      { name: 'other.yaml', text: 'apiVersion: tawon.mantisnet.com/v1alpha1\nkind: Tap\nmetadata: { name: t }\n' },
    ]);
    expect(problems).toEqual([
      'store.yaml#1 (StreamStore mystreamstore): spec.limits.maxbyte "3G" is not a known property',
      expect.stringMatching(/^streams\.yaml#2 \(Stream mystream\): spec\.maxbytes "1Gx" is invalid: /),
      'streams.yaml#2 (Stream mystream): spec.store.name: unknown store "nope"; loaded stores: "mystreamstore"',
      'other.yaml#1 (Tap t): kind "Tap" is not a Tawon kind the loader reads; known kinds: "StreamStore", "Stream", "Directive"',
    ]);
    expect(chart.node.children).toHaveLength(0);
  });

  test('are reported with the other errors of the whole app in one synth', () => {
    const app = Testing.app();
    const tawon = new Chart(app, 'tawon');
    loadTawonManifests(tawon, [{ name: 'store.yaml', text: STORE.replace('maxsize:', 'maxmsgs:') }]);
    const other = new Chart(app, 'other');
    new StreamStore(other, 'events').addStream('bad', { replicas: 2 });
    expect(validationErrors(() => app.synth())).toEqual([
      '[tawon] Tawon manifest store.yaml#1 (StreamStore mystreamstore): spec.defaults.maxmsgs 1000000 is not a known property',
      '[other/events/bad] stream "bad": replicas 2 must be 1, 3 or 5: JetStream replicates by quorum, so even counts add no safety',
    ]);
  });

  test('a document that is not a mapping, or has no apiVersion', () => {
    const { problems, chart } = loadProblems([{ name: 'x.yaml', text: '- a\n---\nkind: Stream\nmetadata: { name: s }\n' }]);
    expect(problems).toEqual([
      'x.yaml#1: must be a mapping (a Kubernetes object), found a sequence',
      'x.yaml#2 (Stream s): apiVersion is missing',
    ]);
    expect(chart.node.children).toHaveLength(0);
  });

  test('missing required fields are named, not dumped', () => {
    const { problems } = loadProblems([{ name: 's.yaml', text: 'apiVersion: tawon.mantisnet.com/v1alpha1\nkind: Stream\nmetadata: { labels: { a: b } }\nspec: { maxmsgs: 1 }\n' }]);
    expect(problems).toEqual([
      's.yaml#1 (Stream): metadata.name is required',
      's.yaml#1 (Stream): spec.store is required',
    ]);
  });
});
