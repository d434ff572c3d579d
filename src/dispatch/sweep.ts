/**
 * The cron sweep (SPEC 6, 14), every minute: nothing accepted may stall silently and retention runs.
 * The EventLog windows of the last two windows are asked to route anything left unrouted (their own
 * alarms do this too; this covers an alarm lost with a crash), drained binding versions terminate
 * once their gate holds nothing, and expired dedupe claims, control-plane records, acked worker
 * jobs and rows of the earlier storage layout are purged in bounded steps. Per-event history is not
 * swept: its windows drop themselves whole.
 */

import { eq } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { purgeConsoleRows } from "../db/console-repo";
import { purgeExpiredClaims } from "../db/dedupe-repo";
import { bindingVersions } from "../db/schema";
import { purgeAckedJobs } from "../db/worker-jobs-repo";
import { eventLogName, eventShards, partitionSpanMs, partitionStart, retentionMs } from "../lib/partitions";
import { iso } from "../lib/time";
import { purgeExpiredRecords } from "../observability/records";
import { purgeLegacyHistory, routeLegacyEvents } from "./legacy-upgrade";

/** Claim purge steps per sweep (each reads at most 5,000 claims). */
const CLAIM_STEPS_PER_SWEEP = 20;

async function purgeClaims(env: Env, now: number): Promise<number> {
  const state = await env.DB.prepare("SELECT v FROM sweep_state WHERE k = 'claims_after'").first<{ v: string }>();
  let after = state ? (JSON.parse(state.v) as { scope: string; dedupe_key: string } | null) : null;
  let deleted = 0;
  for (let i = 0; i < CLAIM_STEPS_PER_SWEEP; i++) {
    const step = await purgeExpiredClaims(env.DB, after, now);
    deleted += step.deleted;
    after = step.next;
    if (after === null) break;
  }
  await env.DB.prepare(
    "INSERT INTO sweep_state (k, v) VALUES ('claims_after', ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v",
  )
    .bind(JSON.stringify(after))
    .run();
  return deleted;
}

export async function sweep(env: Env, now: number): Promise<Record<string, number>> {
  const span = partitionSpanMs(env);
  const windows = [partitionStart(now, span), partitionStart(now - span, span)];
  const logs = windows.flatMap((start) => Array.from({ length: eventShards(env) }, (_, s) => eventLogName(start, s)));
  const unrouted = await Promise.all(
    logs.map((name) =>
      env.EVENT_LOG.getByName(name)
        .tick()
        .catch(() => 0),
    ),
  );

  const draining = await drizzle(env.DB)
    .select({ bindingKey: bindingVersions.bindingKey })
    .from(bindingVersions)
    .where(eq(bindingVersions.state, "draining"));
  const drained = await Promise.all(
    draining.map((v) =>
      env.BINDING_GATE.getByName(v.bindingKey)
        .drain(v.bindingKey)
        .catch(() => ({ live: -1 })),
    ),
  );

  const cutoff = iso(now - retentionMs(env));
  const purgedClaims = await purgeClaims(env, now);
  const purgedRecords = await purgeExpiredRecords(env.DB, cutoff);
  const purgedJobs = await purgeAckedJobs(env.DB, cutoff);
  const purgedConsole = await purgeConsoleRows(env.DB, now);
  const routedLegacy = await routeLegacyEvents(env);
  const purgedLegacy = await purgeLegacyHistory(env, cutoff);
  return {
    unrouted: unrouted.reduce((a, b) => a + b, 0),
    draining: drained.filter((d) => d.live > 0).length,
    purged_claims: purgedClaims,
    purged_records: purgedRecords,
    purged_jobs: purgedJobs,
    purged_console: purgedConsole,
    routed_legacy: routedLegacy,
    purged_legacy: purgedLegacy,
  };
}
