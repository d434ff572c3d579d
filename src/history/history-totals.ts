/**
 * Cumulative counters of finished dispatches (SPEC 14 metrics): what each History entry adds, and
 * the totals of a partition. A partition keeps its totals in memory (rebuilt from its entries when
 * it starts) and hands them to D1 when it is sealed, so they outlive the partition. Pure.
 */
import type { DispatchDoc } from "../contracts/dispatch-doc";
import { dispatchKeyTime, uuidv7Time } from "../lib/partitions";

/** Histogram bounds in seconds (the `/metrics` families). */
export const BUCKETS = {
  /** Accepted → first attempt start: SPEC 17 targets p50 ≤ 20 ms, p99 ≤ 250 ms; holds can last hours. */
  queueAge: [0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600],
  /** One handler call: fast webhooks up to timeouts. */
  attemptDuration: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
  /** Accepted → DLQ: retry schedules run from seconds (linear) to days (svix). */
  dlqAge: [1, 5, 15, 60, 300, 900, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86_400, 3 * 86_400, 7 * 86_400],
} as const;

export interface Histogram {
  n: number;
  /** Seconds. */
  sum: number;
  /** Count per bound (not cumulative). */
  buckets: number[];
}

export interface HistoryTotals {
  /** Finished dispatches by `<binding_key> <handler_kind> <status>`. */
  dispatches: Record<string, number>;
  /** Attempts started beyond the first. */
  retries: number;
  queue_age: Histogram;
  attempt_duration: Histogram;
}

/** What one finished dispatch adds: small enough to keep in a column of its entry. */
export interface EntryStats {
  /** ms from acceptance (a replay: its creation) to the start of attempt 1, if it started. */
  q: number | null;
  /** Durations of completed attempts, ms. */
  a: number[];
  /** Attempts beyond the first. */
  r: number;
}

export function emptyHistogram(bounds: readonly number[]): Histogram {
  return { n: 0, sum: 0, buckets: bounds.map(() => 0) };
}

export function emptyTotals(): HistoryTotals {
  return {
    dispatches: {},
    retries: 0,
    queue_age: emptyHistogram(BUCKETS.queueAge),
    attempt_duration: emptyHistogram(BUCKETS.attemptDuration),
  };
}

export function observe(h: Histogram, bounds: readonly number[], ms: number): void {
  const seconds = Math.max(0, ms) / 1000;
  h.n += 1;
  h.sum += seconds;
  const i = bounds.findIndex((le) => seconds <= le);
  if (i >= 0) h.buckets[i] = (h.buckets[i] ?? 0) + 1;
}

/** The accepted time a dispatch's queue age counts from: its event's, or a replay's creation. */
export function acceptedAt(dispatchId: string, eventId: string): number {
  return dispatchId.split("|")[2] ? dispatchKeyTime(dispatchId) : (uuidv7Time(eventId) ?? dispatchKeyTime(dispatchId));
}

export function entryStats(doc: DispatchDoc): EntryStats {
  const starts = new Map<number, number>();
  const durations: number[] = [];
  for (const t of doc.log) {
    if (t.op === "started") starts.set(t.attempt, t.at);
    else if (t.op === "finished" || t.op === "attempt_ended")
      durations.push(Math.max(0, t.completed_at - t.started_at));
    else if (t.op === "legacy") {
      // Attempts made before the dispatch moved over from the earlier layout.
      for (const a of t.attempts) {
        starts.set(a.attempt, Date.parse(a.started_at));
        if (a.duration_ms !== null) durations.push(a.duration_ms);
      }
    }
  }
  const first = starts.get(1);
  return {
    q: first === undefined ? null : Math.max(0, first - acceptedAt(doc.dispatch_id, doc.event_id)),
    a: durations,
    r: [...starts.keys()].filter((n) => n > 1).length,
  };
}

export function addEntry(totals: HistoryTotals, key: string, stats: EntryStats): void {
  totals.dispatches[key] = (totals.dispatches[key] ?? 0) + 1;
  totals.retries += stats.r;
  if (stats.q !== null) observe(totals.queue_age, BUCKETS.queueAge, stats.q);
  for (const ms of stats.a) observe(totals.attempt_duration, BUCKETS.attemptDuration, ms);
}

export function dispatchKey(bindingKey: string, handlerKind: string, status: string): string {
  return `${bindingKey} ${handlerKind} ${status}`;
}

export function mergeHistogram(into: Histogram, from: Histogram): void {
  into.n += from.n;
  into.sum += from.sum;
  from.buckets.forEach((c, i) => {
    into.buckets[i] = (into.buckets[i] ?? 0) + c;
  });
}

export function mergeTotals(into: HistoryTotals, from: HistoryTotals): HistoryTotals {
  for (const [k, n] of Object.entries(from.dispatches)) into.dispatches[k] = (into.dispatches[k] ?? 0) + n;
  into.retries += from.retries;
  mergeHistogram(into.queue_age, from.queue_age);
  mergeHistogram(into.attempt_duration, from.attempt_duration);
  return into;
}
