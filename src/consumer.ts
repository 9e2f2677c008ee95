import { Construct, IConstruct } from 'constructs';
import type * as kplus from 'cdk8s-plus-28';
import { consumerPermissions } from './auth';
import { resolveConsumer } from './consumer-definition';
import { ConsumerDefinition, ConsumerOptions } from './consumer-options';
import { GrantOptions } from './grants';
import { formatProblem } from './problems';
import type { IStream } from './stream';

/** A durable JetStream consumer declared in the app. */
export interface IConsumer extends IConstruct {
  /** The consumer's durable name. */
  readonly name: string;
  /** The stream it reads. */
  readonly stream: IStream;
  /** The consumer with every default applied: its API configuration and the Job's switches. */
  readonly definition: ConsumerDefinition;
}

/** Props of `Consumer`: the consumer's options and the stream it reads. */
export interface ConsumerProps extends ConsumerOptions {
  /** The stream the consumer reads; its store's Job creates the consumer after the stream. */
  readonly stream: IStream;
}

/**
 * One durable JetStream consumer of a `Stream`, pull or push (with `deliverSubject`).
 *
 * Like a stream it renders no Kubernetes object of its own: the store writes it into its stream's
 * entry of the definitions, and the post-deploy Job creates it after its stream, updates what
 * JetStream can update in place, and refuses what it cannot. Every rule the server would reject at
 * runtime is a synth error, reported through cdk8s validation.
 */
export class Consumer extends Construct implements IConsumer {
  public readonly name: string;
  public readonly stream: IStream;
  public readonly definition: ConsumerDefinition;

  constructor(scope: Construct, id: string, props: ConsumerProps) {
    super(scope, id);
    const { stream, ...options } = props;
    this.stream = stream;
    const resolution = resolveConsumer(options, id, stream.definition, stream.store.streamPolicy.version);
    this.definition = resolution.value;
    this.name = resolution.value.name;
    const messages = resolution.problems.map((problem) => `consumer "${this.name}" of stream "${stream.name}": ${formatProblem(problem)}`);
    this.node.addValidation({ validate: () => messages });
    stream.registerConsumer(this);
  }

  /**
   * Lets `workload` read this consumer: fetch (pull) or receive (push) its messages, acknowledge
   * them and read its info, with a user of its own on the store, and no right to create, update or
   * delete any consumer. The workload's containers are wired as for `Stream.grantConsume`.
   */
  public grantConsume(workload: kplus.AbstractPod | kplus.Workload, options: GrantOptions): void {
    const consumer = { stream: this.stream.name, name: this.name, deliverSubject: this.definition.config.deliver_subject };
    this.stream.store.grantAccess(workload, {
      target: `consumer "${this.name}" of stream "${this.stream.name}"`,
      permissions: (inboxPrefix) => consumerPermissions(consumer, { inboxPrefix }),
    }, options);
  }
}
