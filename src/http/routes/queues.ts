/**
 * `/v1/queues`: pull API of `worker://` job queues (SPEC 12.3, 19). Queues exist implicitly: an
 * unused name has no jobs, claims nothing and reports zero counts.
 *   POST /{queue}/claim                  {consumer_id, lease_ms?, max?} → 200 {items: [job…]}
 *   GET  /{queue}                        → {queue, ready, leased, acked}
 *   GET  /{queue}/jobs/{job_id}          → the job
 *   POST /{queue}/jobs/{job_id}/ack      {response?, consumer_id?} → 200 the job
 *   POST /{queue}/jobs/{job_id}/release  {consumer_id?} → 200 the job, ready again
 * Ack and release need a live lease (409 otherwise, and 409 when `consumer_id` is not the holder).
 */
import type { Context } from "hono";
import { z } from "zod";
import {
  ackRequestSchema,
  claimRequestSchema,
  JOB_ID_RE,
  queueNameSchema,
  queueStatsSchema,
  releaseRequestSchema,
  workerJobSchema,
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
import { WorkerJob } from "../openapi/components";
import { named, RouteGroup } from "../openapi/route";
import { parseWith } from "../validate";

/** A lease can change between the read and the conditional write; re-decide a few times. */
const MAX_LEASE_TRIES = 3;

const queueParams = z.object({ queue: queueNameSchema });
const jobParams = z.object({ queue: queueNameSchema, job_id: z.string().regex(JOB_ID_RE) });

/** A path's queue name, else 400 with problems. */
const queueOf = (raw: string) => parseWith(queueNameSchema, raw, "queue name");

async function loadJob(c: Context<AppEnv>, queue: string, jobId: string): Promise<WorkerJobRow> {
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
  jobId: string,
  decide: (row: WorkerJobRow, now: number) => LeaseDecision,
  write: (row: WorkerJobRow, now: number) => Promise<WorkerJobRow | null>,
) {
  for (let i = 0; i < MAX_LEASE_TRIES; i++) {
    const row = await loadJob(c, queue, jobId);
    const now = Date.now();
    const decision = decide(row, now);
    if (decision.kind === "conflict") throw new AppError("conflict", decision.message);
    if (decision.kind === "unchanged") return c.json(jobView(row));
    const updated = await write(row, now);
    if (updated) return c.json(jobView(updated));
  }
  throw new AppError("conflict", "the job changed while this request was applied: read it and try again");
}

/** A bad queue name answers its 400 before the body is read, whatever the body. */
const queueFirst = ({ queue }: { queue: string }) => {
  queueOf(queue);
};

export function queueRoutes() {
  return new RouteGroup("/v1/queues", "Worker jobs")
    .on(
      {
        method: "get",
        path: "/{queue}",
        operationId: "getQueueStats",
        summary: "Job counts of a queue",
        auth: "admin",
        params: queueParams,
        responses: { 200: { description: "Counts by state.", json: named("QueueStats", queueStatsSchema) } },
        errors: [400],
      },
      async (c, { params }) => {
        const queue = queueOf(params.queue);
        return c.json(await queueStats(c.env.DB, queue, Date.now(), tenantScope(c)));
      },
    )
    .on(
      {
        method: "post",
        path: "/{queue}/claim",
        operationId: "claimJobs",
        summary: "Claim jobs under a lease",
        auth: "admin",
        params: queueParams,
        check: queueFirst,
        body: named("ClaimRequest", claimRequestSchema),
        responses: {
          200: {
            description: "The claimed jobs (empty when none).",
            json: named("JobList", z.object({ items: z.array(workerJobSchema) })),
          },
        },
      },
      async (c, { params, body }) => {
        const queue = queueOf(params.queue);
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
      },
    )
    .on(
      {
        method: "get",
        path: "/{queue}/jobs/{job_id}",
        operationId: "getJob",
        summary: "Get a job",
        auth: "admin",
        params: jobParams,
        responses: { 200: { description: "The job.", json: WorkerJob } },
        errors: [400, 404],
      },
      async (c, { params }) => c.json(jobView(await loadJob(c, queueOf(params.queue), params.job_id))),
    )
    .on(
      {
        method: "post",
        path: "/{queue}/jobs/{job_id}/ack",
        operationId: "ackJob",
        summary: "Acknowledge a leased job",
        description: "Needs a live lease; with `consumer_id`, only its holder may ack.",
        auth: "admin",
        params: jobParams,
        check: queueFirst,
        body: { ...named("AckRequest", ackRequestSchema), optional: true },
        responses: { 200: { description: "The acked job.", json: WorkerJob } },
        errors: [404, 409],
      },
      async (c, { params, body }) =>
        changeLease(
          c,
          queueOf(params.queue),
          params.job_id,
          (row, now) => decideAck(clockOf(row), now, body),
          (row, now) => ackLease(c.env.DB, row, body.response, now),
        ),
    )
    .on(
      {
        method: "post",
        path: "/{queue}/jobs/{job_id}/release",
        operationId: "releaseJob",
        summary: "Release a leased job back to the queue",
        auth: "admin",
        params: jobParams,
        check: queueFirst,
        body: { ...named("ReleaseRequest", releaseRequestSchema), optional: true },
        responses: { 200: { description: "The job, ready again.", json: WorkerJob } },
        errors: [404, 409],
      },
      async (c, { params, body }) =>
        changeLease(
          c,
          queueOf(params.queue),
          params.job_id,
          (row, now) => decideRelease(clockOf(row), now, body),
          (row, now) => releaseLease(c.env.DB, row, now),
        ),
    );
}
