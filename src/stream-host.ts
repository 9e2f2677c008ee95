import { ApiObjectMetadata, Lazy } from 'cdk8s';
import * as kplus from 'cdk8s-plus-28';
import * as k8s from 'cdk8s-plus-28/lib/imports/k8s';
import { Construct } from 'constructs';
import { streamsDigest } from './apply/definitions';
import { HostedStream } from './store-rules';
import { KeyValue, KeyValueOptions } from './key-value';
import { ObjectStore, ObjectStoreOptions } from './object-store';
import { IStream, Stream } from './stream';
import { StreamOptions, StreamPolicy } from './stream-definition';
import { Chart } from 'cdk8s';
import { NO_EARLIER_OUTPUT, previousManifestsOf } from './previous-manifests';
import { PART_KEY, StreamsPart, nextGeneration, renderStreamsParts, withGeneration } from './streams-config';
import type { GrantOptions, GrantedAccess } from './grants';
import type { IStreamStore } from './stream-store';

/** Where the apply Job finds a store's stream definitions: its ConfigMaps, and the digest of what they hold. */
export interface StreamsVolume {
  /** The definitions ConfigMaps, sorted by the file each becomes (`<name>.json`). */
  readonly configMaps: readonly string[];
  /** The key each ConfigMap holds its part under. */
  readonly key: string;
  /** {@link streamsDigest} of the parts, in the order of `configMaps`. */
  readonly digest: string;
}

/**
 * What every kind of store does with the streams declared on it: records them, renders their
 * document once per set of streams, and keeps one definitions ConfigMap per part of it.
 */
export abstract class StreamHost extends Construct implements IStreamStore {
  public abstract readonly name: string;
  public abstract readonly streamPolicy: StreamPolicy;
  private readonly _streams: IStream[] = [];
  private parts?: StreamsPart[];
  private readonly partConfigs = new Map<string, k8s.KubeConfigMap>();
  private partMetadata?: (name: string) => ApiObjectMetadata;

  constructor(scope: Construct, id: string) {
    super(scope, id);
    this.node.addValidation({ validate: () => this.sameNameProblems() });
  }

  public get streams(): readonly IStream[] {
    return this._streams;
  }

  public addStream(id: string, options: StreamOptions = {}): Stream {
    return new Stream(this, id, { ...options, store: this });
  }

  /** Declares a key-value bucket on this store: a stream `KV_<bucket>`. */
  public addKeyValue(id: string, options: KeyValueOptions = {}): KeyValue {
    return new KeyValue(this, id, { ...options, store: this });
  }

  /** Declares an object store on this store: a stream `OBJ_<name>`. */
  public addObjectStore(id: string, options: ObjectStoreOptions = {}): ObjectStore {
    return new ObjectStore(this, id, { ...options, store: this });
  }

  public registerStream(stream: IStream): void {
    this._streams.push(stream);
    this.parts = undefined;
  }

  public consumersChanged(): void {
    this.parts = undefined;
  }

  public abstract grantAccess(workload: kplus.AbstractPod | kplus.Workload, access: GrantedAccess, options: GrantOptions): void;

  /**
   * Creates the first definitions ConfigMap, `<store>-streams`, which every store has, and keeps the
   * others in step with the streams: when the app validates (cdk8s validates before it renders, and
   * streams may be added until then), a ConfigMap is made for each further part and removed for a
   * part gone, each applied before `reader`, the Job that reads them.
   */
  protected createStreamsConfigs(metadata: (name: string) => ApiObjectMetadata, reader: () => Construct): k8s.KubeConfigMap {
    this.partMetadata = metadata;
    this.node.addValidation({
      validate: () => {
        this.syncStreamsConfigs(reader());
        return [];
      },
    });
    return this.partConfig('');
  }

  private syncStreamsConfigs(reader: Construct): void {
    const suffixes = new Set(this.streamsParts().map((p) => p.suffix));
    for (const suffix of [...this.partConfigs.keys()]) {
      if (suffixes.has(suffix)) continue;
      this.node.tryRemoveChild(partId(suffix));
      this.partConfigs.delete(suffix);
    }
    for (const suffix of suffixes) reader.node.addDependency(this.partConfig(suffix));
  }

  /**
   * Another store of the app with this name in this namespace: their objects (ConfigMaps, Jobs,
   * the CronJob, for a store it deploys the StatefulSet and Services) would have the same names.
   */
  private sameNameProblems(): string[] {
    const namespace = (host: StreamHost) => Chart.of(host).namespace ?? 'default';
    const first = this.node.root.node.findAll().find((c): c is StreamHost => c instanceof StreamHost && c.name === this.name && namespace(c) === namespace(this));
    if (first === undefined || first === this) return [];
    return [`store "${this.name}": name "${this.name}" is also the name of store ${first.node.path} in namespace "${namespace(this)}": `
      + 'their objects would have the same names; give one of them another name prop or namespace'];
  }

  /**
   * The streams document in parts, rendered once for the streams declared so far, numbered with
   * the generation that follows from the previous synthesis's (see {@link nextGeneration}).
   */
  protected streamsParts(): StreamsPart[] {
    if (this.parts) return this.parts;
    const consumers = new Map(this._streams.map((s) => [s.name, s.consumers.map((c) => c.definition)]));
    const unnumbered = renderStreamsParts(this.name, this.streamPolicy.version.version, 0, this._streams.map((s) => s.definition), consumers);
    const earlier = previousManifestsOf(this) ?? { objects: [], ...NO_EARLIER_OUTPUT };
    this.parts = withGeneration(unnumbered, nextGeneration(earlier, this.name, Chart.of(this).namespace, unnumbered));
    return this.parts;
  }

  /** The definitions as the apply Job mounts them. */
  protected streamsVolume(): StreamsVolume {
    const parts = this.streamsParts()
      .map((part) => ({ name: partName(this.name, part.suffix), text: part.text }))
      .sort((a, b) => (`${a.name}.json` < `${b.name}.json` ? -1 : 1));
    return { configMaps: parts.map((p) => p.name), key: PART_KEY, digest: streamsDigest(parts.map((p) => p.text)) };
  }

  /** The streams as the rules between them see them. */
  protected hostedStreams(): HostedStream[] {
    return this._streams.map((s) => ({
      path: s.node.path,
      definition: s.definition,
      origins: s.origins.map(({ field, stream }) => ({
        field, path: stream.node.path, definition: stream.definition, store: stream.store === this ? undefined : stream.store.name,
      })),
    }));
  }

  private partConfig(suffix: string): k8s.KubeConfigMap {
    const existing = this.partConfigs.get(suffix);
    if (existing) return existing;
    if (!this.partMetadata) throw new Error(`${this.node.path}: createStreamsConfigs must run before the parts are synced`);
    const config = new k8s.KubeConfigMap(this, partId(suffix), {
      metadata: this.partMetadata(partName(this.name, suffix)),
      data: Lazy.any({ produce: () => ({ [PART_KEY]: this.partText(suffix) }) }),
    });
    this.partConfigs.set(suffix, config);
    return config;
  }

  private partText(suffix: string): string {
    const part = this.streamsParts().find((p) => p.suffix === suffix);
    if (!part) throw new Error(`${this.node.path}: streams were declared after the app was validated`);
    return part.text;
  }
}

function partId(suffix: string): string {
  return suffix === '' ? 'StreamsConfig' : `StreamsConfig-${suffix}`;
}

function partName(store: string, suffix: string): string {
  return suffix === '' ? `${store}-streams` : `${store}-streams-${suffix}`;
}
