import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { Chart } from 'cdk8s';
import * as kplus from 'cdk8s-plus-28';
import * as k8s from 'cdk8s-plus-28/lib/imports/k8s';
import { Construct, IConstruct } from 'constructs';

/** Where `npm run bundle` writes the compressed apply program, relative to the package root. */
export const APPLY_PROGRAM_FILE = path.join('lib', 'bundle', 'jetstream-apply.js.gz');
/** Where the Job mounts the program's ConfigMap. */
export const APPLY_PROGRAM_DIR = '/opt/jetstream-apply';
/** The loader the Job runs; it decompresses the program beside it and runs it. */
export const APPLY_PROGRAM_LOADER = 'run.js';
const PROGRAM_KEY = 'jetstream-apply.js.gz';
const CONSTRUCT_ID = 'JetStreamApplyProgram';

/**
 * Compressed, the program fits the annotation kubectl's client-side apply copies each object into;
 * this loader, readable in the manifests, is all that runs it.
 */
const LOADER = `// Runs the jetstream-cdk8s apply program, kept gzip-compressed beside this file.
const fs = require('fs');
const path = require('path');
const zlib = require('zlib');
const Module = require('module');
const file = path.join(__dirname, 'jetstream-apply.js');
const program = new Module(file, module);
program.filename = file;
program.paths = Module._nodeModulePaths(__dirname);
program._compile(zlib.gunzipSync(fs.readFileSync(file + '.gz')).toString('utf8'), file);
`;

/**
 * The apply program as the post-deploy Jobs of a namespace's stores run it: one immutable ConfigMap
 * named after its content (`jetstream-apply-<hash>`), shared by every store of the app in that
 * namespace and written by the first chart that needs it. Two charts of one namespace with a copy
 * each would be one object twice in the output, which kustomize (and so Flux) refuses to build.
 * A stream change never touches it; a library upgrade that changes the program makes a new one,
 * and the Jobs, whose names hash their whole spec, follow.
 */
export class ApplyProgram extends Construct {
  /** The program of `scope`'s namespace in its app, made in `scope`'s chart when it has none yet. */
  public static of(scope: Construct): ApplyProgram {
    const chart = Chart.of(scope);
    const byNamespace = programsOfApp.get(chart.node.root) ?? new Map<string, ApplyProgram>();
    programsOfApp.set(chart.node.root, byNamespace);
    // Charts without a namespace land in the one kubectl (or Flux's targetNamespace) gives them all;
    // kustomize takes that for "default", so a chart with namespace "default" shares their copy.
    const namespace = chart.namespace ?? 'default';
    let program = byNamespace.get(namespace);
    if (!program) {
      program = new ApplyProgram(chart, CONSTRUCT_ID);
      byNamespace.set(namespace, program);
    }
    return program;
  }

  /** The ConfigMap holding the program and its loader. */
  public readonly configMap: k8s.KubeConfigMap;

  private constructor(scope: Construct, id: string) {
    super(scope, id);
    const program = readApplyProgram();
    this.configMap = new k8s.KubeConfigMap(this, 'ConfigMap', {
      metadata: {
        name: `jetstream-apply-${program.digest.slice(0, 10)}`,
        labels: {
          'app.kubernetes.io/name': 'jetstream-apply',
          'app.kubernetes.io/component': 'apply-program',
          'app.kubernetes.io/managed-by': 'jetstream-cdk8s',
        },
      },
      immutable: true,
      data: { [APPLY_PROGRAM_LOADER]: LOADER },
      binaryData: { [PROGRAM_KEY]: program.base64 },
    });
  }
}

/** How a workload's container runs the program: from its namespace's ConfigMap, or from a path in its own image. */
export interface ProgramDelivery {
  /** The namespace's program ConfigMap; none when the program is in the image. */
  readonly program?: ApplyProgram;
  /** The container's command: `node <program> ...args`. */
  command(...args: string[]): string[];
  /** The program's volume, where the loader runs it from; none when the program is in the image. */
  readonly volumeMounts: kplus.VolumeMount[];
}

/**
 * The program for a workload under `scope` (the apply Job, the events forwarder): the namespace's
 * ConfigMap mounted where the loader runs it, or `programPath` in the workload's own image. The
 * workload comes after the ConfigMap in the file. Not across charts: cdk8s would then number every
 * file name (0000-<chart>.k8s.yaml), and a pod only waits for a ConfigMap applied after it.
 */
export function deliverProgram(scope: Construct, workload: Construct, programPath: string | undefined): ProgramDelivery {
  if (programPath !== undefined) return { command: (...args) => ['node', programPath, ...args], volumeMounts: [] };
  const program = ApplyProgram.of(scope);
  if (Chart.of(program) === Chart.of(scope)) workload.node.addDependency(program.configMap);
  const volume = kplus.Volume.fromConfigMap(scope, 'ProgramVolume', kplus.ConfigMap.fromConfigMapName(scope, 'Program', program.configMap.name), { name: 'program' });
  return {
    program,
    command: (...args) => ['node', `${APPLY_PROGRAM_DIR}/${APPLY_PROGRAM_LOADER}`, ...args],
    volumeMounts: [{ path: APPLY_PROGRAM_DIR, volume, readOnly: true }],
  };
}

/** Each app's programs, by namespace. */
const programsOfApp = new WeakMap<IConstruct, Map<string, ApplyProgram>>();

/** The compressed program, read once a process. */
let cached: { base64: string; digest: string } | undefined;

/** Reads the compressed program `npm run bundle` (part of `npm run build`) writes. */
export function readApplyProgram(): { base64: string; digest: string } {
  if (cached) return cached;
  const file = path.join(packageRoot(__dirname), APPLY_PROGRAM_FILE);
  if (!fs.existsSync(file)) {
    throw new Error(`the apply program ${file} is missing: run "npm run bundle" (part of "npm run build") first`);
  }
  const bytes = fs.readFileSync(file);
  cached = { base64: bytes.toString('base64'), digest: createHash('sha256').update(bytes).digest('hex') };
  return cached;
}

/** The nearest folder above `from` with a package.json: this package's root, from its sources or its build. */
export function packageRoot(from: string): string {
  let dir = from;
  for (let depth = 0; depth < 10; depth++) {
    if (fs.existsSync(path.join(dir, 'package.json'))) return dir;
    dir = path.dirname(dir);
  }
  throw new Error(`no package.json above ${from}`);
}
