/**
 * Everything the oracle compares, read once the run has settled: the stored state (every EventLog
 * window's events, every History window's dispatches and the gates' live ones, DLQ rows in D1), the
 * handler server's recorded calls, the API's own lists, and the `/metrics` text.
 */
import { env, exports } from "cloudflare:workers";
import type { DispatchDoc } from "../../src/contracts/dispatch-doc";
import { recordsOf, viewOf } from "../../src/dispatch/dispatch-view";
import { eventLogReads, gateReads, historyReads } from "../../src/history/stubs";
import { api, BASE, handler } from "../support/api";
import { partitionNames } from "../support/storage";
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

async function storedEvents(): Promise<EventRow[]> {
  const out: EventRow[] = [];
  for (const name of await partitionNames("events:")) {
    for (const e of await eventLogReads(env, name).list({ limit: 1_000_000, ascending: true })) {
      out.push({ id: e.event.id, source: e.source, kind: e.event.kind, dedupe_key: e.event.dedupe_key });
    }
  }
  return out;
}

/** Every dispatch: finished ones from History windows, the rest from their gates. */
async function storedDispatches(): Promise<DispatchDoc[]> {
  const docs = new Map<string, DispatchDoc>();
  const keys = await all<{ binding_key: string }>("SELECT binding_key FROM binding_versions");
  for (const { binding_key } of keys) {
    for (const doc of await gateReads(env, binding_key).held()) docs.set(doc.dispatch_id, doc);
  }
  for (const name of await partitionNames("history:")) {
    for (const doc of await historyReads(env, name).docs()) docs.set(doc.dispatch_id, doc);
  }
  return [...docs.values()];
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
  const [events, docs, dlq] = await Promise.all([
    storedEvents(),
    storedDispatches(),
    all<DlqRow>("SELECT dispatch_id, binding_key, reason, attempt_count, state FROM dlq_entries"),
  ]);
  const dispatches: DispatchRow[] = [];
  const attempts: AttemptRow[] = [];
  const recordCounts = new Map<string, RecordCount>();
  for (const doc of docs) {
    const view = viewOf(doc);
    dispatches.push({
      dispatch_id: doc.dispatch_id,
      binding_key: doc.binding_key,
      binding_id: doc.binding_id,
      event_id: doc.event_id,
      status: view.status,
      attempt_count: view.attempt_count,
      error: view.error,
      created_at: view.created_at,
      terminal_at: view.terminal_at,
    });
    for (const a of view.attempts) {
      attempts.push({
        dispatch_id: doc.dispatch_id,
        attempt: a.attempt,
        started_at: a.started_at,
        completed_at: a.completed_at,
        outcome: a.outcome,
        error_msg: a.error_msg,
        status_code: a.status_code ?? null,
        duration_ms: a.duration_ms,
      });
    }
    for (const r of recordsOf(doc)) {
      if (!r.binding_key || !RECONCILED_KINDS.includes(r.kind)) continue;
      const key = `${r.binding_key} ${r.topic} ${r.kind}`;
      const entry = recordCounts.get(key) ?? { binding_key: r.binding_key, topic: r.topic, kind: r.kind, n: 0 };
      entry.n += 1;
      recordCounts.set(key, entry);
    }
  }
  const records = [...recordCounts.values()];
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

/** Dispatch counts by status, from the stored state, for progress and the wait. */
export async function dispatchProgress(): Promise<{ total: number; terminal: number; events: number }> {
  const [events, docs] = await Promise.all([storedEvents(), storedDispatches()]);
  const terminal = docs.filter((d) =>
    ["succeeded", "skipped", "dlq", "failed", "cancelled", "waiting"].includes(d.status),
  ).length;
  return { total: docs.length, terminal, events: events.length };
}
