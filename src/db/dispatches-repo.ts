/** Dispatch, attempt and DLQ reads for the API. */
import { and, asc, desc, eq, lt, or, type SQL, sql } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import type { AttemptView, DispatchOutcome, DispatchStatus } from "../contracts/dispatch";
import { attempts, dispatches } from "./schema";

export type DispatchRow = typeof dispatches.$inferSelect;
export type AttemptRow = typeof attempts.$inferSelect;

function parseJson(text: string | null): unknown {
  if (text === null) return null;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

export function outcomeFromRow(row: DispatchRow): DispatchOutcome & { error_class: string | null } {
  return {
    trigger_id: row.bindingId,
    binding_key: row.bindingKey,
    event_id: row.eventId,
    attempt_count: row.attemptCount,
    status: row.status as DispatchStatus,
    handler_kind: row.handlerKind,
    target_uri: row.targetUri,
    replay_of_event_id: row.replayOfEventId,
    result: parseJson(row.result),
    error: row.error,
    error_class: row.errorClass,
  };
}

export function attemptView(row: AttemptRow): AttemptView {
  return {
    attempt: row.attempt,
    started_at: row.startedAt,
    completed_at: row.completedAt,
    outcome: row.outcome,
    error_msg: row.errorMsg,
    ...(row.statusCode === null ? {} : { status_code: row.statusCode }),
    duration_ms: row.durationMs,
  };
}

export async function dispatchesOfEvent(d1: D1Database, eventId: string): Promise<DispatchRow[]> {
  return drizzle(d1)
    .select()
    .from(dispatches)
    .where(eq(dispatches.eventId, eventId))
    .orderBy(asc(dispatches.bindingId), asc(dispatches.bindingVersion), asc(dispatches.createdAt));
}

export async function attemptsOf(d1: D1Database, dispatchId: string): Promise<AttemptRow[]> {
  return drizzle(d1).select().from(attempts).where(eq(attempts.dispatchId, dispatchId)).orderBy(asc(attempts.attempt));
}

export interface DispatchFilter {
  event_id?: string;
  binding_key?: string;
  binding_id?: string;
  status?: string;
  replay_of_event_id?: string;
  /** A tenant key's scope: only that tenant's dispatches. */
  tenant?: string | null;
  cursor: [string, string] | null;
  limit: number;
}

/** Newest first by (created_at, dispatch_id). */
export async function listDispatches(d1: D1Database, f: DispatchFilter): Promise<DispatchRow[]> {
  const conditions: SQL[] = [];
  if (f.event_id) conditions.push(eq(dispatches.eventId, f.event_id));
  if (f.binding_key) conditions.push(eq(dispatches.bindingKey, f.binding_key));
  if (f.binding_id) conditions.push(eq(dispatches.bindingId, f.binding_id));
  if (f.status) conditions.push(eq(dispatches.status, f.status));
  if (f.replay_of_event_id) conditions.push(eq(dispatches.replayOfEventId, f.replay_of_event_id));
  if (f.tenant) conditions.push(eq(dispatches.tenantId, f.tenant));
  if (f.cursor) {
    const [createdAt, id] = f.cursor;
    const after = or(
      lt(dispatches.createdAt, createdAt),
      and(eq(dispatches.createdAt, createdAt), lt(dispatches.dispatchId, id)),
    );
    if (after) conditions.push(after);
  }
  return drizzle(d1)
    .select()
    .from(dispatches)
    .where(conditions.length > 0 ? and(...conditions) : undefined)
    .orderBy(desc(dispatches.createdAt), desc(dispatches.dispatchId))
    .limit(f.limit + 1);
}

/** The original dispatch of a (binding_key, event_id) pair, else its first replay. */
export async function getDispatch(d1: D1Database, bindingKey: string, eventId: string): Promise<DispatchRow | null> {
  const rows = await drizzle(d1)
    .select()
    .from(dispatches)
    .where(and(eq(dispatches.bindingKey, bindingKey), eq(dispatches.eventId, eventId)))
    .orderBy(sql`${dispatches.replayOfEventId} is not null`, asc(dispatches.createdAt))
    .limit(1);
  return rows[0] ?? null;
}
