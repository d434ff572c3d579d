/**
 * The billable-operation counters (docs/benchmarks.md): per origin (`intake`, `publish`, `api`,
 * `scheduled`, each Durable Object class), per isolate, since the last reset; the report
 * `GET /v1/billable-ops` returns. The counting wrappers are `d1-counting.ts` and `counting-bindings.ts`.
 */
export interface OpCounts {
  invocations: number;
  d1_queries: number;
  d1_rows_read: number;
  d1_rows_written: number;
  queue_writes: number;
  queue_reads: number;
  queue_deletes: number;
  do_requests: number;
  do_alarms: number;
  /** Rows written and read by Durable Object SQLite storage (billed like D1 rows). */
  do_sql_rows_written: number;
  do_sql_rows_read: number;
  /** Wall-clock time Durable Objects of this origin were active (a request, an alarm or I/O they wait on). */
  do_duration_ms: number;
  /** DO requests by `<NAMESPACE>.<method>`. */
  do_calls: Record<string, number>;
  /** D1 statements by kind and table (`insert records`, `select events`, …). */
  d1_statements: Record<string, { n: number; rows_read: number; rows_written: number }>;
}

export interface BillableOpsReport {
  d1_counted: boolean;
  since: string;
  origins: Record<string, OpCounts>;
}

export type Flagged = { BILLABLE_OPS_COUNTING?: string };

export const origins = new Map<string, OpCounts>();
let since = new Date().toISOString();
let d1Counted = true;

/** D1 could not be wrapped (its transport was not found): reports say so. */
export function markD1Uncounted(): void {
  d1Counted = false;
}

export function billableOpsEnabled(env: unknown): boolean {
  return (env as Flagged | undefined)?.BILLABLE_OPS_COUNTING === "true";
}

export function zeroCounts(): OpCounts {
  return {
    invocations: 0,
    d1_queries: 0,
    d1_rows_read: 0,
    d1_rows_written: 0,
    queue_writes: 0,
    queue_reads: 0,
    queue_deletes: 0,
    do_requests: 0,
    do_alarms: 0,
    do_sql_rows_written: 0,
    do_sql_rows_read: 0,
    do_duration_ms: 0,
    do_calls: {},
    d1_statements: {},
  };
}

/** The live counter object of an origin (long-lived holders such as Durable Objects keep it). */
export function countsFor(origin: string): OpCounts {
  let counts = origins.get(origin);
  if (!counts) {
    counts = zeroCounts();
    origins.set(origin, counts);
  }
  return counts;
}

export function billableOpsReport(): BillableOpsReport {
  return { d1_counted: d1Counted, since, origins: structuredClone(Object.fromEntries(origins)) };
}

/** Zeroes every counter in place: Durable Objects hold their counter objects across requests. */
export function resetBillableOps(): void {
  for (const counts of origins.values()) Object.assign(counts, zeroCounts());
  since = new Date().toISOString();
}

// ---- D1 --------------------------------------------------------------------------------------
