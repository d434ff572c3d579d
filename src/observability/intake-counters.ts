/**
 * Durable intake counters (SPEC 14 metrics): duplicates and rejections leave no `events` row, so
 * intake bumps a row of `intake_counters` for them. D1 serialises the upserts, which keeps the
 * counts exact across isolates and restarts.
 */
import { sql } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import type { Context, MiddlewareHandler } from "hono";
import type { Db } from "../db/client";
import { intakeCounters } from "../db/schema";
import { AppError } from "../lib/errors";
import { iso } from "../lib/time";

/** The `source` of API publishes; source names start with `[a-z0-9]`, so it cannot clash with one. */
export const API_SOURCE = "_api";

/** The `source` of console login refusals (`login_throttled`), kept out of the intake families. */
export const CONSOLE_SOURCE = "_console";

export interface IntakeCount {
  source: string;
  outcome: "duplicate" | "rejected";
  /** The error code of a rejection; empty for duplicates. */
  reason: string;
}

/** One upsert adding 1, for callers that batch it with a write they already make. */
export function intakeCounterIncrement(db: Db, count: IntakeCount, now: number) {
  const at = iso(now);
  return db
    .insert(intakeCounters)
    .values({ ...count, count: 1, updatedAt: at })
    .onConflictDoUpdate({
      target: [intakeCounters.source, intakeCounters.outcome, intakeCounters.reason],
      set: { count: sql`${intakeCounters.count} + 1`, updatedAt: at },
    });
}

/** Best effort: a failed counter write is logged and never turns an intake answer into a 500. */
export async function countIntake(d1: D1Database, count: IntakeCount, now: number): Promise<void> {
  try {
    await intakeCounterIncrement(drizzle(d1), count, now);
  } catch (error) {
    console.error(JSON.stringify({ msg: "intake counter write failed", ...count, error: String(error) }));
  }
}

/**
 * Counts a request as `rejected` when its route answered a 4xx `AppError`. 5xx answers are not
 * rejections of the event: `backpressure` must not add a D1 write to the path that sheds load
 * before D1, and `unavailable` means the event was stored. `skip` names codes counted elsewhere
 * (the signature audit write) or that are not about an event (an unknown source).
 */
export function countRejections(
  sourceOf: (c: Context<{ Bindings: Env }>) => string,
  skip: readonly string[] = [],
): MiddlewareHandler<{ Bindings: Env }> {
  return async (c, next) => {
    await next();
    const error = c.error;
    if (!(error instanceof AppError) || error.status < 400 || error.status > 499 || skip.includes(error.code)) return;
    await countIntake(c.env.DB, { source: sourceOf(c), outcome: "rejected", reason: error.code }, Date.now());
  };
}
