/**
 * Billable operations per event and their price (pure; only a type import, so Node's type stripping
 * and the Workers-pool unit tests both load it). Counter shape: `GET /v1/billable-ops`
 * (src/observability/op-counts.ts).
 */
import type { OpCounts } from "../../src/observability/op-counts";

/** One origin's counters as the report gives them; fields added later are absent in older builds' reports. */
export type OriginCounts = Omit<
  OpCounts,
  "do_sql_rows_written" | "do_sql_rows_read" | "do_duration_ms" | "d1_statements"
> &
  Partial<Pick<OpCounts, "do_sql_rows_written" | "do_sql_rows_read" | "do_duration_ms">> & {
    d1_statements?: Record<string, StatementCounts>;
  };

export interface StatementCounts {
  n: number;
  rows_read: number;
  rows_written: number;
}

export interface PerEvent {
  events: number;
  d1_queries: number;
  d1_rows_read: number;
  d1_rows_written: number;
  queue_writes: number;
  queue_reads: number;
  queue_deletes: number;
  queue_ops: number;
  /** RPC calls and fetches on stubs plus alarm invocations. */
  do_requests: number;
  do_alarms: number;
  /** Rows written/read by Durable Objects' own SQLite storage (gate state, timers, outbox). */
  do_sql_rows_written: number;
  do_sql_rows_read: number;
  /** Seconds Durable Objects were active. */
  do_duration_s: number;
  /** Workers invocations (HTTP requests, queue batches, cron runs). */
  invocations: number;
  do_calls: Record<string, number>;
  /** Per-origin share of the billable operations (rows read excluded). */
  by_origin: Record<string, number>;
  /** D1 statements per event by `<origin>: <kind> <table>`. */
  d1_statements: Record<string, StatementCounts>;
}

/** USD per million units. */
export interface Prices {
  d1_rows_read: number;
  d1_rows_written: number;
  queue_ops: number;
  do_requests: number;
  do_sql_rows_read: number;
  do_sql_rows_written: number;
  /** Per million Workers requests. */
  workers_requests: number;
  /** Per million CPU milliseconds. */
  workers_cpu_ms: number;
  /** Per million seconds of one Durable Object awake (128 MB: $12.50 per million GB-s × 0.125 GB). */
  do_duration_s: number;
}

/**
 * Cloudflare list prices (Workers Paid), USD per million units beyond the included amounts, as of
 * PRICES_AS_OF. Queues bill one operation per 64 KB written, read or deleted. DO duration is not priced.
 */
export const PRICES: Prices = {
  d1_rows_read: 0.001,
  d1_rows_written: 1.0,
  queue_ops: 0.4,
  do_requests: 0.15,
  // SQLite-backed Durable Object storage is billed per row like D1.
  do_sql_rows_read: 0.001,
  do_sql_rows_written: 1.0,
  workers_requests: 0.3,
  workers_cpu_ms: 0.02,
  do_duration_s: 12.5 * 0.125,
};
export const PRICES_AS_OF = "2026-12-06";

/** Totals over `origins` (minus `exclude`, e.g. the benchmark's own API polling), per event. */
export function perEvent(
  origins: Readonly<Record<string, OriginCounts>>,
  events: number,
  exclude: readonly string[] = [],
): PerEvent {
  const out: PerEvent = {
    events,
    d1_queries: 0,
    d1_rows_read: 0,
    d1_rows_written: 0,
    queue_writes: 0,
    queue_reads: 0,
    queue_deletes: 0,
    queue_ops: 0,
    do_requests: 0,
    do_alarms: 0,
    do_sql_rows_written: 0,
    do_sql_rows_read: 0,
    do_duration_s: 0,
    invocations: 0,
    do_calls: {},
    by_origin: {},
    d1_statements: {},
  };
  if (events <= 0) return out;
  for (const [origin, c] of Object.entries(origins)) {
    if (exclude.includes(origin)) continue;
    out.d1_queries += c.d1_queries / events;
    out.d1_rows_read += c.d1_rows_read / events;
    out.d1_rows_written += c.d1_rows_written / events;
    out.queue_writes += c.queue_writes / events;
    out.queue_reads += c.queue_reads / events;
    out.queue_deletes += c.queue_deletes / events;
    out.do_requests += (c.do_requests + c.do_alarms) / events;
    out.do_alarms += c.do_alarms / events;
    out.do_sql_rows_written += (c.do_sql_rows_written ?? 0) / events;
    out.do_sql_rows_read += (c.do_sql_rows_read ?? 0) / events;
    out.do_duration_s += (c.do_duration_ms ?? 0) / 1000 / events;
    out.invocations += c.invocations / events;
    for (const [call, n] of Object.entries(c.do_calls)) out.do_calls[call] = (out.do_calls[call] ?? 0) + n / events;
    if (c.do_alarms > 0)
      out.do_calls[`${origin}.alarm`] = (out.do_calls[`${origin}.alarm`] ?? 0) + c.do_alarms / events;
    for (const [key, st] of Object.entries(c.d1_statements ?? {})) {
      out.d1_statements[`${origin}: ${key}`] = {
        n: st.n / events,
        rows_read: st.rows_read / events,
        rows_written: st.rows_written / events,
      };
    }
    const billable =
      c.d1_rows_written +
      (c.do_sql_rows_written ?? 0) +
      c.queue_writes +
      c.queue_reads +
      c.queue_deletes +
      c.do_requests +
      c.do_alarms;
    if (billable > 0) out.by_origin[origin] = billable / events;
  }
  out.queue_ops = out.queue_writes + out.queue_reads + out.queue_deletes;
  return out;
}

/**
 * Billable operations per event as SPEC 17 counts them (D1 rows written, queue operations, DO
 * requests), without and with D1 rows read (which cost 1/1000 of a row written); and with the rows
 * Durable Objects write to their own SQLite storage, which SPEC 17 does not list but Cloudflare bills.
 */
export function billableOpsPerEvent(per: PerEvent): {
  excluding_rows_read: number;
  including_rows_read: number;
  with_do_storage_rows: number;
} {
  const excluding = per.d1_rows_written + per.queue_ops + per.do_requests;
  return {
    excluding_rows_read: excluding,
    including_rows_read: excluding + per.d1_rows_read,
    with_do_storage_rows: excluding + per.do_sql_rows_written,
  };
}

/** What the counters cannot see, measured around them (see bench/run.ts, docs/scale.md). */
export interface Measured {
  /** CPU ms per event of the whole workerd process (an upper bound on billed Workers CPU). */
  cpu_ms: number;
  /** Rows kept per event in D1 and in Durable Object storage: retention deletes each later. */
  d1_rows_kept: number;
  do_rows_kept: number;
}

export interface CostBreakdown {
  workers_requests: number;
  workers_cpu: number;
  queue_ops: number;
  do_requests: number;
  do_duration: number;
  d1_rows_written: number;
  d1_rows_read: number;
  do_storage_rows: number;
  /** The rows retention removes later (each a row written, see docs/scale.md). */
  retention_deletes: number;
  total: number;
}

/**
 * USD per million events: each per-event count times its price per million, everything Cloudflare
 * bills (SPEC 17): Workers requests and CPU, queue operations, Durable Object requests and duration,
 * rows written in D1 and DO storage, and the rows retention deletes later.
 */
export function costPerMillionEvents(
  per: PerEvent,
  measured: Measured = { cpu_ms: 0, d1_rows_kept: 0, do_rows_kept: 0 },
  prices: Prices = PRICES,
): CostBreakdown {
  const cost = {
    workers_requests: per.invocations * prices.workers_requests,
    workers_cpu: measured.cpu_ms * prices.workers_cpu_ms,
    queue_ops: per.queue_ops * prices.queue_ops,
    do_requests: per.do_requests * prices.do_requests,
    do_duration: per.do_duration_s * prices.do_duration_s,
    d1_rows_written: per.d1_rows_written * prices.d1_rows_written,
    d1_rows_read: per.d1_rows_read * prices.d1_rows_read,
    do_storage_rows:
      per.do_sql_rows_written * prices.do_sql_rows_written + per.do_sql_rows_read * prices.do_sql_rows_read,
    retention_deletes:
      measured.d1_rows_kept * prices.d1_rows_written + measured.do_rows_kept * prices.do_sql_rows_written,
  };
  return { ...cost, total: Object.values(cost).reduce((a, b) => a + b, 0) };
}

/** What one D1 database and the other ceilings allow at the measured footprint (SPEC 1.1). */
export interface Capacity {
  /** Sustained events/s one 10 GB D1 database holds with `retentionDays` of history. */
  d1_sustained_eps: number;
  /** Peak events/s one D1 database executes (≈ 1,000 statements/s). */
  d1_peak_eps: number;
  /** Events/s one binding's gate object serves (≈ 1,000 requests/s per object). */
  gate_eps: number;
  /** Events/s one EventLog object serves. */
  event_log_eps: number;
  /** Events/s one queue allows (5,000 messages/s), when a queue is on the path. */
  queue_eps: number | null;
}

export function capacity(
  per: PerEvent,
  d1BytesPerEvent: number,
  retentionDays = 7,
  limits = { d1_bytes: 10e9, d1_statements_per_s: 1000, do_requests_per_s: 1000, queue_messages_per_s: 5000 },
): Capacity {
  const calls = (prefix: string) =>
    Object.entries(per.do_calls)
      .filter(([k]) => k.startsWith(prefix))
      .reduce((n, [, v]) => n + v, 0);
  const gateRequests = calls("BINDING_GATE.") + calls("BindingGate.alarm");
  const logRequests = calls("EVENT_LOG.") + calls("EventLog.alarm");
  return {
    d1_sustained_eps: limits.d1_bytes / (Math.max(d1BytesPerEvent, 1) * retentionDays * 86_400),
    d1_peak_eps: limits.d1_statements_per_s / Math.max(per.d1_queries, 1e-9),
    gate_eps: limits.do_requests_per_s / Math.max(gateRequests, 1e-9),
    event_log_eps: limits.do_requests_per_s / Math.max(logRequests, 1e-9),
    queue_eps: per.queue_writes > 0 ? limits.queue_messages_per_s / per.queue_writes : null,
  };
}
