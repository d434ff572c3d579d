/**
 * Upgrading a database of the earlier storage layout (docs/scale.md, "Upgrading"): its rows stay
 * readable where they are (`history/legacy-layout.ts`) until retention ends them, and the cron
 * sweep does the rest in bounded steps:
 * - events accepted but not yet routed when the upgrade landed are routed (never to a binding that
 *   already has a dispatch of them in either layout);
 * - before the first of its rows is purged, the counters they stand for are sealed into D1's
 *   partition directory (`legacy:history`, `legacy:events`), so `/metrics` never goes backwards;
 * - then the rows past retention are deleted, oldest first.
 */
import { loadRoutingTable } from "../db/bindings-repo";
import { BUCKETS, emptyHistogram, type Histogram } from "../history/history-totals";
import { legacyEvents } from "../history/legacy-layout";
import { dispatchIdOf } from "./dispatch-id";
import { admitRequestOf, routesOf } from "./routing-table";

/** Rows per table per sweep. */
const STEP = 1_000;
/** Unrouted events routed per sweep. */
const ROUTE_STEP = 100;

async function hasRows(d1: D1Database, table: string): Promise<boolean> {
  return (await d1.prepare(`SELECT 1 FROM ${table} LIMIT 1`).first()) !== null;
}

export async function routeLegacyEvents(env: Env): Promise<number> {
  const { results } = await env.DB.prepare(
    `SELECT id FROM events WHERE routed_at IS NULL ORDER BY id LIMIT ${ROUTE_STEP}`,
  ).all<{
    id: string;
  }>();
  if (results.length === 0) return 0;
  const table = await loadRoutingTable(env.DB);
  const events = await legacyEvents(
    env.DB,
    results.map((r) => r.id),
  );
  let routed = 0;
  for (const stored of events) {
    for (const binding of routesOf(table, stored.event, stored.target)) {
      const exists = await env.DB.prepare("SELECT 1 FROM dispatches WHERE dispatch_id = ?")
        .bind(dispatchIdOf(binding.bindingKey, stored.event.id))
        .first();
      if (exists) continue;
      await env.BINDING_GATE.getByName(binding.bindingKey).admit(
        admitRequestOf(stored.event, binding, table.controls.get(binding.id), true),
      );
    }
    await env.DB.prepare("UPDATE events SET routed_at = ? WHERE id = ?")
      .bind(new Date().toISOString(), stored.event.id)
      .run();
    routed += 1;
  }
  return routed;
}

/** Per-bucket counts from cumulative `b<i>` columns. */
function histogramOf(row: Record<string, unknown> | null, bounds: readonly number[]): Histogram {
  const h = emptyHistogram(bounds);
  if (!row) return h;
  let below = 0;
  bounds.forEach((_, i) => {
    const cumulative = Number(row[`b${i}`] ?? 0);
    h.buckets[i] = cumulative - below;
    below = cumulative;
  });
  h.n = Number(row.n ?? 0);
  h.sum = Number(row.sum ?? 0);
  return h;
}

function histogramSql(bounds: readonly number[], ms: string, from: string): string {
  const buckets = bounds.map((le, i) => `coalesce(sum(ms <= ${Math.round(le * 1000)}), 0) AS b${i}`).join(", ");
  return `SELECT count(*) AS n, total(ms) / 1000.0 AS sum, ${buckets} FROM (SELECT ${ms} AS ms ${from})`;
}

const msBetween = (from: string, to: string) =>
  `max(0, CAST(round((julianday(${to}) - julianday(${from})) * 86400000.0) AS INTEGER))`;

/** Seals the counters the earlier layout's rows stand for, once, before any of them is purged. */
export async function sealLegacyTotals(env: Env): Promise<boolean> {
  const d1 = env.DB;
  if (await d1.prepare("SELECT 1 FROM partitions WHERE name = 'legacy:history'").first()) return true;
  if (!(await hasRows(d1, "dispatches")) && !(await hasRows(d1, "events"))) return false;
  const accepted = "CASE WHEN d.replay_of_event_id IS NULL THEN e.received_at ELSE d.created_at END";
  const [byStatus, retries, accepts, queueAge, durations] = await d1.batch<Record<string, unknown>>([
    d1.prepare(
      `SELECT binding_key || ' ' || handler_kind || ' ' || status AS k, count(*) AS n FROM dispatches
       WHERE status IN ('succeeded','skipped','dlq','failed','cancelled') GROUP BY 1`,
    ),
    d1.prepare(
      `SELECT d.binding_id AS id, count(*) AS n FROM attempts a JOIN dispatches d ON d.dispatch_id = a.dispatch_id
       WHERE a.attempt > 1 AND d.status IN ('succeeded','skipped','dlq','failed','cancelled') GROUP BY 1`,
    ),
    d1.prepare("SELECT coalesce(source, '_api') AS source, count(*) AS n FROM events GROUP BY 1"),
    d1.prepare(
      histogramSql(
        BUCKETS.queueAge,
        msBetween(accepted, "a.started_at"),
        `FROM attempts a JOIN dispatches d ON d.dispatch_id = a.dispatch_id JOIN events e ON e.id = d.event_id
         WHERE a.attempt = 1 AND d.status IN ('succeeded','skipped','dlq','failed','cancelled')`,
      ),
    ),
    d1.prepare(
      histogramSql(
        BUCKETS.attemptDuration,
        "max(0, a.duration_ms)",
        `FROM attempts a JOIN dispatches d ON d.dispatch_id = a.dispatch_id
         WHERE a.duration_ms IS NOT NULL AND d.status IN ('succeeded','skipped','dlq','failed','cancelled')`,
      ),
    ),
  ]);
  const history = {
    dispatches: Object.fromEntries((byStatus?.results ?? []).map((r) => [String(r.k), Number(r.n)])),
    retries_by_binding: Object.fromEntries((retries?.results ?? []).map((r) => [String(r.id), Number(r.n)])),
    queue_age: histogramOf(queueAge?.results[0] ?? null, BUCKETS.queueAge),
    attempt_duration: histogramOf(durations?.results[0] ?? null, BUCKETS.attemptDuration),
  };
  const events = Object.fromEntries((accepts?.results ?? []).map((r) => [String(r.source), Number(r.n)]));
  const now = Date.now();
  await d1.batch([
    d1
      .prepare(
        "INSERT INTO partitions (name, start, shard, created_at, sealed_at, totals) VALUES ('legacy:history', 0, 0, ?1, ?1, ?2) ON CONFLICT DO NOTHING",
      )
      .bind(now, JSON.stringify(history)),
    d1
      .prepare(
        "INSERT INTO partitions (name, start, shard, created_at, sealed_at, totals) VALUES ('legacy:events', 0, 0, ?1, ?1, ?2) ON CONFLICT DO NOTHING",
      )
      .bind(now, JSON.stringify(events)),
  ]);
  return true;
}

/** Deletes rows of the earlier layout past retention (after their counters were sealed). */
export async function purgeLegacyHistory(env: Env, cutoff: string): Promise<number> {
  const d1 = env.DB;
  if (!(await sealLegacyTotals(env))) return 0;
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
      .prepare(
        `DELETE FROM events WHERE id IN (SELECT id FROM events WHERE received_at < ?1 AND routed_at IS NOT NULL LIMIT ${STEP})
         AND NOT EXISTS (SELECT 1 FROM dlq_entries d WHERE d.event_id = events.id AND d.state = 'pending')`,
      )
      .bind(cutoff),
  ]);
  return results.reduce((n, r) => n + (r.meta.changes ?? 0), 0);
}
