import * as kplus from 'cdk8s-plus-28';
import { Construct } from 'constructs';
import { HostedStream, renderStreamsDocument } from './store-rules';
import { IStream, Stream } from './stream';
import { StreamOptions, StreamPolicy } from './stream-definition';
import type { GrantOptions, StreamGrant } from './grants';
import type { IStreamStore } from './stream-store';

/** What every kind of store does with the streams declared on it: records them and renders their document. */
export abstract class StreamHost extends Construct implements IStreamStore {
  public abstract readonly name: string;
  public abstract readonly streamPolicy: StreamPolicy;
  private readonly _streams: IStream[] = [];

  public get streams(): readonly IStream[] {
    return this._streams;
  }

  public addStream(id: string, options: StreamOptions = {}): Stream {
    return new Stream(this, id, { ...options, store: this });
  }

  public registerStream(stream: IStream): void {
    this._streams.push(stream);
  }

  public abstract grantStreamAccess(stream: IStream, workload: kplus.AbstractPod | kplus.Workload, kind: StreamGrant, options: GrantOptions): void;

  /** The stream definitions as the post-deploy Job reads them, sorted by name, one stream a line. */
  protected renderStreams(): string {
    return renderStreamsDocument(this.name, this.streamPolicy.version, this._streams.map((s) => s.definition));
  }

  /** The streams as the rules between them see them. */
  protected hostedStreams(): HostedStream[] {
    return this._streams.map((s) => ({ path: s.node.path, definition: s.definition }));
  }
}
