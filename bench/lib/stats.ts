/**
 * Pure figures for the benchmark harness (no imports: the Workers-pool unit tests load it too).
 */

export interface Summary {
  n: number;
  min: number;
  mean: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

/** Nearest-rank percentile of an ascending array (`p` in 0..100); NaN when empty. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  if (p <= 0) return sorted[0] as number;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, rank) - 1] as number;
}

export function summarize(values: readonly number[]): Summary {
  const sorted = [...values].sort((a, b) => a - b);
  const n = sorted.length;
  const mean = n === 0 ? Number.NaN : sorted.reduce((sum, v) => sum + v, 0) / n;
  return {
    n,
    min: n === 0 ? Number.NaN : (sorted[0] as number),
    mean,
    p50: percentile(sorted, 50),
    p95: percentile(sorted, 95),
    p99: percentile(sorted, 99),
    max: n === 0 ? Number.NaN : (sorted[n - 1] as number),
  };
}

/**
 * Open-loop pacing: how many of `total` sends are due `elapsedMs` after the start at `ratePerSec`.
 * Send i (0-based) is due at i × 1000 / rate, so the first is due at once.
 */
export function dueCount(elapsedMs: number, ratePerSec: number, total: number): number {
  if (elapsedMs < 0 || ratePerSec <= 0) return 0;
  return Math.min(total, Math.floor((elapsedMs * ratePerSec) / 1000) + 1);
}

/** Accept time per event id, and the handler calls (event id, arrival) in any order. */
export interface AcceptToCall {
  latencies: number[];
  /** Accepted events the handler never saw. */
  missing: number;
  /** Calls beyond the first for an event (retries or duplicate deliveries). */
  extraCalls: number;
}

/** Accept → first handler call per event: the earliest call of each accepted event. */
export function acceptToFirstCall(
  accepted: ReadonlyMap<string, number>,
  calls: ReadonlyArray<{ eventId: string | null; at: number }>,
): AcceptToCall {
  const first = new Map<string, number>();
  let extraCalls = 0;
  for (const call of calls) {
    if (!call.eventId || !accepted.has(call.eventId)) continue;
    const seen = first.get(call.eventId);
    if (seen === undefined) first.set(call.eventId, call.at);
    else {
      extraCalls += 1;
      if (call.at < seen) first.set(call.eventId, call.at);
    }
  }
  const latencies: number[] = [];
  let missing = 0;
  for (const [eventId, acceptedAt] of accepted) {
    const at = first.get(eventId);
    if (at === undefined) missing += 1;
    else latencies.push(at - acceptedAt);
  }
  return { latencies, missing, extraCalls };
}
