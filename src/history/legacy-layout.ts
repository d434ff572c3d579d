/**
 * Reads of the earlier storage layout, which kept every event, dispatch, attempt and record in D1
 * (docs/scale.md, "Upgrading"). A database upgraded from it keeps those rows read-only until
 * retention removes them; until then every read that misses the new layout looks here, so events,
 * dispatches, lists and records written before the upgrade stay readable with the same answers.
 */
import { type AttemptView, type DispatchStatus, storedAttemptOutcome } from "../contracts/dispatch";
import type { DispatchDoc, DispatchKey } from "../contracts/dispatch-doc";
import type { SignatureStatus, TriggerEvent } from "../contracts/events";
import { parseJsonText, parseMessage } from "../lib/json-text";
import type { StoredEvent } from "./event-store";

type EventRow = {
  id: string;
  source: string | null;
  provider: string;
  kind: string;
  received_at: string;
  occurred_at: string | null;
  dedupe_scope: string;
  dedupe_key: string;
  trace_id: string;
  tenant_id: string | null;
  headers: string;
  payload: string;
  raw_body: string | null;
  signature_status: string;
  target_binding_id: string | null;
  target_version: number | null;
};

type DispatchRow = DispatchKey & {
  status: string;
  attempt_count: number;
  handler_kind: string;
  target_uri: string;
  result: string | null;
  error: string | null;
  error_class: string | null;
  created_at: string;
  updated_at: string;
  terminal_at: string | null;
  next_attempt_at: string | null;
};

type AttemptRow = {
  dispatch_id: string;
  attempt: number;
  started_at: string;
  completed_at: string | null;
  outcome: string;
  error_msg: string | null;
  status_code: number | null;
  duration_ms: number | null;
};

/** D1 binds at most 100 parameters per statement. */
const IN_CHUNK = 90;

async function inChunks<T>(d1: D1Database, sql: (marks: string) => string, ids: readonly string[]): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < ids.length; i += IN_CHUNK) {
    const chunk = ids.slice(i, i + IN_CHUNK);
    const { results } = await d1
      .prepare(sql(chunk.map(() => "?").join(",")))
      .bind(...chunk)
      .all<T>();
    out.push(...results);
  }
  return out;
}

/** Events of the earlier layout, with their routes and replays from its dispatch rows. */
export async function legacyEvents(d1: D1Database, ids: readonly string[]): Promise<StoredEvent[]> {
  if (ids.length === 0) return [];
  const rows = await inChunks<EventRow>(d1, (m) => `SELECT * FROM events WHERE id IN (${m})`, ids);
  if (rows.length === 0) return [];
  const found = rows.map((r) => r.id);
  const dispatches = await inChunks<{
    dispatch_id: string;
    binding_key: string;
    event_id: string;
    replay_of_event_id: string | null;
    created_at: string;
  }>(
    d1,
    (m) =>
      `SELECT dispatch_id, binding_key, event_id, replay_of_event_id, created_at FROM dispatches WHERE event_id IN (${m})`,
    found,
  );
  return rows.map((row) => {
    const own = dispatches.filter((d) => d.event_id === row.id);
    const event: TriggerEvent = {
      id: row.id,
      provider: row.provider,
      kind: row.kind,
      received_at: row.received_at,
      occurred_at: row.occurred_at,
      dedupe_key: row.dedupe_key,
      trace_id: row.trace_id,
      tenant_id: row.tenant_id,
      ...parseMessage(row),
      ...(row.raw_body ? { raw_body: row.raw_body } : {}),
      signature_status: JSON.parse(row.signature_status) as SignatureStatus,
    };
    return {
      event,
      source: row.source,
      style: null,
      dedupe_scope: row.dedupe_scope,
      claim_expires: 0,
      target: row.target_binding_id ? { binding_id: row.target_binding_id, version: row.target_version } : null,
      routes: own.filter((d) => d.replay_of_event_id === null).map((d) => d.binding_key),
      replays: own
        .filter((d) => d.replay_of_event_id !== null)
        .map((d) => ({ dispatch_id: d.dispatch_id, binding_key: d.binding_key, at: Date.parse(d.created_at) })),
      legacy: true,
    };
  });
}

export function attemptViewOf(row: AttemptRow): AttemptView {
  return {
    attempt: row.attempt,
    started_at: row.started_at,
    completed_at: row.completed_at,
    outcome: storedAttemptOutcome(row.outcome),
    error_msg: row.error_msg,
    ...(row.status_code === null ? {} : { status_code: row.status_code }),
    duration_ms: row.duration_ms,
  };
}

/** A dispatch row of the earlier layout as a document whose one transition says where it stood. */
export function legacyDoc(row: DispatchRow, attempts: AttemptView[]): DispatchDoc {
  const created = Date.parse(row.created_at);
  return {
    dispatch_id: row.dispatch_id,
    binding_key: row.binding_key,
    binding_id: row.binding_id,
    binding_version: row.binding_version,
    event_id: row.event_id,
    trace_id: row.trace_id,
    tenant_id: row.tenant_id,
    replay_of_event_id: row.replay_of_event_id,
    handler_kind: row.handler_kind,
    target_uri: row.target_uri,
    dlq_id: null,
    status: row.status as DispatchStatus,
    attempt: row.attempt_count,
    attempt_running: false,
    attempt_started_at: null,
    max_attempts: 0,
    cancel_requested: false,
    held_reason: null,
    batch_event_ids: null,
    tier: "act_auto",
    decision: null,
    approval_id: null,
    created_at: created,
    updated_at: Date.parse(row.updated_at),
    terminal_at: row.terminal_at ? Date.parse(row.terminal_at) : null,
    timer: null,
    log: [
      {
        op: "legacy",
        at: Date.parse(row.updated_at),
        status: row.status as DispatchStatus,
        attempt_count: row.attempt_count,
        result: parseJsonText(row.result),
        error: row.error,
        error_class: row.error_class,
        next_attempt_at: row.next_attempt_at,
        terminal_at: row.terminal_at,
        attempts,
      },
    ],
  };
}

async function docsOf(d1: D1Database, rows: DispatchRow[]): Promise<DispatchDoc[]> {
  if (rows.length === 0) return [];
  const attempts = await inChunks<AttemptRow>(
    d1,
    (m) => `SELECT * FROM attempts WHERE dispatch_id IN (${m}) ORDER BY attempt`,
    rows.map((r) => r.dispatch_id),
  );
  return rows.map((r) => legacyDoc(r, attempts.filter((a) => a.dispatch_id === r.dispatch_id).map(attemptViewOf)));
}

/** Dispatches of the earlier layout by id. */
export async function legacyDispatches(d1: D1Database, ids: readonly string[]): Promise<DispatchDoc[]> {
  if (ids.length === 0) return [];
  return docsOf(
    d1,
    await inChunks<DispatchRow>(d1, (m) => `SELECT * FROM dispatches WHERE dispatch_id IN (${m})`, ids),
  );
}

/** Dispatches of the earlier layout of some binding versions (a list merges them in). */
export async function legacyBindingDispatches(d1: D1Database, bindingKeys: readonly string[]): Promise<DispatchDoc[]> {
  if (bindingKeys.length === 0) return [];
  const rows = await inChunks<DispatchRow>(
    d1,
    (m) => `SELECT * FROM dispatches WHERE binding_key IN (${m}) ORDER BY created_at DESC LIMIT 5000`,
    bindingKeys,
  );
  return docsOf(d1, rows);
}

/** Events of the earlier layout newest first, below `before`, matching the filters. */
export async function legacyEventPage(
  d1: D1Database,
  filter: {
    provider?: string | undefined;
    kind?: string | undefined;
    source?: string | undefined;
    trace_id?: string | undefined;
    tenant_id?: string | null | undefined;
  },
  before: string | null,
  limit: number,
): Promise<StoredEvent[]> {
  const where: string[] = [];
  const args: (string | number)[] = [];
  for (const [column, value] of Object.entries(filter)) {
    if (value === undefined || value === null) continue;
    where.push(`${column} = ?`);
    args.push(value);
  }
  if (before) {
    where.push("id < ?");
    args.push(before);
  }
  const { results } = await d1
    .prepare(`SELECT id FROM events ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY id DESC LIMIT ?`)
    .bind(...args, limit)
    .all<{ id: string }>();
  const found = await legacyEvents(
    d1,
    results.map((r) => r.id),
  );
  return found.sort((a, b) => (a.event.id < b.event.id ? 1 : -1));
}
