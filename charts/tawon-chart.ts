import * as fs from 'fs';
import * as path from 'path';
import { Chart, ChartProps } from 'cdk8s';
import { Construct } from 'constructs';
import { loadTawonManifestFiles } from '../src';

/**
 * The manifests live next to the sources; compiled, this file runs from lib/charts, which
 * holds no YAML, so it reads them from the source tree.
 */
export const TAWON_MANIFEST_DIR = path.basename(__dirname) === 'charts' && path.basename(path.dirname(__dirname)) === 'lib'
  ? path.resolve(__dirname, '..', '..', 'charts', 'tawon')
  : path.join(__dirname, 'tawon');

/** Tawon's example StreamStore, Stream and Directive, loaded from charts/tawon/*.yaml. */
export class TawonChart extends Chart {
  constructor(scope: Construct, id: string, props: ChartProps = {}) {
    super(scope, id, props);
    const files = fs.readdirSync(TAWON_MANIFEST_DIR)
      .filter((file) => file.endsWith('.yaml'))
      .map((file) => path.join(TAWON_MANIFEST_DIR, file));
    loadTawonManifestFiles(this, files);
  }
}
