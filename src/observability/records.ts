/**
 * Control-plane records kept in D1 (binding lifecycle `state_transition`, SPEC 5.2) and the records
 * of the earlier storage layout. Per-event records are derived from EventLog and History data
 * instead (`history/record-queries.ts`). Each write carries a unique `record_key`, so a retried step
 * never duplicates it.
 */
import type { Db } from "../db/client";
import { records } from "../db/schema";
import { scopedTopic } from "./topics";

export interface RecordInput {
  key: string;
  topic: string;
  kind: string;
  tenant_id: string | null;
  event_id?: string | null;
  trace_id?: string | null;
  binding_key?: string | null;
  headers?: Record<string, string>;
  payload: unknown;
  at: string;
}

export function insertRecord(db: Db, input: RecordInput) {
  return db
    .insert(records)
    .values({
      recordKey: input.key,
      topic: scopedTopic(input.topic, input.tenant_id),
      kind: input.kind,
      tenantId: input.tenant_id,
      eventId: input.event_id ?? null,
      traceId: input.trace_id ?? null,
      bindingKey: input.binding_key ?? null,
      headers: JSON.stringify(input.headers ?? {}),
      payload: JSON.stringify(input.payload ?? null),
      at: input.at,
    })
    .onConflictDoNothing();
}

/** Seq range one retention statement covers, and statements per sweep: a sweep deletes at most their product. */
export const PURGE_CHUNK = 1_000;
export const PURGE_CHUNKS_PER_SWEEP = 10;

/**
 * One retention step: deletes the oldest records (at most `chunk` seqs from the lowest) up to the
 * first one written at or after `cutoff`. Records are appended in time order, so the prefix of the
 * `seq` order is what expired; the rowid walk stops at the first live record, so a step with nothing
 * to delete reads a couple of rows. The row holding the largest `seq` is never deleted: a plain rowid
 * continues from the largest one left, and an emptied table would start again at 1.
 */
const PURGE_STEP = `WITH bound(hi) AS (
  SELECT MIN((SELECT MIN(seq) FROM records) + ?1, (SELECT MAX(seq) FROM records))
)
DELETE FROM records WHERE seq < COALESCE(
  (SELECT r.seq FROM records r WHERE r.seq < (SELECT hi FROM bound) AND r.at >= ?2 ORDER BY r.seq LIMIT 1),
  (SELECT hi FROM bound)
)`;

/** Retention (SPEC 14): deletes records written before `cutoff`, in bounded steps. Returns how many. */
export async function purgeExpiredRecords(
  d1: D1Database,
  cutoff: string,
  limits: { chunk: number; steps: number } = { chunk: PURGE_CHUNK, steps: PURGE_CHUNKS_PER_SWEEP },
): Promise<number> {
  const step = d1.prepare(PURGE_STEP);
  let purged = 0;
  for (let i = 0; i < limits.steps; i++) {
    const { meta } = await step.bind(limits.chunk, cutoff).run();
    if (meta.changes === 0) break;
    purged += meta.changes;
  }
  return purged;
}
