/**
 * `/v1/queues`: pull API of `worker://` job queues (SPEC 12.3, 19). Queues exist implicitly: an
 * unused name has no jobs, claims nothing and reports zero counts.
 *   POST /:queue/claim                  {consumer_id, lease_ms?, max?} → 200 {items: [job…]}
 *   GET  /:queue                        → {queue, ready, leased, acked}
 *   GET  /:queue/jobs/:job_id           → the job
 *   POST /:queue/jobs/:job_id/ack       {response?, consumer_id?} → 200 the job
 *   POST /:queue/jobs/:job_id/release   {consumer_id?} → 200 the job, ready again
 * Ack and release need a live lease (409 otherwise, and 409 when `consumer_id` is not the holder).
 */
import type { Context } from "hono";
import { Hono } from "hono";
import {
  ackRequestSchema,
  claimRequestSchema,
  JOB_ID_RE,
  queueNameSchema,
  releaseRequestSchema,
} from "../../contracts/worker-jobs";
import {
  ackLease,
  claimJobs,
  clockOf,
  getJob,
  jobView,
  queueStats,
  releaseLease,
  type WorkerJobRow,
} from "../../db/worker-jobs-repo";
import { decideAck, decideRelease, type LeaseDecision } from "../../handlers/worker-jobs-policy";
import { AppError, notFound } from "../../lib/errors";
import type { AppEnv } from "../app-env";
import { tenantScope, visibleTo } from "../auth";
import { parseWith, readJson } from "../validate";

/** A lease can change between the read and the conditional write; re-decide a few times. */
const MAX_LEASE_TRIES = 3;

function queueParam(c: Context<AppEnv>): string {
  return parseWith(queueNameSchema, c.req.param("queue"), "queue name");
}

async function loadJob(c: Context<AppEnv>, queue: string): Promise<WorkerJobRow> {
  const jobId = c.req.param("job_id") ?? "";
  const row = JOB_ID_RE.test(jobId) ? await getJob(c.env.DB, jobId) : null;
  if (!row || !visibleTo(c, row.tenantId)) throw notFound(`job '${jobId}'`);
  if (row.queue !== queue) throw notFound(`job '${jobId}' in queue '${queue}'`);
  return row;
}

/**
 * Applies a lease-guarded change: decides on the job as read, writes conditionally on that lease,
 * and re-reads when the write lost a race (the lease expired or moved on meanwhile).
 */
async function changeLease(
  c: Context<AppEnv>,
  queue: string,
  decide: (row: WorkerJobRow, now: number) => LeaseDecision,
  write: (row: WorkerJobRow, now: number) => Promise<WorkerJobRow | null>,
) {
  for (let i = 0; i < MAX_LEASE_TRIES; i++) {
    const row = await loadJob(c, queue);
    const now = Date.now();
    const decision = decide(row, now);
    if (decision.kind === "conflict") throw new AppError("conflict", decision.message);
    if (decision.kind === "unchanged") return c.json(jobView(row));
    const updated = await write(row, now);
    if (updated) return c.json(jobView(updated));
  }
  throw new AppError("conflict", "the job changed while this request was applied: read it and try again");
}

export function queueRoutes() {
  const app = new Hono<AppEnv>();

  app.get("/:queue", async (c) => {
    const queue = queueParam(c);
    return c.json(await queueStats(c.env.DB, queue, Date.now(), tenantScope(c)));
  });

  app.post("/:queue/claim", async (c) => {
    const queue = queueParam(c);
    const body = await readJson(c, claimRequestSchema);
    // A tenant key claims only its tenant's jobs.
    const rows = await claimJobs(
      c.env.DB,
      queue,
      body.consumer_id,
      body.lease_ms,
      body.max,
      Date.now(),
      tenantScope(c),
    );
    return c.json({ items: rows.map(jobView) });
  });

  app.get("/:queue/jobs/:job_id", async (c) => {
    const queue = queueParam(c);
    return c.json(jobView(await loadJob(c, queue)));
  });

  app.post("/:queue/jobs/:job_id/ack", async (c) => {
    const queue = queueParam(c);
    const body = await readJson(c, ackRequestSchema, { optional: true });
    return changeLease(
      c,
      queue,
      (row, now) => decideAck(clockOf(row), now, body),
      (row, now) => ackLease(c.env.DB, row, body.response, now),
    );
  });

  app.post("/:queue/jobs/:job_id/release", async (c) => {
    const queue = queueParam(c);
    const body = await readJson(c, releaseRequestSchema, { optional: true });
    return changeLease(
      c,
      queue,
      (row, now) => decideRelease(clockOf(row), now, body),
      (row, now) => releaseLease(c.env.DB, row, now),
    );
  });

  return app;
}
