import { Construct, IConstruct } from 'constructs';
import { Consumer, IConsumer } from './consumer';
import { ConsumerOptions } from './consumer-options';
import { streamConsumersProblems } from './consumer-rules';
import { Problem, formatProblem, showValue } from './problems';
import { StreamDefinition, StreamOptions, StreamOriginReference, resolveStream } from './stream-definition';
import type * as kplus from 'cdk8s-plus-28';
import { GrantOptions, PublishGrantOptions } from './grants';
import { subjectIsSubset, subjectProblem } from './subjects';
import { streamConsumerPermissions, streamPublisherPermissions } from './auth';
import type { IStreamStore } from './stream-store';

/** A JetStream stream declared in the app. */
export interface IStream extends IConstruct {
  /** The JetStream stream name. */
  readonly name: string;
  /** The store that hosts the stream. */
  readonly store: IStreamStore;
  /** The stream with every default applied; props that could not be read are left unset. */
  readonly definition: StreamDefinition;
  /** The streams of this app it mirrors or sources from, by the prop that names each. */
  readonly origins: readonly StreamOriginReference[];
  /** The consumers declared on it. */
  readonly consumers: readonly IConsumer[];
  /** Records a consumer declared on this stream; `Consumer` calls it. */
  registerConsumer(consumer: IConsumer): void;
}

/** Props of `Stream`: the stream's options and the store that hosts it. */
export interface StreamProps extends StreamOptions {
  /** The store that hosts the stream and sets its defaults and limits. */
  readonly store: IStreamStore;
}

/**
 * One JetStream stream on a `StreamStore`.
 *
 * The stream itself renders no Kubernetes object: the store writes every stream's
 * definition into its streams ConfigMap, which the post-deploy Job applies to the
 * server. Props the store does not allow, and every JetStream rule the server would
 * reject at runtime, are synth errors reported through cdk8s validation.
 */
export class Stream extends Construct implements IStream {
  public readonly name: string;
  public readonly store: IStreamStore;
  public readonly definition: StreamDefinition;
  public readonly origins: readonly StreamOriginReference[];
  private readonly _consumers: IConsumer[] = [];
  private readonly grantProblems: Problem[] = [];

  constructor(scope: Construct, id: string, props: StreamProps) {
    super(scope, id);
    const { store, ...options } = props;
    this.store = store;
    const resolution = resolveStream(options, id, store.streamPolicy);
    this.definition = resolution.value;
    this.name = resolution.value.name;
    this.origins = resolution.origins;
    const messages = resolution.problems.map((problem) => `stream "${this.name}": ${formatProblem(problem)}`);
    this.node.addValidation({ validate: () => messages });
    this.node.addValidation({
      validate: () => streamConsumersProblems(this.definition, this._consumers.map((c) => c.definition))
        .map((problem) => `stream "${this.name}": ${formatProblem(problem)}`),
    });
    this.node.addValidation({ validate: () => this.grantProblems.map((problem) => `stream "${this.name}": ${formatProblem(problem)}`) });
    store.registerStream(this);
  }

  public get consumers(): readonly IConsumer[] {
    return this._consumers;
  }

  /** Declares a durable consumer of this stream. */
  public addConsumer(id: string, options: ConsumerOptions = {}): Consumer {
    return new Consumer(this, id, { ...options, stream: this });
  }

  public registerConsumer(consumer: IConsumer): void {
    this._consumers.push(consumer);
    this.store.consumersChanged();
  }

  /**
   * Lets `workload` publish to this stream: a user of its own on the store, allowed this
   * stream's subjects (or those of `options.subjects`), and the workload's containers wired with
   * the connection and credentials.
   */
  public grantPublish(workload: kplus.AbstractPod | kplus.Workload, options: PublishGrantOptions): void {
    const { subjects = this.definition.subjects, ...user } = options;
    for (const [index, subject] of subjects.entries()) {
      const problem = subjectProblem(subject) ?? (this.definition.subjects.some((captured) => subjectProblem(captured) === undefined && subjectIsSubset(subject, captured))
        ? undefined : `must lie within the stream's subjects ${JSON.stringify(this.definition.subjects)}`);
      if (problem !== undefined) this.grantProblems.push({ field: `grantPublish(${workload.node.path}).subjects[${index}]`, value: showValue(subject), rule: problem });
    }
    const stream = { name: this.name, subjects };
    this.store.grantAccess(workload, { target: `stream "${this.name}"`, permissions: (inboxPrefix) => streamPublisherPermissions(stream, { inboxPrefix }) }, user);
  }

  /**
   * Lets `workload` read this stream through consumers, without publishing: a user of its own
   * on the store, and the workload's containers wired with the connection and credentials.
   */
  public grantConsume(workload: kplus.AbstractPod | kplus.Workload, options: GrantOptions): void {
    const stream = { name: this.name, subjects: this.definition.subjects };
    this.store.grantAccess(workload, { target: `stream "${this.name}"`, permissions: (inboxPrefix) => streamConsumerPermissions(stream, { inboxPrefix }) }, options);
  }
}
