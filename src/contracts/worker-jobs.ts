/** `worker://<queue>` job queues (SPEC 12.3, 19): the job as stored and served, and the pull API bodies. */
import { z } from "zod";
import { boundedJsonSchema, triggerEventSchema } from "./events";

export const JOB_PRIORITIES = ["high", "normal", "low"] as const;
export const jobPrioritySchema = z.enum(JOB_PRIORITIES);
export type JobPriority = z.infer<typeof jobPrioritySchema>;

export const JOB_STATES = ["ready", "leased", "acked"] as const;
export const jobStateSchema = z.enum(JOB_STATES);
export type JobState = z.infer<typeof jobStateSchema>;

/** Same rule as the target of a `worker://` handler URI. */
export const QUEUE_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
export const queueNameSchema = z
  .string()
  .regex(QUEUE_NAME_RE, "queue name must match [A-Za-z0-9][A-Za-z0-9._-]{0,127}");

export const JOB_ID_RE = /^job_[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** Consumers named `push:<BINDING>` are the push deliveries; pull consumers may not use the prefix. */
export const PUSH_CONSUMER_PREFIX = "push:";

export const consumerIdSchema = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._:@/-]{0,127}$/, "consumer_id must match [A-Za-z0-9][A-Za-z0-9._:@/-]{0,127}")
  .refine((id) => !id.startsWith(PUSH_CONSUMER_PREFIX), {
    message: `consumer_id prefix '${PUSH_CONSUMER_PREFIX}' is reserved for push delivery`,
  });

export const LEASE_MS = { min: 1_000, max: 12 * 60 * 60_000, default: 60_000 } as const;
export const CLAIM_MAX = { min: 1, max: 100, default: 1 } as const;

const leaseMessage = `lease_ms must be an integer from ${LEASE_MS.min} to ${LEASE_MS.max}`;
const maxMessage = `max must be an integer from ${CLAIM_MAX.min} to ${CLAIM_MAX.max}`;

/** `POST /v1/queues/:queue/claim`. */
export const claimRequestSchema = z.strictObject({
  consumer_id: consumerIdSchema,
  lease_ms: z
    .int({ error: leaseMessage })
    .min(LEASE_MS.min, leaseMessage)
    .max(LEASE_MS.max, leaseMessage)
    .default(LEASE_MS.default),
  max: z.int({ error: maxMessage }).min(CLAIM_MAX.min, maxMessage).max(CLAIM_MAX.max, maxMessage).default(1),
});
export type ClaimRequest = z.infer<typeof claimRequestSchema>;

const responseSchema = boundedJsonSchema("response");

/**
 * `POST …/jobs/:job_id/ack`. `consumer_id` is optional (SPEC 19 names only `response`); when sent it
 * must be the lease holder, which fences a consumer whose lease expired and was re-claimed.
 */
export const ackRequestSchema = z.strictObject({
  response: responseSchema.optional(),
  consumer_id: consumerIdSchema.optional(),
});
export type AckRequest = z.infer<typeof ackRequestSchema>;

/** `POST …/jobs/:job_id/release`. */
export const releaseRequestSchema = z.strictObject({ consumer_id: consumerIdSchema.optional() });
export type ReleaseRequest = z.infer<typeof releaseRequestSchema>;

/** The dispatch result of a `worker://` handler. */
export const workerJobReceiptSchema = z.object({ queue: z.string(), job_id: z.string() });
export type WorkerJobReceipt = z.infer<typeof workerJobReceiptSchema>;

/** A job on the wire: claim items, ack/release answers and the body pushed to a service binding. */
export const workerJobSchema = z.object({
  job_id: z.string(),
  queue: z.string(),
  trigger_id: z.string(),
  binding_key: z.string(),
  binding_version: z.number().int(),
  event_id: z.string(),
  dispatch_id: z.string(),
  attempt: z.number().int(),
  tenant_id: z.string().nullable(),
  event: triggerEventSchema,
  replay_of_event_id: z.string().nullable(),
  priority: jobPrioritySchema,
  state: jobStateSchema,
  consumer_id: z.string().nullable(),
  lease_expires_at: z.string().nullable(),
  claims: z.number().int(),
  response: z.unknown(),
  pushed_at: z.string().nullable(),
  push_error: z.string().nullable(),
  created_at: z.string(),
  updated_at: z.string(),
  acked_at: z.string().nullable(),
});
export type WorkerJob = z.infer<typeof workerJobSchema>;

/** `GET /v1/queues/:queue`. Jobs whose lease expired count as ready: they are claimable. */
export const queueStatsSchema = z.object({
  queue: z.string(),
  ready: z.number().int(),
  leased: z.number().int(),
  acked: z.number().int(),
});
export type QueueStats = z.infer<typeof queueStatsSchema>;

/** `WORKER_PUSH_BINDINGS`: `{"<queue>": "<service binding name>"}`. */
export const pushBindingsSchema = z.record(
  queueNameSchema,
  z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "binding name must match [A-Za-z_][A-Za-z0-9_]*"),
);
