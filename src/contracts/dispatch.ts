/** Dispatch statuses, handler results, outcomes and attempts (SPEC 6, 12.1, 19): the shapes every layer shares. */
import { z } from "zod";

export const TERMINAL_STATUSES = ["succeeded", "skipped", "waiting", "dlq", "failed", "cancelled"] as const;
export const LIVE_STATUSES = ["pending", "admitted", "running", "retry_scheduled", "held"] as const;
export const dispatchStatusSchema = z.enum([...LIVE_STATUSES, ...TERMINAL_STATUSES]);
export type DispatchStatus = z.infer<typeof dispatchStatusSchema>;

export function isTerminal(status: string): boolean {
  return (TERMINAL_STATUSES as readonly string[]).includes(status);
}

/** Structured cause of a failed attempt; classification looks at it before the text (SPEC 11). */
export const errorCauseSchema = z.object({
  kind: z.enum([
    "http_status",
    "timeout",
    "network",
    "budget",
    "predicate_panic",
    "handler_panic",
    "circuit_open",
    "lease_expired",
    "protocol",
    "other",
  ]),
  status: z.number().optional(),
});

export type ErrorCause = z.infer<typeof errorCauseSchema>;

/**
 * An A2A task Switchyard follows to its end (SPEC 12.2): where to ask about it and in which dialect.
 */
export const a2aFollowSchema = z.object({
  task_id: z.string(),
  rpc_url: z.string(),
  version: z.enum(["1.0", "0.3"]),
  target_agent: z.string(),
});
export type A2aFollow = z.infer<typeof a2aFollowSchema>;

/** What one handler invocation produced (SPEC 12.1 response mapping). */
export const handlerResultSchema = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("success"), result: z.unknown(), status_code: z.number().optional() }),
  z.object({
    kind: z.literal("waiting"),
    message: z.string(),
    /** What the dispatch result shows while waiting (e.g. an A2A pending task handle). */
    result: z.unknown().optional(),
    status_code: z.number().optional(),
    /** A task the handler left running that Switchyard polls until it ends. */
    follow: a2aFollowSchema.optional(),
  }),
  z.object({ kind: z.literal("denied"), error: z.string(), status_code: z.number().optional() }),
  z.object({ kind: z.literal("invalid"), error: z.string() }),
  /** The handler ran and reported a final failure of its own (an A2A task `failed` or `rejected`). */
  z.object({ kind: z.literal("failed"), error: z.string(), status_code: z.number().optional() }),
  /** The handler reported the work cancelled on its side (an A2A task `canceled`). */
  z.object({ kind: z.literal("cancelled"), error: z.string(), status_code: z.number().optional() }),
  z.object({
    kind: z.literal("retryable"),
    error: z.string(),
    cause: errorCauseSchema,
    status_code: z.number().optional(),
    retry_after_ms: z.number().nullable(),
  }),
]);
export type HandlerResult = z.infer<typeof handlerResultSchema>;

/** SPEC 6 outcome object, as returned by the dispatch API. */
export interface DispatchOutcome {
  trigger_id: string;
  binding_key: string;
  event_id: string;
  attempt_count: number;
  status: DispatchStatus;
  handler_kind: string;
  target_uri: string;
  replay_of_event_id: string | null;
  result: unknown;
  error: string | null;
}

/**
 * What an operator reads as one attempt's outcome (SPEC 6, 19): `denied` is the handler's denied
 * signal, `cancelled` an attempt a cancel request aborted; the dispatch statuses stay as SPEC 6 says.
 */
export const attemptOutcomeSchema = z.enum(["running", "succeeded", "waiting", "denied", "cancelled", "failed"]);
export type AttemptOutcome = z.infer<typeof attemptOutcomeSchema>;

/** An attempt outcome stored as text by an earlier layout; anything unknown reads as `failed`. */
export function storedAttemptOutcome(text: string): AttemptOutcome {
  const parsed = attemptOutcomeSchema.safeParse(text);
  return parsed.success ? parsed.data : "failed";
}

export interface AttemptView {
  attempt: number;
  started_at: string;
  completed_at: string | null;
  outcome: AttemptOutcome;
  error_msg: string | null;
  status_code?: number;
  duration_ms: number | null;
}
