/**
 * Everything the oracle compares, read once the run has settled: D1 rows (the system of record),
 * the handler server's recorded calls, the API's own lists, and the `/metrics` text.
 */
import { env, exports } from "cloudflare:workers";
import { api, BASE, handler } from "../support/api";
import { type ParsedSample, parseExposition } from "../unit/observability/exposition-grammar";

export interface EventRow {
  id: string;
  source: string | null;
  kind: string;
  dedupe_key: string;
}
export interface DispatchRow {
  dispatch_id: string;
  binding_key: string;
  binding_id: string;
  event_id: string;
  status: string;
  attempt_count: number;
  error: string | null;
  created_at: string;
  terminal_at: string | null;
}
export interface AttemptRow {
  dispatch_id: string;
  attempt: number;
  started_at: string;
  completed_at: string | null;
  outcome: string;
  error_msg: string | null;
  status_code: number | null;
  duration_ms: number | null;
}
export interface DlqRow {
  dispatch_id: string;
  binding_key: string;
  reason: string;
  attempt_count: number;
  state: string;
}
export interface RecordCount {
  binding_key: string;
  topic: string;
  kind: string;
  n: number;
}
export interface HandlerCall {
  headers: Record<string, string | string[] | undefined>;
  at: number;
  aborted: boolean;
}

export interface Snapshot {
  events: EventRow[];
  dispatches: DispatchRow[];
  attempts: AttemptRow[];
  dlq: DlqRow[];
  records: RecordCount[];
  /** Recorded calls per handler script name, in arrival order (index = scripted answer). */
  calls: Map<string, HandlerCall[]>;
  /** `GET /v1/dispatches?binding_key=&status=` → event ids, per binding key and status. */
  listed: Map<string, Map<string, string[]>>;
  /** `GET /v1/dlq?binding_key=` → dispatch count per binding key. */
  dlqListed: Map<string, number>;
  metrics: ParsedSample[];
}

/** Kinds whose counts the oracle reconciles with dispatch and attempt rows. */
export const RECONCILED_KINDS = [
  "DispatchStarted",
  "DispatchSucceeded",
  "DispatchFailed",
  "RetryScheduled",
  "DlqMoved",
  "dlq_moved",
  "attempt_recorded",
  "dispatch_skipped",
  "dispatch_succeeded",
];

async function all<T>(sql: string): Promise<T[]> {
  return (await env.DB.prepare(sql).all<T>()).results;
}

/** Every page of an API list. */
// biome-ignore lint/suspicious/noExplicitAny: list items are plain JSON
async function pages(path: string): Promise<any[]> {
  const items = [];
  let cursor: string | null = null;
  do {
    const sep = path.includes("?") ? "&" : "?";
    const res = await api("GET", `${path}${sep}limit=500${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
    if (res.status !== 200) throw new Error(`GET ${path}: ${res.status} ${JSON.stringify(res.body)}`);
    items.push(...res.body.items);
    cursor = res.body.next_cursor;
  } while (cursor);
  return items;
}

export const STATUSES = [
  "pending",
  "admitted",
  "running",
  "retry_scheduled",
  "held",
  "succeeded",
  "skipped",
  "waiting",
  "dlq",
  "failed",
  "cancelled",
];

export async function readSnapshot(bindingKeys: string[], hooks: string[]): Promise<Snapshot> {
  const [events, dispatches, attempts, dlq, records] = await Promise.all([
    all<EventRow>("SELECT id, source, kind, dedupe_key FROM events"),
    all<DispatchRow>(
      "SELECT dispatch_id, binding_key, binding_id, event_id, status, attempt_count, error, created_at, terminal_at FROM dispatches",
    ),
    all<AttemptRow>(
      "SELECT dispatch_id, attempt, started_at, completed_at, outcome, error_msg, status_code, duration_ms FROM attempts",
    ),
    all<DlqRow>("SELECT dispatch_id, binding_key, reason, attempt_count, state FROM dlq_entries"),
    all<RecordCount>(
      `SELECT binding_key, topic, kind, count(*) AS n FROM records
       WHERE binding_key IS NOT NULL AND kind IN (${RECONCILED_KINDS.map((k) => `'${k}'`).join(", ")})
       GROUP BY binding_key, topic, kind`,
    ),
  ]);
  const calls = new Map<string, HandlerCall[]>();
  for (const hook of hooks) calls.set(hook, (await handler.calls(hook)) as HandlerCall[]);
  const listed = new Map<string, Map<string, string[]>>();
  const dlqListed = new Map<string, number>();
  for (const key of bindingKeys) {
    const byStatus = new Map<string, string[]>();
    for (const status of STATUSES) {
      const items = await pages(`/v1/dispatches?binding_key=${encodeURIComponent(key)}&status=${status}`);
      byStatus.set(
        status,
        items.map((d: { event_id: string }) => d.event_id),
      );
    }
    listed.set(key, byStatus);
    dlqListed.set(key, (await pages(`/v1/dlq?binding_key=${encodeURIComponent(key)}`)).length);
  }
  const res = await exports.default.fetch(`${BASE}/metrics`);
  const metrics = parseExposition(await res.text());
  return { events, dispatches, attempts, dlq, records, calls, listed, dlqListed, metrics };
}

/** Dispatch counts by status, straight from D1, for progress and the wait. */
export async function dispatchProgress(): Promise<{ total: number; terminal: number; events: number }> {
  const row = await env.DB.prepare(
    `SELECT (SELECT count(*) FROM dispatches) AS total,
            (SELECT count(*) FROM dispatches WHERE status IN ('succeeded','skipped','dlq','failed','cancelled','waiting')) AS terminal,
            (SELECT count(*) FROM events) AS events`,
  ).first<{ total: number; terminal: number; events: number }>();
  return row ?? { total: 0, terminal: 0, events: 0 };
}
