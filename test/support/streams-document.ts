import { StreamsDocument, parseStreamsDocuments } from '../../src/apply/definitions';

/** A store's definitions ConfigMaps among synthesized objects, in the order the Job mounts them. */
export function streamsConfigMaps(objects: readonly any[], store: string): any[] {
  return objects
    .filter((o) => o.kind === 'ConfigMap' && (o.metadata.name === `${store}-streams` || o.metadata.name.startsWith(`${store}-streams-`)))
    .sort((a, b) => (`${a.metadata.name}.json` < `${b.metadata.name}.json` ? -1 : 1));
}

/** A store's streams document as the apply program reads it: every part joined, durations and sizes as the API takes them. */
export function declaredStreams(objects: readonly any[], store: string): StreamsDocument {
  return parseStreamsDocuments(streamsConfigMaps(objects, store)
    .map((configMap) => ({ source: configMap.metadata.name, text: configMap.data['streams.json'] })));
}
