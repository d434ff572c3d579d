/**
 * `/metrics` families (SPEC 14), derived from durable state on every scrape: D1 aggregate queries,
 * never per-isolate counters, so values agree across isolates and survive restarts. All reads go
 * in one `batch` (one round trip, one consistent snapshot); each returns a few grouped rows, and
 * histograms are bucketed in SQL so no per-row data leaves D1.
 *
 * Cost: every query is one index or table scan (plus primary-key lookups), growing with the rows
 * kept. None of the tables read here is purged; `records` is (retention), which is why these
 * queries avoid it: a count that drops when retention deletes rows would read as a counter reset.
 */
import { knownDestinations } from "../circuit/known-destinations";
import { TERMINAL_STATUSES } from "../contracts/dispatch";
import { API_SOURCE } from "./intake-counters";
import type { HistogramSeries, MetricFamily, Sample } from "./prometheus";
import { sumSamples } from "./prometheus";

/**
 * Statuses a dispatch never leaves: their counts only grow, so they form a counter. `waiting` is
 * terminal in SPEC 6 but can still be completed (or re-run after a budget deferral), so it is
 * reported with the live statuses as a gauge.
 */
export const FINAL_DISPATCH_STATUSES: readonly string[] = TERMINAL_STATUSES.filter((s) => s !== "waiting");

/** Histogram bounds in seconds. */
export const BUCKETS = {
  /** Accepted → first attempt start: SPEC 17 targets p50 ≤ 20 ms, p99 ≤ 250 ms; holds can last hours. */
  queueAge: [0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600],
  /** One handler call: fast webhooks up to timeouts. */
  attemptDuration: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
  /** Accepted → DLQ: retry schedules run from seconds (linear) to days (svix). */
  dlqAge: [1, 5, 15, 60, 300, 900, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86_400, 3 * 86_400, 7 * 86_400],
} as const;

/** One `(binding_key, status)` group of `dispatches`, resolved to its trigger and handler kind. */
export interface DispatchCountRow {
  trigger: string;
  handler_kind: string;
  status: string;
  n: number;
}

export interface HistogramRow {
  n: number;
  sum: number;
  /** Cumulative count for each bound, in the order of the bucket list. */
  cumulative: number[];
}

export interface CircuitTransitionRow {
  destination: string;
  to: string;
  n: number;
}

/** Everything one scrape reads, as plain data. */
export interface MetricsSnapshot {
  dispatches: DispatchCountRow[];
  retries: { trigger: string; n: number }[];
  dlqByReason: { reason: string; n: number }[];
  dlqPending: number;
  intakeAccepted: { source: string | null; n: number }[];
  intakeCounters: { source: string; outcome: string; reason: string; n: number }[];
  circuitTransitions: CircuitTransitionRow[];
  queueAge: HistogramRow;
  attemptDuration: HistogramRow;
  dlqAge: HistogramRow;
}

function histogram(bounds: readonly number[], row: HistogramRow): HistogramSeries {
  return {
    labels: {},
    buckets: bounds.map((le, i) => ({ le, count: row.cumulative[i] ?? 0 })),
    sum: row.sum,
    count: row.n,
  };
}

/** Pure: the metric families of a snapshot, in a fixed order. */
export function buildMetricFamilies(s: MetricsSnapshot): MetricFamily[] {
  const final = new Set(FINAL_DISPATCH_STATUSES);
  const dispatchSamples = (keep: (status: string) => boolean): Sample[] =>
    sumSamples(
      s.dispatches
        .filter((r) => keep(r.status))
        .map((r) => ({ labels: { trigger: r.trigger, handler_kind: r.handler_kind, status: r.status }, value: r.n })),
    );
  const intake = [
    ...s.intakeAccepted.map((r) => ({
      labels: { source: r.source ?? API_SOURCE, outcome: "accepted" },
      value: r.n,
    })),
    ...s.intakeCounters.map((r) => ({ labels: { source: r.source, outcome: r.outcome }, value: r.n })),
  ];
  return [
    {
      name: "switchyard_dispatches_total",
      help: "Dispatches that reached a final status (succeeded, skipped, failed, dlq, cancelled).",
      type: "counter",
      samples: dispatchSamples((status) => final.has(status)),
    },
    {
      name: "switchyard_dispatches_open",
      help: "Dispatches currently in a status they can still leave (pending, admitted, running, retry_scheduled, held, waiting).",
      type: "gauge",
      samples: dispatchSamples((status) => !final.has(status)),
    },
    {
      name: "switchyard_retries_total",
      help: "Attempts started beyond the first attempt of a dispatch.",
      type: "counter",
      samples: sumSamples(s.retries.map((r) => ({ labels: { trigger: r.trigger }, value: r.n }))),
    },
    {
      name: "switchyard_dlq_total",
      help: "Dispatches moved to the dead-letter queue, by reason.",
      type: "counter",
      samples: sumSamples(s.dlqByReason.map((r) => ({ labels: { reason: r.reason }, value: r.n }))),
    },
    {
      name: "switchyard_dlq_pending",
      help: "Dead-letter entries not yet resolved.",
      type: "gauge",
      samples: [{ labels: {}, value: s.dlqPending }],
    },
    {
      name: "switchyard_intake_total",
      help: "Intake requests by source (_api for POST /v1/events) and outcome (accepted, duplicate, rejected).",
      type: "counter",
      samples: sumSamples(intake),
    },
    {
      name: "switchyard_intake_rejected_total",
      help: "Rejected intake requests by source and error code (backpressure is not counted).",
      type: "counter",
      samples: sumSamples(
        s.intakeCounters
          .filter((r) => r.outcome === "rejected")
          .map((r) => ({ labels: { source: r.source, reason: r.reason }, value: r.n })),
      ),
    },
    {
      name: "switchyard_circuit_transitions_total",
      help: "Destination circuit breaker transitions, by destination and the state entered.",
      type: "counter",
      samples: sumSamples(
        s.circuitTransitions.map((r) => ({ labels: { destination: r.destination, to: r.to }, value: r.n })),
      ),
    },
    {
      name: "switchyard_queue_age_seconds",
      help: "Time from acceptance (a replay: its creation) to the start of the first attempt of a dispatch.",
      type: "histogram",
      series: [histogram(BUCKETS.queueAge, s.queueAge)],
    },
    {
      name: "switchyard_attempt_duration_seconds",
      help: "Duration of completed handler attempts.",
      type: "histogram",
      series: [histogram(BUCKETS.attemptDuration, s.attemptDuration)],
    },
    {
      name: "switchyard_dlq_age_seconds",
      help: "Time from acceptance (a replay: its creation) to the move into the dead-letter queue.",
      type: "histogram",
      series: [histogram(BUCKETS.dlqAge, s.dlqAge)],
    },
  ];
}

/**
 * Circuit transitions per destination and target state, summed from each Destination object's
 * lifetime counters (durable, never pruned). Destinations are those of live binding versions.
 */
export async function circuitTransitionCounts(env: Env): Promise<CircuitTransitionRow[]> {
  const destinations = await knownDestinations(env.DB);
  const stats = await Promise.all(destinations.map((d) => env.DESTINATION.getByName(d).stats()));
  const rows: CircuitTransitionRow[] = [];
  stats.forEach((s, i) => {
    const byTarget = new Map<string, number>();
    for (const t of s.transitions_total) byTarget.set(t.to, (byTarget.get(t.to) ?? 0) + t.count);
    for (const [to, n] of byTarget) rows.push({ destination: destinations[i] ?? "", to, n });
  });
  return rows;
}

/**
 * SQL returning `n`, `sum` (seconds) and one cumulative `b<i>` column per bound, over the whole
 * milliseconds `ms` of `from`. Integer milliseconds keep bucket edges and sums exact.
 */
function histogramSql(bounds: readonly number[], ms: string, from: string): string {
  // Bounds are constants of this module, never input, so they are inlined rather than bound.
  const buckets = bounds.map((le, i) => `coalesce(sum(ms <= ${Math.round(le * 1000)}), 0) AS b${i}`).join(", ");
  return `SELECT count(*) AS n, total(ms) / 1000.0 AS sum, ${buckets} FROM (SELECT ${ms} AS ms ${from})`;
}

/**
 * Whole milliseconds between two ISO timestamps, clamped at 0 (clocks of different isolates may
 * disagree). julianday() carries ~40 µs of float error at today's dates; the timestamps are whole
 * milliseconds, so rounding makes the difference exact.
 */
const msBetween = (from: string, to: string) =>
  `max(0, CAST(round((julianday(${to}) - julianday(${from})) * 86400000.0) AS INTEGER))`;

/** Replays re-dispatch an old event: their clock starts when the replay dispatch was created. */
const ACCEPTED_AT = "CASE WHEN d.replay_of_event_id IS NULL THEN e.received_at ELSE d.created_at END";

const QUERIES = {
  // Groups on the (binding_key, status) index; one row lookup per group names its trigger and handler
  // kind, which are fixed per binding_key (one binding version has one handler).
  dispatches: `SELECT d.binding_id AS trigger, d.handler_kind AS handler_kind, g.status AS status, g.n AS n
    FROM (SELECT binding_key, status, count(*) AS n, min(rowid) AS r FROM dispatches GROUP BY binding_key, status) g
    JOIN dispatches d ON d.rowid = g.r`,
  retries: `SELECT d.binding_id AS trigger, count(*) AS n
    FROM attempts a JOIN dispatches d ON d.dispatch_id = a.dispatch_id
    WHERE a.attempt > 1 GROUP BY d.binding_id`,
  dlqByReason: "SELECT reason, count(*) AS n FROM dlq_entries GROUP BY reason",
  dlqPending: "SELECT count(*) AS n FROM dlq_entries WHERE state = 'pending'",
  intakeAccepted: "SELECT source, count(*) AS n FROM events GROUP BY source",
  intakeCounters: "SELECT source, outcome, reason, count AS n FROM intake_counters",
  queueAge: histogramSql(
    BUCKETS.queueAge,
    msBetween(ACCEPTED_AT, "a.started_at"),
    `FROM attempts a JOIN dispatches d ON d.dispatch_id = a.dispatch_id JOIN events e ON e.id = d.event_id
     WHERE a.attempt = 1`,
  ),
  attemptDuration: histogramSql(
    BUCKETS.attemptDuration,
    "max(0, duration_ms)",
    "FROM attempts WHERE duration_ms IS NOT NULL",
  ),
  dlqAge: histogramSql(
    BUCKETS.dlqAge,
    msBetween(ACCEPTED_AT, "x.created_at"),
    `FROM dlq_entries x JOIN dispatches d ON d.dispatch_id = x.dispatch_id JOIN events e ON e.id = d.event_id`,
  ),
} as const;

type Row = Record<string, unknown>;

function histogramRow(row: Row | undefined, bounds: readonly number[]): HistogramRow {
  return {
    n: Number(row?.n ?? 0),
    sum: Number(row?.sum ?? 0),
    cumulative: bounds.map((_, i) => Number(row?.[`b${i}`] ?? 0)),
  };
}

/** Reads one snapshot of everything `/metrics` reports: one D1 batch, plus the circuit counters. */
export async function readMetricsSnapshot(env: Env): Promise<MetricsSnapshot> {
  const d1 = env.DB;
  const names = Object.keys(QUERIES) as (keyof typeof QUERIES)[];
  const [results, circuitTransitions] = await Promise.all([
    d1.batch<Row>(names.map((name) => d1.prepare(QUERIES[name]))),
    circuitTransitionCounts(env),
  ]);
  const rows = (name: keyof typeof QUERIES): Row[] => results[names.indexOf(name)]?.results ?? [];
  return {
    dispatches: rows("dispatches").map((r) => ({
      trigger: String(r.trigger),
      handler_kind: String(r.handler_kind),
      status: String(r.status),
      n: Number(r.n),
    })),
    retries: rows("retries").map((r) => ({ trigger: String(r.trigger), n: Number(r.n) })),
    dlqByReason: rows("dlqByReason").map((r) => ({ reason: String(r.reason), n: Number(r.n) })),
    dlqPending: Number(rows("dlqPending")[0]?.n ?? 0),
    intakeAccepted: rows("intakeAccepted").map((r) => ({
      source: r.source === null ? null : String(r.source),
      n: Number(r.n),
    })),
    intakeCounters: rows("intakeCounters").map((r) => ({
      source: String(r.source),
      outcome: String(r.outcome),
      reason: String(r.reason),
      n: Number(r.n),
    })),
    circuitTransitions,
    queueAge: histogramRow(rows("queueAge")[0], BUCKETS.queueAge),
    attemptDuration: histogramRow(rows("attemptDuration")[0], BUCKETS.attemptDuration),
    dlqAge: histogramRow(rows("dlqAge")[0], BUCKETS.dlqAge),
  };
}
