/**
 * The cron sweep (SPEC 6, 14): nothing accepted may stall silently. Re-enqueues events whose inbox
 * message was lost, re-arms dispatches whose attempt message was lost, finishes drained binding
 * versions, and applies retention to records, acked worker jobs and expired dedupe claims.
 */
import { and, eq, inArray, isNull, lt, or } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { terminateIfDrained } from "../db/bindings-repo";
import { bindingVersions, dedupeClaims, dispatches, events } from "../db/schema";
import { purgeAckedJobs } from "../db/worker-jobs-repo";
import { sendInboxBatch } from "../intake/enqueue";
import { iso } from "../lib/time";
import { purgeExpiredRecords } from "../observability/records";

/** Age after which an unrouted event or a quiet live dispatch is considered stalled. */
const STALL_MS = 2 * 60_000;

export async function sweep(env: Env, now: number): Promise<Record<string, number>> {
  const db = drizzle(env.DB);
  const stalledBefore = iso(now - STALL_MS);

  const unrouted = await db
    .select({ id: events.id })
    .from(events)
    .where(and(isNull(events.routedAt), lt(events.receivedAt, stalledBefore)))
    .limit(500);
  if (unrouted.length > 0)
    await sendInboxBatch(
      env,
      unrouted.map((e) => e.id),
    );

  const quiet = await db
    .select({ dispatchId: dispatches.dispatchId, bindingKey: dispatches.bindingKey })
    .from(dispatches)
    .where(
      and(
        inArray(dispatches.status, ["admitted", "retry_scheduled"]),
        lt(dispatches.updatedAt, stalledBefore),
        or(isNull(dispatches.nextAttemptAt), lt(dispatches.nextAttemptAt, stalledBefore)),
      ),
    )
    .limit(500);
  await Promise.all(quiet.map((d) => env.BINDING_GATE.getByName(d.bindingKey).rearm(d.dispatchId)));

  const draining = await db
    .select({ bindingKey: bindingVersions.bindingKey })
    .from(bindingVersions)
    .where(eq(bindingVersions.state, "draining"));
  let terminated = 0;
  for (const v of draining) if (await terminateIfDrained(env.DB, v.bindingKey, now)) terminated++;

  const retentionDays = Number(env.RECORDS_RETENTION_DAYS) > 0 ? Number(env.RECORDS_RETENTION_DAYS) : 7;
  const cutoff = iso(now - retentionDays * 86_400_000);
  const purgedRecords = await purgeExpiredRecords(env.DB, cutoff);
  await db.delete(dedupeClaims).where(lt(dedupeClaims.expiresAt, now));
  const purgedJobs = await purgeAckedJobs(env.DB, cutoff);

  return {
    requeued: unrouted.length,
    rearmed: quiet.length,
    terminated,
    purged_records: purgedRecords,
    purged_jobs: purgedJobs,
  };
}
