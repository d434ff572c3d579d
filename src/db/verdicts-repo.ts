/** Cached classifier verdicts (SPEC 7): a replay of an event reuses the verdict its classifier gave. */
import { and, eq } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { predicateVerdicts } from "./schema";

export async function cachedVerdictOf(
  d1: D1Database,
  eventId: string,
  classifier: string,
): Promise<{ pass: boolean; reason: string | null } | null> {
  const rows = await drizzle(d1)
    .select({ pass: predicateVerdicts.pass, reason: predicateVerdicts.reason })
    .from(predicateVerdicts)
    .where(and(eq(predicateVerdicts.eventId, eventId), eq(predicateVerdicts.classifier, classifier)))
    .limit(1);
  return rows[0] ?? null;
}
