/**
 * The time and state rules of `worker://` job queues (SPEC 12.3), pure over plain data and an
 * injected `now` (epoch ms). The repository mirrors `claimRank` in SQL so claiming stays one atomic
 * statement; the unit tests pin these rules and an integration test checks that the SQL agrees.
 */
import { issuesToProblems, problemErrorMap, summarize } from "../contracts/problems";
import { type JobPriority, type JobState, pushBindingsSchema } from "../contracts/worker-jobs";
import { canonicalJson } from "../lib/canonical-json";
import { iso } from "../lib/time";

/** A `normal` job waiting this long is claimed as if it were `high`. */
export const PROMOTE_AFTER_MS = 15 * 60_000;

/** The fields the rules look at; D1 rows and wire jobs both fit. */
export interface JobClock {
  job_id: string;
  priority: JobPriority;
  state: JobState;
  created_at: string;
  lease_expires_at: string | null;
  consumer_id: string | null;
  claims: number;
  response?: unknown;
}

/**
 * Priority of a new job: the event header `priority` when it says `high` or `low` (any case, trimmed),
 * else the binding's `dispatch_priority`. A header `normal` does not lower a `high` binding.
 */
export function jobPriority(headers: Record<string, string>, bindingDefault: JobPriority): JobPriority {
  const value = headers.priority?.trim().toLowerCase();
  return value === "high" || value === "low" ? value : bindingDefault;
}

/** ISO bounds one claim uses: jobs created at or before `promote_before` are promoted. */
export function claimCutoffs(now: number, leaseMs: number) {
  return { now: iso(now), promote_before: iso(now - PROMOTE_AFTER_MS), lease_expires_at: iso(now + leaseMs) };
}

/** 0 = high (including promoted normal), 1 = normal, 2 = low. */
export function claimRank(job: Pick<JobClock, "priority" | "created_at">, now: number): 0 | 1 | 2 {
  if (job.priority === "high") return 0;
  if (job.priority === "low") return 2;
  return now - Date.parse(job.created_at) >= PROMOTE_AFTER_MS ? 0 : 1;
}

/** Claim order: rank, then age (oldest first), then job id (UUIDv7, so creation order). */
export function compareForClaim(
  a: Pick<JobClock, "priority" | "created_at" | "job_id">,
  b: Pick<JobClock, "priority" | "created_at" | "job_id">,
  now: number,
): number {
  return (
    claimRank(a, now) - claimRank(b, now) ||
    (a.created_at < b.created_at ? -1 : a.created_at > b.created_at ? 1 : 0) ||
    (a.job_id < b.job_id ? -1 : a.job_id > b.job_id ? 1 : 0)
  );
}

export type LeaseState = "ready" | "leased" | "expired" | "acked";

/** A lease is live while `now` is before `lease_expires_at`; at that instant it has expired. */
export function leaseState(job: Pick<JobClock, "state" | "lease_expires_at">, now: number): LeaseState {
  if (job.state === "acked") return "acked";
  if (job.state === "ready") return "ready";
  return job.lease_expires_at !== null && Date.parse(job.lease_expires_at) > now ? "leased" : "expired";
}

export function isClaimable(job: Pick<JobClock, "state" | "lease_expires_at">, now: number): boolean {
  const s = leaseState(job, now);
  return s === "ready" || s === "expired";
}

/** The claimable jobs of `jobs`, in the order `claim` hands them out. */
export function orderForClaim<T extends JobClock>(jobs: readonly T[], now: number): T[] {
  return jobs.filter((j) => isClaimable(j, now)).sort((a, b) => compareForClaim(a, b, now));
}

export type LeaseDecision =
  | { kind: "apply" }
  /** A repeated ack with the same response: answer with the job as it is. */
  | { kind: "unchanged" }
  | { kind: "conflict"; message: string };

function holderConflict(job: JobClock, now: number, consumerId: string | undefined): LeaseDecision | null {
  switch (leaseState(job, now)) {
    case "ready":
      return { kind: "conflict", message: `job '${job.job_id}' is not leased: claim it first` };
    case "expired":
      return {
        kind: "conflict",
        message: `the lease on job '${job.job_id}' expired at ${job.lease_expires_at}: claim it again`,
      };
    case "leased":
      if (consumerId !== undefined && consumerId !== job.consumer_id) {
        return { kind: "conflict", message: `job '${job.job_id}' is leased by another consumer` };
      }
      return null;
    case "acked":
      return null;
  }
}

/**
 * Ack needs a live lease (and, when `consumer_id` is sent, the holder's). Acking an acked job again
 * with the same response is a no-op 200, so a consumer may retry an ack whose answer it lost.
 */
export function decideAck(
  job: JobClock,
  now: number,
  request: { response?: unknown; consumer_id?: string },
): LeaseDecision {
  if (job.state === "acked") {
    if (request.consumer_id !== undefined && request.consumer_id !== job.consumer_id) {
      return { kind: "conflict", message: `job '${job.job_id}' was acked by another consumer` };
    }
    return canonicalJson(request.response ?? null) === canonicalJson(job.response ?? null)
      ? { kind: "unchanged" }
      : { kind: "conflict", message: `job '${job.job_id}' is already acked with a different response` };
  }
  return holderConflict(job, now, request.consumer_id) ?? { kind: "apply" };
}

/** Release needs a live lease (and, when `consumer_id` is sent, the holder's). */
export function decideRelease(job: JobClock, now: number, request: { consumer_id?: string }): LeaseDecision {
  if (job.state === "acked") return { kind: "conflict", message: `job '${job.job_id}' is already acked` };
  return holderConflict(job, now, request.consumer_id) ?? { kind: "apply" };
}

/** Ready / leased / acked counts; a job whose lease expired counts as ready because it is claimable. */
export function queueCounts(groups: readonly { state: JobState; expired: boolean; n: number }[]) {
  const counts = { ready: 0, leased: 0, acked: 0 };
  for (const g of groups) {
    if (g.state === "leased" && g.expired) counts.ready += g.n;
    else counts[g.state] += g.n;
  }
  return counts;
}

export type PushBindings = { ok: true; value: Record<string, string> } | { ok: false; error: string };

/** Parses `WORKER_PUSH_BINDINGS`. Never throws: a bad setting disables push, it must not fail dispatch. */
export function parsePushBindings(raw: string | undefined): PushBindings {
  if (raw === undefined || raw.trim() === "") return { ok: true, value: {} };
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch (error) {
    return { ok: false, error: `WORKER_PUSH_BINDINGS is not valid JSON: ${(error as Error).message}` };
  }
  const parsed = pushBindingsSchema.safeParse(value, { error: problemErrorMap });
  if (!parsed.success) {
    return {
      ok: false,
      error: `WORKER_PUSH_BINDINGS is invalid: ${summarize(issuesToProblems(parsed.error.issues)) || 'expected {"<queue>": "<BINDING>"}'}`,
    };
  }
  return { ok: true, value: parsed.data };
}
