/**
 * `worker_jobs` in D1 (SPEC 12.3). Every state change is one conditional statement, so concurrent
 * claimers, acks and push deliveries never both win: claiming selects and leases in a single
 * `UPDATE … WHERE job_id IN (SELECT …) RETURNING`, and ack/release are fenced on the claim count
 * (which changes with every lease) that the caller read.
 */
import { and, eq, gt, inArray, lt, type SQL, sql } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { triggerEventSchema } from "../contracts/events";
import type { JobPriority, WorkerJob } from "../contracts/worker-jobs";
import { claimCutoffs, compareForClaim, type JobClock, queueCounts } from "../handlers/worker-jobs-policy";
import { uuidv7 } from "../lib/ids";
import { parseJsonText } from "../lib/json-text";
import { iso } from "../lib/time";
import { workerJobs } from "./schema";

export type WorkerJobRow = typeof workerJobs.$inferSelect;

export const newJobId = (now?: number) => `job_${uuidv7(now)}`;

export interface NewJob {
  queue: string;
  trigger_id: string;
  binding_key: string;
  binding_version: number;
  event_id: string;
  dispatch_id: string;
  attempt: number;
  tenant_id: string | null;
  /** The serialised TriggerEvent. */
  event_json: string;
  replay_of_event_id: string | null;
  priority: JobPriority;
}

/**
 * Inserts the job unless its dispatch already has one, and returns the dispatch's job either way
 * (`created` says which). One D1 batch, so the answer is the row that won the unique key.
 */
export async function insertJob(
  d1: D1Database,
  job: NewJob,
  now: number,
): Promise<{ row: WorkerJobRow; created: boolean }> {
  const db = drizzle(d1);
  const at = iso(now);
  const jobId = newJobId(now);
  const [, rows] = await db.batch([
    db
      .insert(workerJobs)
      .values({
        jobId,
        queue: job.queue,
        triggerId: job.trigger_id,
        bindingKey: job.binding_key,
        bindingVersion: job.binding_version,
        eventId: job.event_id,
        dispatchId: job.dispatch_id,
        attempt: job.attempt,
        tenantId: job.tenant_id,
        event: job.event_json,
        replayOfEventId: job.replay_of_event_id,
        priority: job.priority,
        state: "ready",
        claims: 0,
        createdAt: at,
        updatedAt: at,
      })
      .onConflictDoNothing({ target: workerJobs.dispatchId }),
    db.select().from(workerJobs).where(eq(workerJobs.dispatchId, job.dispatch_id)).limit(1),
  ]);
  const row = rows[0];
  if (!row) throw new Error(`worker job for dispatch ${job.dispatch_id} was neither inserted nor found`);
  return { row, created: row.jobId === jobId };
}

export async function getJob(d1: D1Database, jobId: string): Promise<WorkerJobRow | null> {
  return (await drizzle(d1).select().from(workerJobs).where(eq(workerJobs.jobId, jobId)).limit(1))[0] ?? null;
}

/**
 * Candidate ids for one claim, best first. D1 allows at most 5 terms in a compound SELECT, which fits
 * exactly: the oldest `n` ready jobs of each rank band, each read in order through `worker_jobs_claim`,
 * plus the expired leases of the queue (few: at most one per busy consumer), ranked by the same rule.
 */
function claimCandidates(queue: string, cut: ReturnType<typeof claimCutoffs>, n: number, tenant: string | null): SQL {
  const ofTenant = tenant === null ? sql`` : sql` AND c.tenant_id = ${tenant}`;
  const ready = (priority: string, rank: number, band: SQL) =>
    sql`SELECT * FROM (SELECT c.job_id AS job_id, ${sql.raw(String(rank))} AS claim_rank, c.created_at AS created_at
      FROM worker_jobs AS c
      WHERE c.queue = ${queue} AND c.state = 'ready' AND c.priority = ${sql.raw(`'${priority}'`)}${band}${ofTenant}
      ORDER BY c.created_at, c.job_id LIMIT ${n})`;
  // Mirrors claimRank in worker-jobs-policy.ts.
  const rank = sql`CASE WHEN c.priority = 'high' OR (c.priority = 'normal' AND c.created_at <= ${cut.promote_before})
    THEN 0 WHEN c.priority = 'normal' THEN 1 ELSE 2 END`;
  const expired = sql`SELECT * FROM (SELECT c.job_id AS job_id, ${rank} AS claim_rank, c.created_at AS created_at
      FROM worker_jobs AS c
      WHERE c.queue = ${queue} AND c.state = 'leased' AND c.lease_expires_at <= ${cut.now}${ofTenant}
      ORDER BY claim_rank, c.created_at, c.job_id LIMIT ${n})`;
  const parts = [
    ready("high", 0, sql``),
    ready("normal", 0, sql` AND c.created_at <= ${cut.promote_before}`),
    ready("normal", 1, sql` AND c.created_at > ${cut.promote_before}`),
    ready("low", 2, sql``),
    expired,
  ];
  return sql`SELECT job_id FROM (${sql.join(parts, sql` UNION ALL `)})
    ORDER BY claim_rank, created_at, job_id LIMIT ${n}`;
}

/**
 * Leases up to `max` claimable jobs of `queue` to `consumerId` in claim order (SPEC 12.3): high
 * (and normal jobs waiting ≥ 15 min), then normal, then low; oldest first. One atomic statement:
 * D1 runs it alone, so two claimers can never lease the same job.
 */
export async function claimJobs(
  d1: D1Database,
  queue: string,
  consumerId: string,
  leaseMs: number,
  max: number,
  now: number,
  tenant: string | null = null,
): Promise<WorkerJobRow[]> {
  const cut = claimCutoffs(now, leaseMs);
  const rows = await drizzle(d1)
    .update(workerJobs)
    .set(leasedTo(consumerId, cut))
    .where(sql`${workerJobs.jobId} IN (${claimCandidates(queue, cut, max, tenant)})`)
    .returning();
  return rows.sort((a, b) => compareForClaim(clockOf(a), clockOf(b), now));
}

/** The columns a claim writes: leased to `consumerId` until the cut-off, one claim more. */
function leasedTo(consumerId: string, cut: ReturnType<typeof claimCutoffs>) {
  return {
    state: "leased" as const,
    consumerId,
    leaseExpiresAt: cut.lease_expires_at,
    claims: sql`${workerJobs.claims} + 1`,
    updatedAt: cut.now,
  };
}

/**
 * Leases one job to the push delivery if it is still claimable (the enqueue that just wrote it, or a
 * retry finding it ready again). Null when someone else holds it or it is acked.
 */
export async function leaseJob(
  d1: D1Database,
  jobId: string,
  consumerId: string,
  leaseMs: number,
  now: number,
): Promise<WorkerJobRow | null> {
  const cut = claimCutoffs(now, leaseMs);
  const rows = await drizzle(d1)
    .update(workerJobs)
    .set(leasedTo(consumerId, cut))
    .where(
      and(
        eq(workerJobs.jobId, jobId),
        sql`(${workerJobs.state} = 'ready' OR (${workerJobs.state} = 'leased' AND ${workerJobs.leaseExpiresAt} <= ${cut.now}))`,
      ),
    )
    .returning();
  return rows[0] ?? null;
}

/** The lease a caller read: the update applies only while that exact lease is still live. */
function liveLease(lease: WorkerJobRow, now: number): SQL | undefined {
  return and(
    eq(workerJobs.jobId, lease.jobId),
    eq(workerJobs.state, "leased"),
    eq(workerJobs.claims, lease.claims),
    gt(workerJobs.leaseExpiresAt, iso(now)),
  );
}

/** Acks the lease read as `lease`; null when it changed or expired meanwhile (the caller re-reads). */
export async function ackLease(
  d1: D1Database,
  lease: WorkerJobRow,
  response: unknown,
  now: number,
  extra: { pushedAt?: string } = {},
): Promise<WorkerJobRow | null> {
  const at = iso(now);
  const rows = await drizzle(d1)
    .update(workerJobs)
    .set({
      state: "acked",
      response: JSON.stringify(response ?? null),
      leaseExpiresAt: null,
      ackedAt: at,
      updatedAt: at,
      ...(extra.pushedAt ? { pushedAt: extra.pushedAt, pushError: null } : {}),
    })
    .where(liveLease(lease, now))
    .returning();
  return rows[0] ?? null;
}

/** Puts the lease read as `lease` back to ready; null when it changed or expired meanwhile. */
export async function releaseLease(
  d1: D1Database,
  lease: WorkerJobRow,
  now: number,
  extra: { pushError?: string } = {},
): Promise<WorkerJobRow | null> {
  const rows = await drizzle(d1)
    .update(workerJobs)
    .set({
      state: "ready",
      consumerId: null,
      leaseExpiresAt: null,
      updatedAt: iso(now),
      ...(extra.pushError ? { pushError: extra.pushError } : {}),
    })
    .where(liveLease(lease, now))
    .returning();
  return rows[0] ?? null;
}

/** Notes why a push was not attempted or failed, without touching the job's state. */
export async function notePushError(d1: D1Database, jobId: string, error: string, now: number): Promise<void> {
  await drizzle(d1)
    .update(workerJobs)
    .set({ pushError: error, updatedAt: iso(now) })
    .where(eq(workerJobs.jobId, jobId));
}

export async function queueStats(d1: D1Database, queue: string, now: number, tenant: string | null = null) {
  const groups = await drizzle(d1)
    .select({
      state: workerJobs.state,
      expired: sql<number>`(${workerJobs.state} = 'leased' AND ${workerJobs.leaseExpiresAt} <= ${iso(now)})`,
      n: sql<number>`count(*)`,
    })
    .from(workerJobs)
    .where(and(eq(workerJobs.queue, queue), tenant === null ? undefined : eq(workerJobs.tenantId, tenant)))
    .groupBy(sql`1`, sql`2`);
  return { queue, ...queueCounts(groups.map((g) => ({ state: g.state, expired: g.expired === 1, n: g.n }))) };
}

/** Retention: deletes acked jobs acked before `before` (ISO), at most `limit` per call. */
export async function purgeAckedJobs(d1: D1Database, before: string, limit = 500): Promise<number> {
  const db = drizzle(d1);
  const old = db
    .select({ jobId: workerJobs.jobId })
    .from(workerJobs)
    .where(and(eq(workerJobs.state, "acked"), lt(workerJobs.ackedAt, before)))
    .limit(limit);
  const deleted = await db
    .delete(workerJobs)
    .where(inArray(workerJobs.jobId, old))
    .returning({ jobId: workerJobs.jobId });
  return deleted.length;
}

/** The fields the pure policy reads. */
export function clockOf(row: WorkerJobRow): JobClock {
  return {
    job_id: row.jobId,
    priority: row.priority,
    state: row.state,
    created_at: row.createdAt,
    lease_expires_at: row.leaseExpiresAt,
    consumer_id: row.consumerId,
    claims: row.claims,
    response: parseJsonText(row.response),
  };
}

/** The job on the wire (SPEC 12.3): claim items, ack/release answers, push bodies. */
export function jobView(row: WorkerJobRow): WorkerJob {
  return {
    job_id: row.jobId,
    queue: row.queue,
    trigger_id: row.triggerId,
    binding_key: row.bindingKey,
    binding_version: row.bindingVersion,
    event_id: row.eventId,
    dispatch_id: row.dispatchId,
    attempt: row.attempt,
    tenant_id: row.tenantId,
    event: triggerEventSchema.parse(JSON.parse(row.event)),
    replay_of_event_id: row.replayOfEventId,
    priority: row.priority,
    state: row.state,
    consumer_id: row.consumerId,
    lease_expires_at: row.leaseExpiresAt,
    claims: row.claims,
    response: parseJsonText(row.response),
    pushed_at: row.pushedAt,
    push_error: row.pushError,
    created_at: row.createdAt,
    updated_at: row.updatedAt,
    acked_at: row.ackedAt,
  };
}
