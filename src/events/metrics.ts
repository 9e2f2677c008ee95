/** The forwarder's counters, as `/metrics` shows them and the periodic summary logs them. */
export interface ForwarderCounts {
  /** Events read from the API server, listed or watched. */
  seen: number;
  /** Events left out by the type, reason and kind filters. */
  filtered: number;
  /** Messages the stream stored. */
  published: number;
  /** Messages the stream already had (same `Nats-Msg-Id`) and dropped. */
  duplicates: number;
  /** Publishes that failed and were sent again. */
  publishFailures: number;
  /** Lists again after the watch's position was gone (410) or ahead of the API server; a first start's list is not one. */
  relists: number;
  /** Watches started again after they ended or failed. */
  rewatches: number;
  /** Lookups of an involved object sent to the API server. */
  lookups: number;
  /** Lookups that gave no labels. */
  lookupFailures: number;
}

/** What the gauges read when `/metrics` is asked for. */
export interface ForwarderGauges {
  /** Messages sent and not yet acknowledged. */
  inFlight(): number;
  /** Objects in the labels cache. */
  cachedObjects(): number;
  /** 1 while this replica forwards, 0 while it waits for the lease. */
  leader(): number;
  /** 1 while connected to NATS. */
  natsConnected(): number;
  /** Seconds between the last stored event's time and its acknowledgement. */
  lagSeconds(): number;
  /** Seconds since a publish that still fails stopped the reading; 0 while messages flow. Alert on it. */
  stalledSeconds(): number;
}

/** A fresh set of counts. */
export function zeroCounts(): ForwarderCounts {
  return { seen: 0, filtered: 0, published: 0, duplicates: 0, publishFailures: 0, relists: 0, rewatches: 0, lookups: 0, lookupFailures: 0 };
}

const COUNTER_HELP: Record<keyof ForwarderCounts, [name: string, help: string]> = {
  seen: ['events_seen_total', 'Events read from the API server, listed or watched.'],
  filtered: ['events_filtered_total', 'Events left out by the type, reason and kind filters.'],
  published: ['events_published_total', 'Messages the stream stored.'],
  duplicates: ['events_duplicates_total', 'Messages the stream already had (same Nats-Msg-Id) and dropped.'],
  publishFailures: ['events_publish_failures_total', 'Publishes that failed and were sent again.'],
  relists: ['events_relists_total', 'Lists of every event again, after the watch position expired (410) or was ahead of the API server.'],
  rewatches: ['events_rewatches_total', 'Watches started again after they ended or failed.'],
  lookups: ['events_object_lookups_total', 'Involved objects read from the API server for their labels.'],
  lookupFailures: ['events_object_lookup_failures_total', 'Involved object lookups that gave no labels.'],
};

const GAUGE_HELP: Record<keyof ForwarderGauges, [name: string, help: string]> = {
  inFlight: ['events_in_flight', 'Messages sent and not yet acknowledged.'],
  cachedObjects: ['events_cached_objects', 'Involved objects in the labels cache.'],
  leader: ['events_leader', '1 while this replica forwards, 0 while it waits for the lease.'],
  natsConnected: ['events_nats_connected', '1 while connected to NATS.'],
  lagSeconds: ['events_lag_seconds', 'Seconds from the last stored event\'s time to its acknowledgement.'],
  stalledSeconds: ['events_stalled_seconds', 'Seconds since a publish that still fails stopped the reading; 0 while messages flow.'],
};

/** The metrics in Prometheus' text format. Pure. */
export function renderMetrics(counts: ForwarderCounts, gauges: ForwarderGauges): string {
  const lines: string[] = [];
  const metric = (name: string, help: string, type: string, value: number) => {
    lines.push(`# HELP jetstream_${name} ${help}`, `# TYPE jetstream_${name} ${type}`, `jetstream_${name} ${value}`);
  };
  for (const key of Object.keys(COUNTER_HELP) as (keyof ForwarderCounts)[]) metric(...COUNTER_HELP[key], 'counter', counts[key]);
  for (const key of Object.keys(GAUGE_HELP) as (keyof ForwarderGauges)[]) metric(...GAUGE_HELP[key], 'gauge', gauges[key]());
  return `${lines.join('\n')}\n`;
}

/** The periodic summary line. Pure. */
export function summaryLine(counts: ForwarderCounts, gauges: ForwarderGauges): string {
  return `summary: ${counts.seen} seen, ${counts.published} published, ${counts.duplicates} duplicates dropped, `
    + `${counts.filtered} filtered, ${gauges.inFlight()} in flight, lag ${gauges.lagSeconds().toFixed(1)}s`;
}
