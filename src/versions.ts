/**
 * A NATS server release this library knows: its image tag and the JetStream stream
 * fields it understands.
 *
 * The version is explicit so that a newer library default never upgrades a running
 * store silently, and so that a stream field the server would not know is a synth error
 * instead of a setting the server drops.
 */
export class NatsServerVersion {
  /** The last 2.9 release. */
  public static readonly V2_9_25 = new NatsServerVersion('2.9.25');
  /** A 2.10 release: stream metadata, compression, subject transforms, first sequence. */
  public static readonly V2_10_24 = new NatsServerVersion('2.10.24');

  /** Every version this library knows, oldest first. */
  public static all(): NatsServerVersion[] {
    return [NatsServerVersion.V2_9_25, NatsServerVersion.V2_10_24];
  }

  /** Looks up a known version by its number, such as "2.10.24". */
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
    /** The release number, such as "2.10.24". */
    public readonly version: string,
  ) {
    this.image = `nats:${version}-alpine`;
  }

  /** True when this release is `version` or newer. */
  public atLeast(version: string): boolean {
    return compareVersions(this.version, version) >= 0;
  }
}

/**
 * The first server release that knows each stream field newer than 2.9.0, by the
 * JetStream API name. Fields not listed here are known to every supported release.
 */
export const STREAM_FIELD_MIN_VERSION: Readonly<Record<string, string>> = {
  metadata: '2.10.0',
  compression: '2.10.0',
  first_seq: '2.10.0',
  subject_transform: '2.10.0',
};

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
