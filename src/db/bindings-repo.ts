/** Binding versions in D1: reads for matching and the API, and lifecycle transitions. */
import { and, asc, eq, inArray, sql } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import type { BindingSpec } from "../contracts/binding-spec";
import type { CandidateBinding } from "../dispatch/matching";
import { iso } from "../lib/time";
import { insertRecord, TOPICS } from "../observability/records";
import type { Db } from "./client";
import { bindingControls, bindingVersions, dispatches } from "./schema";

export type BindingVersionRow = typeof bindingVersions.$inferSelect;

export function toCandidate(row: BindingVersionRow): CandidateBinding {
  return {
    bindingKey: row.bindingKey,
    id: row.id,
    version: row.version,
    state: row.state,
    spec: JSON.parse(row.spec) as BindingSpec,
  };
}

/** Versions an event may dispatch to: active ones of its provider, plus every version of a targeted id. */
export async function loadCandidates(
  d1: D1Database,
  provider: string,
  targetId: string | null,
): Promise<CandidateBinding[]> {
  const db = drizzle(d1);
  const rows = targetId
    ? await db.select().from(bindingVersions).where(eq(bindingVersions.id, targetId))
    : await db
        .select()
        .from(bindingVersions)
        .where(and(eq(bindingVersions.state, "active"), eq(bindingVersions.provider, provider)));
  return rows.map(toCandidate);
}

export async function loadControls(d1: D1Database, ids: string[]) {
  if (ids.length === 0) return new Map<string, typeof bindingControls.$inferSelect>();
  const rows = await drizzle(d1).select().from(bindingControls).where(inArray(bindingControls.id, ids));
  return new Map(rows.map((r) => [r.id, r]));
}

export async function listVersions(d1: D1Database, id: string): Promise<BindingVersionRow[]> {
  return drizzle(d1)
    .select()
    .from(bindingVersions)
    .where(eq(bindingVersions.id, id))
    .orderBy(asc(bindingVersions.version));
}

export function stateTransitionRecord(
  db: Db,
  row: { bindingKey: string; id: string; version: number; tenantId: string | null },
  from: string | null,
  to: string,
  at: string,
) {
  return insertRecord(db, {
    key: `binding:${row.bindingKey}:state:${to}`,
    topic: TOPICS.lifecycle,
    kind: "state_transition",
    tenant_id: row.tenantId,
    binding_key: row.bindingKey,
    payload: { binding_id: row.id, version: row.version, binding_key: row.bindingKey, from, to },
    at,
  });
}

/**
 * draining → terminated once the version has no live dispatch (SPEC 5.2). Conditional in SQL so
 * concurrent callers (the gate, the API, the sweep) terminate it exactly once.
 */
export async function terminateIfDrained(d1: D1Database, bindingKey: string, now: number): Promise<boolean> {
  const db = drizzle(d1);
  const at = iso(now);
  const updated = await db
    .update(bindingVersions)
    .set({ state: "terminated", updatedAt: at })
    .where(
      and(
        eq(bindingVersions.bindingKey, bindingKey),
        eq(bindingVersions.state, "draining"),
        sql`not exists (select 1 from ${dispatches} where ${dispatches.bindingKey} = ${bindingKey}
            and ${dispatches.status} in ('pending','admitted','running','retry_scheduled','held'))`,
      ),
    )
    .returning();
  const row = updated[0];
  if (!row) return false;
  await stateTransitionRecord(db, row, "draining", "terminated", at);
  return true;
}
