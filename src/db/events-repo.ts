/** Events in D1: the atomic accept (dedupe claim + event row) and reads. */
import { and, eq, inArray, isNull } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import type { SignatureStatus, TriggerEvent } from "../contracts/events";
import { iso } from "../lib/time";
import { scopedTopic, TOPICS } from "../observability/records";
import { events } from "./schema";

export type EventRow = typeof events.$inferSelect;

export interface NewEvent {
  event: TriggerEvent;
  source: string | null;
  dedupeScope: string;
  dedupeWindowS: number;
  target: { binding_id: string; version: number | null } | null;
  /** Extra records written in the same transaction (e.g. the signature audit record). */
  records: { key: string; topic: string; kind: string; payload: unknown }[];
}

export type AcceptOutcome = { status: "accepted"; event_id: string } | { status: "duplicate"; event_id: string };

/** Records per `INSERT … VALUES` statement: 4 bound values each, within D1's 100 per statement. */
const RECORDS_PER_STATEMENT = 20;

/**
 * One D1 transaction: claim (scope, dedupe_key) unless a live claim exists (an expired claim is
 * taken over), insert the event and its records (one statement per 20) only when this request
 * holds the claim, then read the claim. A duplicate writes nothing. D1 serialises writers, so
 * concurrent duplicates yield exactly one accepted event.
 */
export async function acceptEvent(d1: D1Database, input: NewEvent, now: number): Promise<AcceptOutcome> {
  const e = input.event;
  const claimed = "EXISTS (SELECT 1 FROM dedupe_claims WHERE scope = ?1 AND dedupe_key = ?2 AND event_id = ?3)";
  const at = iso(now);
  const statements = [
    d1
      .prepare(
        `INSERT INTO dedupe_claims (scope, dedupe_key, event_id, expires_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (scope, dedupe_key) DO UPDATE SET event_id = excluded.event_id, expires_at = excluded.expires_at
         WHERE dedupe_claims.expires_at <= ?5`,
      )
      .bind(input.dedupeScope, e.dedupe_key, e.id, now + input.dedupeWindowS * 1000, now),
    d1
      .prepare(
        `INSERT INTO events (id, source, provider, kind, received_at, occurred_at, dedupe_scope, dedupe_key, trace_id,
           tenant_id, headers, payload, raw_body, signature_status, target_binding_id, target_version, routed_at)
         SELECT ?3, ?4, ?5, ?6, ?7, ?8, ?1, ?2, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, NULL WHERE ${claimed}`,
      )
      .bind(
        input.dedupeScope,
        e.dedupe_key,
        e.id,
        input.source,
        e.provider,
        e.kind,
        e.received_at,
        e.occurred_at,
        e.trace_id,
        e.tenant_id,
        JSON.stringify(e.headers),
        JSON.stringify(e.payload),
        e.raw_body ?? null,
        JSON.stringify(e.signature_status),
        input.target?.binding_id ?? null,
        input.target?.version ?? null,
      ),
  ];
  for (let i = 0; i < input.records.length; i += RECORDS_PER_STATEMENT) {
    const chunk = input.records.slice(i, i + RECORDS_PER_STATEMENT);
    // ?1–?6 are shared; each record adds (record_key, topic, kind, payload) from ?7 on, in order.
    const rows = chunk.map((_, j) => `(?${7 + 4 * j}, ?${8 + 4 * j}, ?${9 + 4 * j}, ?${10 + 4 * j})`).join(", ");
    statements.push(
      d1
        .prepare(
          `INSERT INTO records (record_key, topic, kind, tenant_id, event_id, trace_id, binding_key, headers, payload, at)
           SELECT r.column1, r.column2, r.column3, ?4, ?3, ?5, NULL, '{}', r.column4, ?6 FROM (VALUES ${rows}) AS r
           WHERE ${claimed} ON CONFLICT DO NOTHING`,
        )
        .bind(
          input.dedupeScope,
          e.dedupe_key,
          e.id,
          e.tenant_id,
          e.trace_id,
          at,
          ...chunk.flatMap((r) => [
            `${e.id}:${r.key}`,
            scopedTopic(r.topic, e.tenant_id),
            r.kind,
            JSON.stringify(r.payload),
          ]),
        ),
    );
  }
  statements.push(
    d1
      .prepare("SELECT event_id FROM dedupe_claims WHERE scope = ?1 AND dedupe_key = ?2")
      .bind(input.dedupeScope, e.dedupe_key),
  );
  const results = await d1.batch<{ event_id: string }>(statements);
  const holder = results.at(-1)?.results[0]?.event_id;
  if (!holder) throw new Error("dedupe claim missing after accept");
  return holder === e.id ? { status: "accepted", event_id: e.id } : { status: "duplicate", event_id: holder };
}

export function eventFromRow(row: EventRow): TriggerEvent {
  return {
    id: row.id,
    provider: row.provider,
    kind: row.kind,
    received_at: row.receivedAt,
    occurred_at: row.occurredAt,
    dedupe_key: row.dedupeKey,
    trace_id: row.traceId,
    tenant_id: row.tenantId,
    headers: JSON.parse(row.headers) as Record<string, string>,
    payload: JSON.parse(row.payload) as unknown,
    ...(row.rawBody ? { raw_body: row.rawBody } : {}),
    signature_status: JSON.parse(row.signatureStatus) as SignatureStatus,
  };
}

export async function getEventRow(d1: D1Database, id: string): Promise<EventRow | null> {
  const rows = await drizzle(d1).select().from(events).where(eq(events.id, id)).limit(1);
  return rows[0] ?? null;
}

/** D1 binds at most 100 parameters per statement. */
const MAX_IN_LIST = 90;

/** Marks events routed once (a redelivered message writes nothing), one statement per 90 ids. */
export async function markRouted(d1: D1Database, ids: readonly string[], now: number): Promise<void> {
  const db = drizzle(d1);
  const statements = [];
  for (let i = 0; i < ids.length; i += MAX_IN_LIST) {
    statements.push(
      db
        .update(events)
        .set({ routedAt: iso(now) })
        .where(and(inArray(events.id, ids.slice(i, i + MAX_IN_LIST)), isNull(events.routedAt))),
    );
  }
  const [first, ...rest] = statements;
  if (first) await db.batch([first, ...rest]);
}

export { TOPICS };
