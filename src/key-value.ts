import { Construct } from 'constructs';
import { Permissions, keyValuePermissions } from './auth';
import { showValue } from './problems';
import { Stream } from './stream';
import { StreamView, StreamViewProps, streamViewOptions } from './stream-view';
import { StreamRepublish } from './stream-definition';
import type { StreamSource } from './stream-sources';
import type { IStreamStore } from './stream-store';
import type { DurationInput, SizeInput } from './units';

/** The server's and the clients' rule for bucket and object store names. */
export const BUCKET_NAME = /^[-\w]+$/;
/** The most revisions a key-value bucket keeps per key. */
const MAX_HISTORY = 64;

/** Everything that defines one key-value bucket; `KeyValue` and `StreamStore.addKeyValue` take these. */
export interface KeyValueOptions extends StreamViewProps {
  /**
   * The bucket name: letters, digits, `_` and `-`. Its stream is `KV_<bucket>`, on `$KV.<bucket>.>`.
   * @default - the construct id
   */
  readonly bucket?: string;
  /**
   * Revisions kept per key, 1 to 64.
   * @default 1
   */
  readonly history?: number;
  /**
   * Largest value the bucket accepts.
   * @default - the store's default for a stream's max message size, else its limit, else unlimited
   */
  readonly maxValueSize?: SizeInput;
  /**
   * Also publish every stored value to another subject.
   * @default - none
   */
  readonly republish?: StreamRepublish;
  /**
   * Make the bucket a read-only copy of another bucket of this app on the same store.
   * @default - not a mirror
   */
  readonly mirror?: KeyValue;
  /**
   * Copy the values of other buckets of this app on the same store into this one (NATS 2.10+).
   * @default - none
   */
  readonly sources?: KeyValue[];
  /**
   * When a value expires by `ttl`, leave a marker that lives this long, so watchers see the key go
   * (NATS 2.11+).
   * @default - no markers
   */
  readonly limitMarkerTtl?: DurationInput;
}

/** Props of `KeyValue`: the bucket's options and the store that hosts it. */
export interface KeyValueProps extends KeyValueOptions {
  /** The store that hosts the bucket. */
  readonly store: IStreamStore;
}

/**
 * A JetStream key-value bucket on a store: a stream `KV_<bucket>` capturing `$KV.<bucket>.>` with
 * the settings the NATS clients give a bucket (one message per revision, discard new, deny delete,
 * roll-ups and direct gets). As a stream it takes part in every rule of its store, and the
 * post-deploy Job applies it with the same safety rules; its errors name the stream and its
 * stream props (`maxMsgsPerSubject` is the history, `maxAge` the ttl, `maxMsgSize` the max value size).
 */
export class KeyValue extends StreamView {
  /** The bucket name. */
  public readonly bucket: string;
  public readonly stream: Stream;
  protected readonly displayName: string;

  constructor(scope: Construct, id: string, props: KeyValueProps) {
    super(scope, id);
    this.bucket = props.bucket ?? id;
    this.displayName = `key-value bucket "${this.bucket}"`;
    const problems = bucketProblems('bucket', this.bucket);
    if (props.history !== undefined && !(Number.isInteger(props.history) && props.history >= 1 && props.history <= MAX_HISTORY)) {
      problems.push(`history ${showValue(props.history)} must be a whole number from 1 to ${MAX_HISTORY}`);
    }
    if (props.mirror !== undefined && props.sources !== undefined) problems.push('mirror cannot be used with sources');
    this.node.addValidation({ validate: () => problems.map((p) => `key-value bucket "${this.bucket}": ${p}`) });
    const mirror = props.mirror?.stream;
    const sources: StreamSource[] | undefined = props.sources?.map((origin) => ({
      stream: origin.stream,
      // A bucket's values live under its own name: copies are renamed into this bucket's subjects.
      subjectTransforms: [{ source: `$KV.${origin.bucket}.>`, destination: `$KV.${this.bucket}.>` }],
    }));
    this.stream = new Stream(this, 'Stream', {
      ...streamViewOptions(props),
      store: props.store,
      name: `KV_${this.bucket}`,
      subjects: mirror === undefined ? [`$KV.${this.bucket}.>`] : undefined,
      maxMsgsPerSubject: props.history ?? 1,
      maxMsgSize: props.maxValueSize,
      republish: props.republish,
      mirror,
      sources,
      denyDelete: true,
      ...(props.limitMarkerTtl !== undefined ? { allowMsgTtl: true, subjectDeleteMarkerTtl: props.limitMarkerTtl } : {}),
    });
  }

  /** A reader gets keys, watches, lists keys and history; a writer also puts, creates, updates, deletes and purges keys. */
  protected permissions(write: boolean, inboxPrefix: string): Permissions {
    return keyValuePermissions(this.bucket, write, { inboxPrefix });
  }
}

/** Why `name` is no bucket or object store name, as a list of at most one problem. */
export function bucketProblems(prop: string, name: string): string[] {
  return BUCKET_NAME.test(name) ? [] : [`${prop} ${showValue(name)} must be letters, digits, "_" and "-"`];
}
