/**
 * Rows of the earlier storage layout (events, dispatches and attempts mirrored into D1): read while
 * they are within retention, then removed in bounded steps by the cron sweep. A database that never
 * held that layout deletes nothing here.
 */

/** Rows per table per sweep. */
const STEP = 1_000;

export async function purgeLegacyHistory(d1: D1Database, cutoff: string): Promise<number> {
  const results = await d1.batch([
    d1
      .prepare(
        `DELETE FROM attempts WHERE dispatch_id IN (SELECT dispatch_id FROM dispatches WHERE created_at < ?1 LIMIT ${STEP})`,
      )
      .bind(cutoff),
    d1
      .prepare(
        `DELETE FROM dispatches WHERE dispatch_id IN (SELECT dispatch_id FROM dispatches WHERE created_at < ?1 LIMIT ${STEP})`,
      )
      .bind(cutoff),
    d1
      .prepare(`DELETE FROM events WHERE id IN (SELECT id FROM events WHERE received_at < ?1 LIMIT ${STEP})
      AND NOT EXISTS (SELECT 1 FROM dlq_entries d WHERE d.event_id = events.id AND d.state = 'pending')`)
      .bind(cutoff),
  ]);
  return results.reduce((n, r) => n + (r.meta.changes ?? 0), 0);
}
