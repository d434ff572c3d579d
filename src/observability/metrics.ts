/**
 * `/metrics` families (SPEC 14), from durable counters on every scrape, never from per-isolate memory:
 * finished dispatches, retries and the queue-age and attempt-duration histograms are the totals of
 * each History window (sealed windows' totals are kept in D1's partition directory, so dropping a
 * window changes no counter; open windows are asked), accepted events likewise per EventLog window,
 * open dispatches come from each binding version's gate, DLQ and intake refusals from D1 rows, and
 * circuit transitions from each Destination's lifetime counters.
 */
import { knownDestinations } from "../circuit/known-destinations";
import { TERMINAL_STATUSES } from "../contracts/dispatch";
import { listPartitions } from "../db/partitions-repo";
import {
  BUCKETS,
  emptyHistogram,
  emptyTotals,
  type Histogram,
  type HistoryTotals,
  mergeTotals,
  observe,
} from "../history/history-totals";
import { dispatchKeyTime, uuidv7Time } from "../lib/partitions";
import { API_SOURCE, CONSOLE_SOURCE } from "./intake-counters";
import type { HistogramSeries, MetricFamily, Sample } from "./prometheus";
import { sumSamples } from "./prometheus";

/**
 * Statuses a dispatch never leaves: their counts only grow, so they form a counter. `waiting` can
 * still be completed (or re-run after a budget deferral), so it is reported with the live statuses
 * as a gauge.
 */
export const FINAL_DISPATCH_STATUSES: readonly string[] = TERMINAL_STATUSES.filter((s) => s !== "waiting");

export { BUCKETS };

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

export function cumulativeOf(h: Histogram): HistogramRow {
  let running = 0;
  return { n: h.n, sum: h.sum, cumulative: h.buckets.map((c) => (running += c)) };
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
  /** Intake requests the rate limiter refused (503), by the bucket that was empty. */
  intakeRefusals: { bucket: string; n: number }[];
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
  const intakeRows = s.intakeCounters.filter((r) => r.source !== CONSOLE_SOURCE);
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
    ...intakeRows.map((r) => ({ labels: { source: r.source, outcome: r.outcome }, value: r.n })),
  ];
  // Refusals of a limit, whatever the route (SPEC 16): 413 body size, 503 intake rate, 429 logins.
  const refusals: Sample[] = [
    ...s.intakeRefusals.map((r) => ({ labels: { reason: `intake_${r.bucket}`, status: "503" }, value: r.n })),
    ...s.intakeCounters
      .filter((r) => r.outcome === "rejected" && r.reason === "payload_too_large")
      .map((r) => ({ labels: { reason: "body_bytes", status: "413" }, value: r.n })),
    ...s.intakeCounters
      .filter((r) => r.source === CONSOLE_SOURCE && r.reason === "login_throttled")
      .map((r) => ({ labels: { reason: "login_throttled", status: "429" }, value: r.n })),
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
        intakeRows
          .filter((r) => r.outcome === "rejected")
          .map((r) => ({ labels: { source: r.source, reason: r.reason }, value: r.n })),
      ),
    },
    {
      name: "switchyard_refusals_total",
      help: "Requests refused by a limit, by the limit (intake_global, intake_source, intake_tenant, body_bytes, login_throttled) and HTTP status.",
      type: "counter",
      samples: sumSamples(refusals),
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
 * Totals of every History window (sealed ones from the D1 directory, open ones asked directly), and
 * retries per binding id (a window belongs to one).
 */
async function historyTotals(env: Env): Promise<{ total: HistoryTotals; retries: Map<string, number> }> {
  const windows = await listPartitions(env.DB, "history:");
  const total = emptyTotals();
  const retries = new Map<string, number>();
  const add = (name: string, t: HistoryTotals) => {
    mergeTotals(total, t);
    const bindingId = /^history:([^:]+):/.exec(name)?.[1] ?? "";
    if (t.retries > 0) retries.set(bindingId, (retries.get(bindingId) ?? 0) + t.retries);
  };
  const open = windows.filter((w) => w.sealed_at === null && w.dropped_at === null);
  for (const w of windows) if (w.sealed_at !== null && w.totals) add(w.name, JSON.parse(w.totals) as HistoryTotals);
  // What the earlier layout's rows stood for, sealed before any of them was purged.
  const [legacy] = await listPartitions(env.DB, "legacy:history");
  if (legacy?.totals) {
    const t = JSON.parse(legacy.totals) as HistoryTotals & { retries_by_binding: Record<string, number> };
    mergeTotals(total, { ...t, retries: 0 });
    for (const [id, n] of Object.entries(t.retries_by_binding)) retries.set(id, (retries.get(id) ?? 0) + n);
  }
  const live = await Promise.all(open.map((w) => env.DISPATCH_HISTORY.getByName(w.name).currentTotals()));
  for (const [i, t] of live.entries()) add(open[i]?.name ?? "", t);
  return { total, retries };
}

/** Accepted events per source over every EventLog window. */
async function acceptedTotals(env: Env): Promise<Map<string, number>> {
  const logs = [...(await listPartitions(env.DB, "events:")), ...(await listPartitions(env.DB, "legacy:events"))];
  const out = new Map<string, number>();
  const add = (counts: Record<string, number>) => {
    for (const [source, n] of Object.entries(counts)) out.set(source, (out.get(source) ?? 0) + n);
  };
  for (const l of logs) if (l.sealed_at !== null && l.totals) add(JSON.parse(l.totals) as Record<string, number>);
  const open = logs.filter((l) => l.sealed_at === null && l.dropped_at === null);
  for (const counts of await Promise.all(open.map((l) => env.EVENT_LOG.getByName(l.name).acceptedCounts())))
    add(counts);
  return out;
}

/** Open dispatches (not final) per version, from each gate that is not terminated. */
async function openDispatches(env: Env): Promise<DispatchCountRow[]> {
  const { results } = await env.DB.prepare(
    "SELECT binding_key, id, spec FROM binding_versions WHERE state != 'terminated'",
  ).all<{ binding_key: string; id: string; spec: string }>();
  const snapshots = await Promise.all(results.map((v) => env.BINDING_GATE.getByName(v.binding_key).snapshot()));
  const rows: DispatchCountRow[] = [];
  results.forEach((v, i) => {
    const handler = (JSON.parse(v.spec) as { handler?: string }).handler ?? "";
    const kind = handler.includes("://") ? (handler.split("://")[0] ?? "unknown") : "unknown";
    for (const [status, n] of Object.entries(snapshots[i]?.by_status ?? {})) {
      rows.push({ trigger: v.id, handler_kind: kind, status, n });
    }
  });
  return rows;
}

/** Reads one snapshot of everything `/metrics` reports. */
export async function readMetricsSnapshot(env: Env): Promise<MetricsSnapshot> {
  const d1 = env.DB;
  const [{ total: history, retries }, accepted, open, circuitTransitions, intakeRefusals, d1Rows] = await Promise.all([
    historyTotals(env),
    acceptedTotals(env),
    openDispatches(env),
    circuitTransitionCounts(env),
    env.INTAKE_LIMITER.getByName("global")
      .refusals()
      .catch(() => []),
    d1.batch<Record<string, unknown>>([
      d1.prepare("SELECT reason, count(*) AS n FROM dlq_entries GROUP BY reason"),
      d1.prepare("SELECT count(*) AS n FROM dlq_entries WHERE state = 'pending'"),
      d1.prepare("SELECT source, outcome, reason, count AS n FROM intake_counters"),
      d1.prepare("SELECT dispatch_id, event_id, created_at FROM dlq_entries"),
    ]),
  ]);
  const [byReason, pending, intake, dlqRows] = d1Rows.map((r) => r.results ?? []);
  const finished: DispatchCountRow[] = Object.entries(history.dispatches).map(([key, n]) => {
    const [bindingKey = "", handlerKind = "", status = ""] = key.split(" ");
    return { trigger: bindingKey.slice(0, bindingKey.lastIndexOf("@v")), handler_kind: handlerKind, status, n };
  });
  const dlqAge = emptyHistogram(BUCKETS.dlqAge);
  for (const r of dlqRows ?? []) {
    const dispatchId = String(r.dispatch_id);
    const from = dispatchId.split("|")[2] ? dispatchKeyTime(dispatchId) : (uuidv7Time(String(r.event_id)) ?? 0);
    observe(dlqAge, BUCKETS.dlqAge, Math.max(0, Date.parse(String(r.created_at)) - from));
  }
  return {
    dispatches: [...finished, ...open],
    retries: [...retries].map(([trigger, n]) => ({ trigger, n })),
    dlqByReason: (byReason ?? []).map((r) => ({ reason: String(r.reason), n: Number(r.n) })),
    dlqPending: Number(pending?.[0]?.n ?? 0),
    intakeAccepted: [...accepted].map(([source, n]) => ({ source: source === API_SOURCE ? null : source, n })),
    intakeCounters: (intake ?? []).map((r) => ({
      source: String(r.source),
      outcome: String(r.outcome),
      reason: String(r.reason),
      n: Number(r.n),
    })),
    intakeRefusals,
    circuitTransitions,
    queueAge: cumulativeOf(history.queue_age),
    attemptDuration: cumulativeOf(history.attempt_duration),
    dlqAge: cumulativeOf(dlqAge),
  };
}
