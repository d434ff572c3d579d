/**
 * `POST /v1/bindings:preview` (SPEC 5.4): the request and the answer, one item per stored event the
 * preview scanned, in `received_at` order, and a summary by outcome and skip reason.
 */
import { z } from "zod";
import { bindingSpecSchema } from "./binding-spec";

/** At most this many events are scanned by one preview. */
export const PREVIEW_MAX_EVENTS = 1000;
const PREVIEW_DEFAULT_EVENTS = 200;
/** The longest `assume_duration_ms` a preview accepts: a day. */
const MAX_ASSUMED_DURATION_MS = 86_400_000;

const timestamp = (field: string) =>
  z.iso.datetime({ offset: true, error: `${field} must be an RFC 3339 timestamp` }).optional();

/** The request with `spec` as written; the route checks `spec` as `PUT /v1/bindings/{id}` does. */
export const previewRequestSchema = z.strictObject({
  spec: bindingSpecSchema,
  since: timestamp("since"),
  until: timestamp("until"),
  limit: z.number().int().min(1).max(PREVIEW_MAX_EVENTS).default(PREVIEW_DEFAULT_EVENTS),
  event_ids: z.array(z.string().min(1).max(128)).min(1).max(PREVIEW_MAX_EVENTS).optional(),
  assume_duration_ms: z.number().int().min(0).max(MAX_ASSUMED_DURATION_MS).default(0),
});

/** The same request read loosely: `spec` is checked on its own so its problems read as a PUT's. */
export const previewReadSchema = previewRequestSchema.extend({ spec: z.unknown() });

export const PREVIEW_OUTCOMES = [
  "no_match",
  "dispatch",
  "skipped",
  "merged",
  "waits",
  "needs_approval",
  "unknown",
] as const;
export type PreviewOutcome = (typeof PREVIEW_OUTCOMES)[number];

export const previewItemSchema = z.object({
  event_id: z.string(),
  kind: z.string(),
  received_at: z.string(),
  outcome: z.enum(PREVIEW_OUTCOMES),
  /** Where a live dispatch would have stopped or been held. */
  stage: z.enum(["predicate", "autonomy", "flow_control"]).optional(),
  /** The reason a live dispatch would get (skip reason, the primitive holding it, the autonomy limit). */
  reason: z.string().optional(),
  /** A batch follower's leader (its event id). */
  group: z.string().optional(),
  /** The stacked limit that skipped it (SPEC 9.3). */
  limit_index: z.number().int().optional(),
});
export type PreviewItem = z.infer<typeof previewItemSchema>;

export const previewAnswerSchema = z.object({
  /** Events scanned. */
  evaluated: z.number().int(),
  items: z.array(previewItemSchema),
  /** Items by outcome, and skipped items by reason. */
  summary: z.object({
    no_match: z.number().int(),
    dispatch: z.number().int(),
    skipped: z.number().int(),
    merged: z.number().int(),
    waits: z.number().int(),
    needs_approval: z.number().int(),
    unknown: z.number().int(),
    skipped_by_reason: z.record(z.string(), z.number().int()),
  }),
});
export type PreviewAnswer = z.infer<typeof previewAnswerSchema>;
