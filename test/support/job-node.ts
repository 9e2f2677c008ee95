import * as fs from 'fs';
import * as path from 'path';
import { DEFAULT_APPLY_IMAGE } from '../../src/apply-job';
import { cacheRoot } from './io';

/**
 * The `node` of an official Node image (`node:<version>` or `node:<version>-alpine`): the same
 * release's Linux binary, which scripts/ensure-node.sh caches for the Job's default image, so the
 * program runs here on the runtime it runs on in the Job.
 *
 * @throws Error when `image` is not an official Node image of an exact release, or that release is not cached
 */
export function nodeOfImage(image: string = DEFAULT_APPLY_IMAGE): string {
  const version = /^node:(\d+\.\d+\.\d+)(-alpine)?$/.exec(image)?.[1];
  if (version === undefined) throw new Error(`${image} is not an official Node image of an exact release (node:<version>[-alpine])`);
  const node = path.join(cacheRoot(), 'node', version, 'bin', 'node');
  if (!fs.existsSync(node)) throw new Error(`no Node.js ${version} at ${node}: scripts/ensure-node.sh (run by npm test's pretest) fetches the default image's`);
  return node;
}
