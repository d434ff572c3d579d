/**
 * Attempts of the earlier storage layout, which mirrored every dispatch into D1. DLQ entries written
 * then have no attempts of their own; they are read from here until retention ends them.
 */
import { asc, eq } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { type AttemptView, storedAttemptOutcome } from "../contracts/dispatch";
import { attempts } from "./schema";

export type AttemptRow = typeof attempts.$inferSelect;

export function attemptView(row: AttemptRow): AttemptView {
  return {
    attempt: row.attempt,
    started_at: row.startedAt,
    completed_at: row.completedAt,
    outcome: storedAttemptOutcome(row.outcome),
    error_msg: row.errorMsg,
    ...(row.statusCode === null ? {} : { status_code: row.statusCode }),
    duration_ms: row.durationMs,
  };
}

export async function attemptsOf(d1: D1Database, dispatchId: string): Promise<AttemptRow[]> {
  return drizzle(d1).select().from(attempts).where(eq(attempts.dispatchId, dispatchId)).orderBy(asc(attempts.attempt));
}
