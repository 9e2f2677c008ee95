import * as fs from 'fs';
import * as path from 'path';
import { parseObjects } from '../previous-manifests';
import { StreamsDocumentFile } from './definitions';

/**
 * The files of a streams document: one file, or every `.json` file of a directory (the Job mounts
 * a store's definitions ConfigMaps as one directory), sorted by name.
 *
 * @throws Error `cannot read streams document <location>: ...`
 */
export function readDefinitionsFiles(location: string): StreamsDocumentFile[] {
  try {
    const names = fs.statSync(location).isDirectory()
      // Kubernetes' volume bookkeeping entries (`..data`, `..2024_…`) start with two dots.
      ? fs.readdirSync(location).filter((name) => name.endsWith('.json') && !name.startsWith('..')).sort()
        .map((name) => path.join(location, name))
      : [location];
    return names.map((file) => ({ source: file, text: fs.readFileSync(file, 'utf8') }));
  } catch (error) {
    throw new Error(`cannot read streams document ${location}: ${(error as Error).message}`);
  }
}

/** The Kubernetes objects of every `.yaml` file in `dir` (a `dist/` directory), or of one file. */
function manifestObjects(location: string): Array<{ file: string; object: any }> {
  try {
    const files = fs.statSync(location).isDirectory()
      ? fs.readdirSync(location).filter((name) => /\.ya?ml$/.test(name)).sort().map((name) => path.join(location, name))
      : [location];
    return files.flatMap((file) => parseObjects(fs.readFileSync(file, 'utf8')).map((object) => ({ file, object })));
  } catch (error) {
    throw new Error(`cannot read manifests ${location}: ${(error as Error).message}`);
  }
}

/**
 * The streams document of store `store` as synthesized into `dir`: the `streams.json` of its
 * definitions ConfigMaps (`<store>-streams`, `<store>-streams-<part>`), in the order the Job mounts them.
 *
 * @throws Error when `dir` holds no definitions of the store
 */
export function distDefinitionsFiles(dir: string, store: string): StreamsDocumentFile[] {
  const parts = manifestObjects(dir)
    .filter(({ object }) => object?.kind === 'ConfigMap' && typeof object.metadata?.name === 'string'
      && (object.metadata.name === `${store}-streams` || object.metadata.name.startsWith(`${store}-streams-`)))
    .sort((a, b) => (`${a.object.metadata.name}.json` < `${b.object.metadata.name}.json` ? -1 : 1));
  if (parts.length === 0) throw new Error(`no definitions of store "${store}" in ${dir}: no ConfigMap ${store}-streams`);
  return parts.map(({ file, object }) => ({ source: `${file} ${object.metadata.name}`, text: String(object.data?.['streams.json'] ?? '') }));
}

/** A store's connection ConfigMap (`<store>-connection`) as synthesized: its data. */
export type ConnectionData = Readonly<Record<string, string>>;

/**
 * The data of the connection ConfigMap in `file` (a `dist/` file, or `kubectl get configmap -o yaml`
 * output): `<store>-connection` when `store` is given, else the only one there is.
 *
 * @throws Error when there is none, or more than one and no store to choose by
 */
export function readConnectionConfigMap(file: string, store?: string): ConnectionData {
  const found = manifestObjects(file).map(({ object }) => object)
    .filter((object) => object?.kind === 'ConfigMap' && typeof object.metadata?.name === 'string'
      && (store === undefined ? object.metadata.name.endsWith('-connection') : object.metadata.name === `${store}-connection`));
  if (found.length !== 1) {
    const names = found.map((object) => object.metadata.name).join(', ');
    throw new Error(found.length === 0
      ? `no connection ConfigMap ${store === undefined ? '<store>-connection' : `${store}-connection`} in ${file}`
      : `${found.length} connection ConfigMaps in ${file} (${names}): name the store with --store`);
  }
  return found[0].data ?? {};
}
