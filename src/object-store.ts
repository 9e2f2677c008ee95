import { Construct } from 'constructs';
import { Permissions, objectStorePermissions } from './auth';
import { bucketProblems } from './key-value';
import { Stream } from './stream';
import { StreamView, StreamViewProps, streamViewOptions } from './stream-view';
import { UNLIMITED } from './stream-definition';
import type { IStreamStore } from './stream-store';
import { formatBytes } from './units';

/** The chunk size of nats.js and nats.go object stores. */
const CLIENT_CHUNK_BYTES = 128 * 1024;

/** Everything that defines one object store; `ObjectStore` and `StreamStore.addObjectStore` take these. */
export interface ObjectStoreOptions extends StreamViewProps {
  /**
   * The object store name: letters, digits, `_` and `-`. Its stream is `OBJ_<name>`, on `$O.<name>.C.>` and `$O.<name>.M.>`.
   * @default - the construct id
   */
  readonly name?: string;
}

/** Props of `ObjectStore`: its options and the store that hosts it. */
export interface ObjectStoreProps extends ObjectStoreOptions {
  /** The store that hosts it. */
  readonly store: IStreamStore;
}

/**
 * A JetStream object store: a stream `OBJ_<name>` holding objects in chunks under `$O.<name>.C.>`
 * and their metadata under `$O.<name>.M.>`, with the settings the NATS clients give it (discard
 * new, roll-ups, direct gets). Chunks are messages: the store's max message size must take the
 * clients' chunk size (128KiB in nats.js and nats.go). As a stream it takes part in every rule of its
 * store; its errors name the stream `OBJ_<name>` and its stream props (`maxAge` is the ttl).
 */
export class ObjectStore extends StreamView {
  /** The object store name. */
  public readonly name: string;
  public readonly stream: Stream;
  protected readonly displayName: string;

  constructor(scope: Construct, id: string, props: ObjectStoreProps) {
    super(scope, id);
    this.name = props.name ?? id;
    this.displayName = `object store "${this.name}"`;
    const problems = bucketProblems('name', this.name);
    this.node.addValidation({ validate: () => [...problems, ...this.chunkProblems()].map((p) => `object store "${this.name}": ${p}`) });
    this.stream = new Stream(this, 'Stream', {
      ...streamViewOptions(props),
      store: props.store,
      name: `OBJ_${this.name}`,
      subjects: [`$O.${this.name}.C.>`, `$O.${this.name}.M.>`],
    });
  }

  /** Objects are written in chunks, each a message: the stream must take them. */
  private chunkProblems(): string[] {
    const { maxMsgSize } = this.stream.definition;
    if (maxMsgSize === UNLIMITED || maxMsgSize >= CLIENT_CHUNK_BYTES) return [];
    return [`the store gives its streams a max message size of ${formatBytes(maxMsgSize)}, smaller than the ${formatBytes(CLIENT_CHUNK_BYTES)} chunks `
      + 'the NATS clients write objects in: raise the store\'s default (or limit) maxMsgSize'];
  }

  /** A reader reads objects and their metadata; a writer also puts and deletes objects. */
  protected permissions(write: boolean, inboxPrefix: string): Permissions {
    return objectStorePermissions(this.name, write, { inboxPrefix });
  }
}
