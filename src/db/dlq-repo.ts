/** DLQ entries in D1 (SPEC 13.5): filters, pages, and the summary and detail views. */
import { and, asc, desc, eq, gte, lt, or, type SQL } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import type { AttemptView } from "../contracts/dispatch";
import { loadEvent } from "../history/event-reader";
import { attemptsOf, attemptView } from "./legacy-dispatches-repo";
import { dlqEntries } from "./schema";

export type DlqRow = typeof dlqEntries.$inferSelect;

export interface DlqFilter {
  binding_id?: string;
  binding_key?: string;
  error_class?: string;
  state?: "pending" | "resolved";
  since?: string;
  /** A tenant key's scope: only that tenant's entries. */
  tenant?: string | null;
}

export function dlqConditions(f: DlqFilter): SQL[] {
  const c: SQL[] = [];
  if (f.binding_id) c.push(eq(dlqEntries.bindingId, f.binding_id));
  if (f.binding_key) c.push(eq(dlqEntries.bindingKey, f.binding_key));
  if (f.error_class) c.push(eq(dlqEntries.errorClass, f.error_class));
  if (f.state) c.push(eq(dlqEntries.state, f.state));
  if (f.since) c.push(gte(dlqEntries.createdAt, f.since));
  if (f.tenant) c.push(eq(dlqEntries.tenantId, f.tenant));
  return c;
}

export async function listDlq(d1: D1Database, f: DlqFilter, cursor: [string, string] | null, limit: number) {
  const conditions = dlqConditions(f);
  if (cursor) {
    const after = or(
      lt(dlqEntries.createdAt, cursor[0]),
      and(eq(dlqEntries.createdAt, cursor[0]), lt(dlqEntries.id, cursor[1])),
    );
    if (after) conditions.push(after);
  }
  return drizzle(d1)
    .select()
    .from(dlqEntries)
    .where(conditions.length ? and(...conditions) : undefined)
    .orderBy(desc(dlqEntries.createdAt), desc(dlqEntries.id))
    .limit(limit + 1);
}

export async function getDlq(d1: D1Database, id: string): Promise<DlqRow | null> {
  return (await drizzle(d1).select().from(dlqEntries).where(eq(dlqEntries.id, id)).limit(1))[0] ?? null;
}

export function dlqSummary(row: DlqRow) {
  return {
    id: row.id,
    trigger_id: row.bindingId,
    binding_key: row.bindingKey,
    event_id: row.eventId,
    attempt_count: row.attemptCount,
    final_error: row.finalError,
    error_class: row.errorClass,
    reason: row.reason,
    state: row.state,
    created_at: row.createdAt,
    resolved_at: row.resolvedAt,
  };
}

/**
 * The full SPEC 13.5 entry: the event (kept readable while the entry is pending, SPEC 1.1) and every
 * attempt (copied into the entry when it was dead-lettered; entries of the earlier layout read theirs
 * from D1).
 */
export async function dlqDetail(env: Env, row: DlqRow) {
  const [event, attempts] = await Promise.all([
    loadEvent(env, row.eventId),
    row.attempts !== null
      ? Promise.resolve(JSON.parse(row.attempts) as AttemptView[])
      : attemptsOf(env.DB, row.dispatchId).then((rows) => rows.map(attemptView)),
  ]);
  return { ...dlqSummary(row), event, attempts };
}

export { asc };
