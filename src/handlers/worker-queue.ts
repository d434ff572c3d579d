/**
 * `worker://<queue>` handler (SPEC 12.3): appends a durable job to D1 and succeeds with the receipt
 * `{queue, job_id}`. One job per dispatch: a re-run or retried attempt answers with the job that
 * already exists. Queues named in `WORKER_PUSH_BINDINGS` are also pushed to their service binding;
 * the push is a delivery under a lease, so it never races a pull consumer for the same job:
 *   - 2xx: the job is acked with the target's answer as `response` and `pushed_at` set;
 *   - anything else (status, throw, timeout, missing binding, bad setting): the job stays (or goes
 *     back to) `ready` for pull consumers and `push_error` says why. The dispatch still succeeds:
 *     the job is durably queued, which is all a `worker://` dispatch promises.
 */
import type { HandlerResult } from "../contracts/dispatch";
import type { TriggerEvent } from "../contracts/events";
import type { ParsedHandler } from "../contracts/handler-uri";
import { PUSH_CONSUMER_PREFIX, type WorkerJobReceipt } from "../contracts/worker-jobs";
import {
  ackLease,
  insertJob,
  jobView,
  leaseJob,
  notePushError,
  releaseLease,
  type WorkerJobRow,
} from "../db/worker-jobs-repo";
import { deadline as deadlineOf } from "../lib/deadline";
import { iso } from "../lib/time";
import { type AttemptContext, outboundHeaders } from "./envelope";
import type { HandlerEnv } from "./handler-env";
import { parseBody, readBodyText } from "./http-response";
import { jobPriority, parsePushBindings } from "./worker-jobs-policy";

/** D1 rows are capped at 2 MB; keep the event column safely under it. */
const MAX_EVENT_JSON_BYTES = 1_900_000;
/** Extra lease time for the push beyond the attempt timeout, so the lease outlives the fetch. */
const PUSH_LEASE_GRACE_MS = 5_000;

export async function enqueueWorkerJob(
  h: HandlerEnv,
  ctx: AttemptContext,
  event: TriggerEvent,
  target: Extract<ParsedHandler, { kind: "worker" }>,
): Promise<HandlerResult> {
  const eventJson = serialiseEvent(event);
  if (eventJson === null) {
    return {
      kind: "invalid",
      error: `event ${event.id} is too large for a worker job (limit ${MAX_EVENT_JSON_BYTES} bytes)`,
    };
  }
  let row: WorkerJobRow;
  try {
    ({ row } = await insertJob(
      h.env.DB,
      {
        queue: target.queue,
        trigger_id: ctx.binding_id,
        binding_key: ctx.binding_key,
        binding_version: ctx.binding_version,
        event_id: ctx.event_id,
        dispatch_id: ctx.dispatch_id,
        attempt: ctx.attempt,
        tenant_id: event.tenant_id,
        event_json: eventJson,
        replay_of_event_id: ctx.replay_of_event_id,
        priority: jobPriority(event.headers, ctx.dispatch_priority),
      },
      h.now(),
    ));
  } catch (error) {
    return {
      kind: "retryable",
      error: `worker job enqueue failed: ${storageError(error)}`,
      cause: { kind: "other" },
      retry_after_ms: null,
    };
  }
  if (row.state === "ready") await pushIfConfigured(h, ctx, row);
  const receipt: WorkerJobReceipt = { queue: row.queue, job_id: row.jobId };
  return { kind: "success", result: receipt };
}

/** drizzle wraps D1 errors in "Failed query: <sql> params: <event JSON>"; keep only the cause. */
function storageError(error: unknown): string {
  const cause = error instanceof Error && error.cause instanceof Error ? error.cause : error;
  return (cause instanceof Error ? cause.message : String(cause)).slice(0, 500);
}

/** The event JSON, without `raw_body` when the whole would not fit in a D1 row; null if still too big. */
function serialiseEvent(event: TriggerEvent): string | null {
  const full = JSON.stringify(event);
  if (new TextEncoder().encode(full).byteLength <= MAX_EVENT_JSON_BYTES) return full;
  const { raw_body: _dropped, ...rest } = event;
  const trimmed = JSON.stringify(rest);
  return new TextEncoder().encode(trimmed).byteLength <= MAX_EVENT_JSON_BYTES ? trimmed : null;
}

function isFetcher(value: unknown): value is Fetcher {
  return typeof value === "object" && value !== null && typeof (value as { fetch?: unknown }).fetch === "function";
}

/** Best effort: every failure is recorded on the job and leaves it to pull consumers. */
async function pushIfConfigured(h: HandlerEnv, ctx: AttemptContext, row: WorkerJobRow): Promise<void> {
  const bindings = parsePushBindings(h.env.WORKER_PUSH_BINDINGS);
  if (!bindings.ok) {
    console.error(JSON.stringify({ msg: "worker push disabled", error: bindings.error }));
    return;
  }
  const name = bindings.value[row.queue];
  if (name === undefined) return;
  try {
    const fetcher: unknown = (h.env as unknown as Record<string, unknown>)[name];
    if (!isFetcher(fetcher)) {
      await notePushError(h.env.DB, row.jobId, `service binding '${name}' is not configured`, h.now());
      return;
    }
    const lease = await leaseJob(
      h.env.DB,
      row.jobId,
      `${PUSH_CONSUMER_PREFIX}${name}`,
      ctx.timeout_ms + PUSH_LEASE_GRACE_MS,
      h.now(),
    );
    if (!lease) return;
    const outcome = await deliver(fetcher, name, ctx, lease, h);
    if (outcome.ok) {
      await ackLease(h.env.DB, lease, outcome.response, h.now(), { pushedAt: iso(h.now()) });
    } else {
      await releaseLease(h.env.DB, lease, h.now(), { pushError: outcome.error });
    }
  } catch (error) {
    // A D1 hiccup here must not fail a dispatch whose job is already durable; an unreleased push
    // lease simply expires and the job becomes claimable.
    console.error(JSON.stringify({ msg: "worker push failed", job_id: row.jobId, error: String(error) }));
  }
}

type Delivery = { ok: true; response: unknown } | { ok: false; error: string };

async function deliver(
  fetcher: Fetcher,
  name: string,
  ctx: AttemptContext,
  lease: WorkerJobRow,
  h: HandlerEnv,
): Promise<Delivery> {
  const body = JSON.stringify(jobView(lease));
  const headers = await outboundHeaders(ctx, body, h.now());
  headers.set("x-switchyard-queue", lease.queue);
  headers.set("x-switchyard-job-id", lease.jobId);
  const limit = deadlineOf(ctx.timeout_ms);
  const timeout = limit.signal;
  const signal = h.signal ? AbortSignal.any([timeout, h.signal]) : timeout;
  try {
    const response = await fetcher.fetch(
      new Request(`https://${name.toLowerCase()}.service/queues/${encodeURIComponent(lease.queue)}/jobs`, {
        method: "POST",
        headers,
        body,
        redirect: "manual",
        signal,
      }),
    );
    const text = await readBodyText(response);
    if (response.status < 200 || response.status >= 300)
      return { ok: false, error: `push returned HTTP ${response.status}` };
    return { ok: true, response: parseBody(text) };
  } catch (error) {
    if (timeout.aborted) return { ok: false, error: `push timed out after ${ctx.timeout_ms}ms` };
    return { ok: false, error: `push failed: ${error instanceof Error ? error.message : String(error)}` };
  } finally {
    limit.clear();
  }
}
