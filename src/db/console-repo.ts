/** Console session revocations and failed-login counters (D1 `revoked_sessions`, `login_failures`). */
import { eq } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { FAILURE_WINDOW_MS, type FailureRecord } from "../console/login-throttle";
import { loginFailures, revokedSessions } from "./schema";

/** Ends a session for good: its cookie is refused until it would have expired anyway. */
export async function revokeSession(d1: D1Database, nonce: string, expiresAt: number): Promise<void> {
  await drizzle(d1).insert(revokedSessions).values({ nonce, expiresAt }).onConflictDoNothing();
}

export async function sessionRevoked(d1: D1Database, nonce: string): Promise<boolean> {
  const rows = await drizzle(d1)
    .select({ nonce: revokedSessions.nonce })
    .from(revokedSessions)
    .where(eq(revokedSessions.nonce, nonce))
    .limit(1);
  return rows.length > 0;
}

export async function loginFailuresOf(d1: D1Database, client: string): Promise<FailureRecord | null> {
  const rows = await drizzle(d1).select().from(loginFailures).where(eq(loginFailures.client, client)).limit(1);
  const row = rows[0];
  return row ? { failures: row.failures, last_failure_at: row.lastFailureAt } : null;
}

/** Counts one failed login in one statement (a failure after the window starts the count again). */
export async function recordLoginFailure(d1: D1Database, client: string, now: number): Promise<FailureRecord> {
  const row = await d1
    .prepare(
      `INSERT INTO login_failures (client, failures, last_failure_at) VALUES (?1, 1, ?2)
       ON CONFLICT (client) DO UPDATE SET
         failures = CASE WHEN ?2 - last_failure_at > ?3 THEN 1 ELSE failures + 1 END,
         last_failure_at = ?2
       RETURNING failures, last_failure_at`,
    )
    .bind(client, now, FAILURE_WINDOW_MS)
    .first<FailureRecord>();
  return row ?? { failures: 1, last_failure_at: now };
}

export async function forgetLoginFailures(d1: D1Database, client: string): Promise<void> {
  await drizzle(d1).delete(loginFailures).where(eq(loginFailures.client, client));
}

/** Retention (the cron sweep): revocations of expired sessions and forgotten failures go. */
export async function purgeConsoleRows(d1: D1Database, now: number): Promise<number> {
  const [revoked, failures] = await d1.batch([
    d1.prepare("DELETE FROM revoked_sessions WHERE expires_at < ?").bind(now),
    d1.prepare("DELETE FROM login_failures WHERE last_failure_at < ?").bind(now - FAILURE_WINDOW_MS),
  ]);
  return (revoked?.meta.changes ?? 0) + (failures?.meta.changes ?? 0);
}
