/**
 * Exact dedupe (SPEC 4.3): one D1 row per accepted event, `(scope, dedupe_key) → event_id`, the thin
 * per-event index of docs/scale.md. A claim is one statement: it inserts, or takes over an expired
 * claim, or leaves a live one alone, and returns whichever event holds the key afterwards. D1
 * serialises writers, so concurrent duplicates agree on one holder.
 */

const CLAIM = `INSERT INTO dedupe_claims (scope, dedupe_key, event_id, expires_at) VALUES (?1, ?2, ?3, ?4)
ON CONFLICT (scope, dedupe_key) DO UPDATE SET
  event_id = CASE WHEN dedupe_claims.expires_at <= ?5 THEN excluded.event_id ELSE dedupe_claims.event_id END,
  expires_at = CASE WHEN dedupe_claims.expires_at <= ?5 THEN excluded.expires_at ELSE dedupe_claims.expires_at END
RETURNING event_id`;

export interface Claim {
  scope: string;
  dedupe_key: string;
  event_id: string;
  expires_at: number;
}

/** Claims `(scope, dedupe_key)` for `event_id`; returns the event that holds it afterwards. */
export async function claimDedupe(d1: D1Database, claim: Claim, now: number): Promise<string> {
  const row = await d1
    .prepare(CLAIM)
    .bind(claim.scope, claim.dedupe_key, claim.event_id, claim.expires_at, now)
    .first<{ event_id: string }>();
  if (!row) throw new Error("dedupe claim returned no row");
  return row.event_id;
}

/** Claims several keys in one D1 batch (one transaction, in order); the holder of each afterwards. */
export async function claimDedupeMany(d1: D1Database, claims: Claim[], now: number): Promise<string[]> {
  if (claims.length === 0) return [];
  if (claims.length === 1 && claims[0]) return [await claimDedupe(d1, claims[0], now)];
  const statement = d1.prepare(CLAIM);
  const results = await d1.batch<{ event_id: string }>(
    claims.map((c) => statement.bind(c.scope, c.dedupe_key, c.event_id, c.expires_at, now)),
  );
  return results.map((r) => {
    const row = r.results[0];
    if (!row) throw new Error("dedupe claim returned no row");
    return row.event_id;
  });
}

/** Rows a purge step reads at most: the sweep walks the claims' primary key in steps of this many. */
export const PURGE_STEP_ROWS = 5_000;

/**
 * One retention step over the claims, in primary-key order from `after` (exclusive): deletes the
 * expired ones among the next `PURGE_STEP_ROWS` rows. Returns where the next step starts (null at the
 * end of the table, when the walk starts over) and how many it deleted.
 */
export async function purgeExpiredClaims(
  d1: D1Database,
  after: { scope: string; dedupe_key: string } | null,
  now: number,
): Promise<{ next: { scope: string; dedupe_key: string } | null; deleted: number }> {
  const from = after ?? { scope: "", dedupe_key: "" };
  const last = await d1
    .prepare(
      `SELECT scope, dedupe_key FROM (SELECT scope, dedupe_key FROM dedupe_claims WHERE (scope, dedupe_key) > (?1, ?2)
       ORDER BY scope, dedupe_key LIMIT ?3) ORDER BY scope DESC, dedupe_key DESC LIMIT 1`,
    )
    .bind(from.scope, from.dedupe_key, PURGE_STEP_ROWS)
    .first<{ scope: string; dedupe_key: string }>();
  if (!last) return { next: null, deleted: 0 };
  const { meta } = await d1
    .prepare(
      `DELETE FROM dedupe_claims WHERE (scope, dedupe_key) > (?1, ?2) AND (scope, dedupe_key) <= (?3, ?4)
       AND expires_at <= ?5`,
    )
    .bind(from.scope, from.dedupe_key, last.scope, last.dedupe_key, now)
    .run();
  return { next: last, deleted: meta.changes ?? 0 };
}
