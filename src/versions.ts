/**
 * A NATS server release this library knows: its image tag and the JetStream stream
 * fields it understands.
 *
 * The version is explicit so that a store runs the release its app names, and so that a
 * stream field the server would not know is a synth error instead of a setting the server
 * drops. Each line listed here is one the tests run: the 2.9 line on Debian's 2.9.10, the others
 * on exactly the release listed (V2_10_24 is the 2.10 line's earlier patch, kept for apps that pin it).
 */
export class NatsServerVersion {
  /** The last 2.9 release (its rules are tested on Debian's 2.9.10). */
  public static readonly V2_9_25 = new NatsServerVersion('2.9.25');
  /**
   * A 2.10 release, the default of earlier versions of this library.
   * @deprecated use V2_10_27, the 2.10 line's latest patch, which the tests run
   */
  public static readonly V2_10_24 = new NatsServerVersion('2.10.24');
  /** The 2.10 line's latest patch: stream metadata, compression, subject transforms, first sequence. */
  public static readonly V2_10_27 = new NatsServerVersion('2.10.27');
  /** The 2.11 line's latest patch. */
  public static readonly V2_11_17 = new NatsServerVersion('2.11.17');
  /** The 2.12 line's latest patch: a mirror can be removed, max consumers changed (from 2.12.5). */
  public static readonly V2_12_15 = new NatsServerVersion('2.12.15');
  /** The 2.14 line's latest patch. */
  public static readonly V2_14_10 = new NatsServerVersion('2.14.10');
  /** The 2.15 line's latest patch, the newest stable line. */
  public static readonly V2_15_3 = new NatsServerVersion('2.15.3');

  /** Every version this library knows, oldest first. */
  public static all(): NatsServerVersion[] {
    return [
      NatsServerVersion.V2_9_25, NatsServerVersion.V2_10_24, NatsServerVersion.V2_10_27, NatsServerVersion.V2_11_17,
      NatsServerVersion.V2_12_15, NatsServerVersion.V2_14_10, NatsServerVersion.V2_15_3,
    ];
  }

  /** Looks up a known version by its number, such as "2.14.10". */
  public static of(version: string): NatsServerVersion {
    const known = NatsServerVersion.all().find((v) => v.version === version);
    if (!known) {
      const names = NatsServerVersion.all().map((v) => `"${v.version}"`).join(', ');
      throw new Error(`unknown NATS server version "${version}": known versions are ${names}`);
    }
    return known;
  }

  /** The official image, pinned to this exact release. */
  public readonly image: string;

  private constructor(
    /** The release number, such as "2.14.10". */
    public readonly version: string,
  ) {
    this.image = `nats:${version}-alpine`;
  }

  /** True when this release is `version` or newer. */
  public atLeast(version: string): boolean {
    return compareVersions(this.version, version) >= 0;
  }
}

/** The release a store runs when its props name none: the newest line the tests pass on. */
export const DEFAULT_NATS_SERVER_VERSION = NatsServerVersion.V2_15_3;

/**
 * The first server release that knows each stream field newer than 2.9.0, by the
 * JetStream API name. Fields not listed here are known to every supported release.
 */
export const STREAM_FIELD_MIN_VERSION: Readonly<Record<string, string>> = {
  metadata: '2.10.0',
  compression: '2.10.0',
  first_seq: '2.10.0',
  subject_transform: '2.10.0',
  consumer_limits: '2.10.0',
  allow_msg_ttl: '2.11.0',
  subject_delete_marker_ttl: '2.11.0',
  allow_msg_counter: '2.12.0',
  allow_atomic: '2.12.0',
  allow_msg_schedules: '2.12.0',
  persist_mode: '2.12.0',
  allow_batched: '2.14.0',
};

/** A field of a stream configuration that a server release does not know. */
export interface NewerField {
  /** The API path: `allow_msg_ttl`, or `sources[1].subject_transforms`. */
  readonly field: string;
  readonly value: unknown;
  /** The first release that knows it. */
  readonly needs: string;
}

/** The first release that knows each field of a mirror or a source newer than 2.9.0. */
export const SOURCE_FIELD_MIN_VERSION: Readonly<Record<string, string>> = {
  subject_transforms: '2.10.0',
  // A durable consumer of the origin's, made beforehand, to copy through.
  consumer: '2.14.0',
};

/** The first release that knows each consumer configuration field that is newer than 2.9. */
export const CONSUMER_FIELD_MIN_VERSION: Readonly<Record<string, string>> = {
  filter_subjects: '2.10.0',
  metadata: '2.10.0',
  priority_groups: '2.11.0',
  priority_policy: '2.11.0',
  priority_timeout: '2.11.0',
  pause_until: '2.11.0',
};

/** Every field set in a JetStream consumer configuration that `version` does not know, with the release it needs. */
export function consumerFieldsNewerThan(config: object, version: string): NewerField[] {
  const fields = config as Record<string, unknown>;
  return Object.entries(CONSUMER_FIELD_MIN_VERSION)
    .filter(([field, needs]) => fields[field] !== undefined && compareVersions(version, needs) < 0)
    .map(([field, needs]) => ({ field, value: fields[field], needs }));
}

/**
 * Every field set in a JetStream stream configuration that `version` does not know, in
 * {@link STREAM_FIELD_MIN_VERSION} order, then those of the mirror and each source: such a server
 * would drop them silently.
 */
export function fieldsNewerThan(config: object, version: string): NewerField[] {
  const fields = config as Record<string, unknown>;
  const unknown = (table: Readonly<Record<string, string>>, object: Record<string, unknown>, prefix: string): NewerField[] => Object.entries(table)
    .filter(([field, needs]) => object[field] !== undefined && compareVersions(version, needs) < 0)
    .map(([field, needs]) => ({ field: `${prefix}${field}`, value: object[field], needs }));
  const origins = [
    ['mirror', fields.mirror],
    ...(Array.isArray(fields.sources) ? fields.sources.map((s, i) => [`sources[${i}]`, s]) : []),
  ] as Array<[string, Record<string, unknown> | undefined]>;
  return [
    ...unknown(STREAM_FIELD_MIN_VERSION, fields, ''),
    ...origins.flatMap(([field, origin]) => (origin ? unknown(SOURCE_FIELD_MIN_VERSION, origin, `${field}.`) : [])),
  ];
}

/** Compares two dotted release numbers numerically: negative, zero or positive. */
export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const diff = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (diff !== 0) return diff;
  }
  return 0;
}
