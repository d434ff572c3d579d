/** Binding versions in D1: reads for matching and the API, and lifecycle transitions. */
import { and, asc, eq, inArray, ne, sql } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import type { BindingSpec } from "../contracts/binding-spec";
import type { CandidateBinding } from "../dispatch/matching";
import type { RoutingTable } from "../dispatch/routing-table";
import { iso } from "../lib/time";
import { insertRecord, type RecordInput } from "../observability/records";
import { scopedTopic, TOPICS } from "../observability/topics";
import type { Db } from "./client";
import { bindingControls, bindingVersions, dispatches } from "./schema";

export type BindingVersionRow = typeof bindingVersions.$inferSelect;
export type BindingControlRow = typeof bindingControls.$inferSelect;

/** A stored version with its spec parsed, as matching and the API read it. */
export function toCandidate(row: BindingVersionRow): CandidateBinding {
  const { bindingKey, id, version, state } = row;
  return { bindingKey, id, version, state, spec: JSON.parse(row.spec) as BindingSpec };
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

/** D1 binds at most 100 parameters per statement, so IN lists are sent in chunks below that. */
const MAX_IN_LIST = 90;

export async function loadControls(d1: D1Database, ids: string[]) {
  const db = drizzle(d1);
  const unique = [...new Set(ids)];
  const chunks: string[][] = [];
  for (let i = 0; i < unique.length; i += MAX_IN_LIST) chunks.push(unique.slice(i, i + MAX_IN_LIST));
  const rows = await Promise.all(
    chunks.map((chunk) => db.select().from(bindingControls).where(inArray(bindingControls.id, chunk))),
  );
  return new Map(rows.flat().map((r) => [r.id, r]));
}

export async function getVersion(d1: D1Database, bindingKey: string): Promise<BindingVersionRow | null> {
  const rows = await drizzle(d1)
    .select()
    .from(bindingVersions)
    .where(eq(bindingVersions.bindingKey, bindingKey))
    .limit(1);
  return rows[0] ?? null;
}

export async function listVersions(d1: D1Database, id: string): Promise<BindingVersionRow[]> {
  return drizzle(d1)
    .select()
    .from(bindingVersions)
    .where(eq(bindingVersions.id, id))
    .orderBy(asc(bindingVersions.version));
}

function transitionInput(
  row: { bindingKey: string; id: string; version: number; tenantId: string | null },
  from: string | null,
  to: string,
  at: string,
): RecordInput {
  return {
    key: `binding:${row.bindingKey}:state:${to}`,
    topic: TOPICS.lifecycle,
    kind: "state_transition",
    tenant_id: row.tenantId,
    binding_key: row.bindingKey,
    payload: { binding_id: row.id, version: row.version, binding_key: row.bindingKey, from, to },
    at,
  };
}

export function stateTransitionRecord(
  db: Db,
  row: { bindingKey: string; id: string; version: number; tenantId: string | null },
  from: string | null,
  to: string,
  at: string,
) {
  return insertRecord(db, transitionInput(row, from, to, at));
}

/**
 * draining → terminated once the version has no live dispatch (SPEC 5.2). Conditional in SQL so
 * concurrent callers (the gate, the API, the sweep) terminate it exactly once, and in one transaction
 * with its `state_transition` record, so the record can never go missing after the state changed.
 */
export async function terminateIfDrained(d1: D1Database, bindingKey: string, now: number): Promise<boolean> {
  const db = drizzle(d1);
  const row = (await db.select().from(bindingVersions).where(eq(bindingVersions.bindingKey, bindingKey)))[0];
  if (row?.state !== "draining") return false;
  const at = iso(now);
  const record = transitionInput(row, "draining", "terminated", at);
  const update = db
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
    .returning({ bindingKey: bindingVersions.bindingKey })
    .toSQL();
  // Written only when the update above happened (or happened before: the record key is unique).
  const insert = d1
    .prepare(
      `insert into records (record_key, topic, kind, tenant_id, binding_key, headers, payload, at)
       select ?1, ?2, ?3, ?4, ?5, '{}', ?6, ?7
       where exists (select 1 from binding_versions where binding_key = ?5 and state = 'terminated')
       on conflict (record_key) do nothing`,
    )
    .bind(
      record.key,
      scopedTopic(record.topic, record.tenant_id),
      record.kind,
      record.tenant_id,
      bindingKey,
      JSON.stringify(record.payload),
      at,
    );
  const [updated] = await d1.batch([d1.prepare(update.sql).bind(...update.params), insert]);
  return (updated?.results.length ?? 0) > 0;
}

/**
 * What an EventLog routes with (`dispatch/routing-table.ts`): every version that is not terminated,
 * and every binding id's controls. Two statements, read once per routing-table load.
 */
export async function loadRoutingTable(d1: D1Database): Promise<RoutingTable> {
  const db = drizzle(d1);
  const [versions, controls] = await Promise.all([
    db.select().from(bindingVersions).where(ne(bindingVersions.state, "terminated")),
    db.select().from(bindingControls),
  ]);
  return {
    candidates: versions.map(toCandidate),
    controls: new Map(
      controls.map((c) => [
        c.id,
        {
          paused: c.paused,
          signing_secret: c.signingSecret,
          previous_signing_secret: previousSecretOf(c),
          tier_override: c.tierOverride,
        },
      ]),
    ),
  };
}

/** The replaced signing secret of a binding while its overlap lasts is recorded, else null. */
export function previousSecretOf(control: {
  previousSigningSecret: string | null;
  previousUntil: number | null;
}): { secret: string; until: number } | null {
  return control.previousSigningSecret && control.previousUntil !== null
    ? { secret: control.previousSigningSecret, until: control.previousUntil }
    : null;
}
