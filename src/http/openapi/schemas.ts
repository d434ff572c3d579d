/**
 * Zod schemas of the API's responses, for the OpenAPI document. Request schemas are the ones the routes
 * validate with (imported where they are used); these describe what routes return. Where a route's
 * return type is declared elsewhere as a TypeScript type, `ResponseShapesMatch` below fails to compile
 * when the two drift apart.
 */
import { z } from "zod";
import type { ApplyResult, BindingVersionView } from "../../bindings/binding-service";
import type { CircuitItem } from "../../circuit/contract";
import { bindingSpecSchema, FLOW_PRIMITIVE_NAMES } from "../../contracts/binding-spec";
import type { AttemptView } from "../../contracts/dispatch";
import { attemptOutcomeSchema, dispatchStatusSchema } from "../../contracts/dispatch";
import { triggerEventSchema } from "../../contracts/events";
import type { dlqDetail, dlqSummary } from "../../db/dlq-repo";
import type { outcomeView } from "../../dispatch/dispatch-view";
import type { ReplayTarget } from "../../dispatch/replay";
import type { BindingGate } from "../../gate/binding-gate";
import { ERROR_STATUS } from "../../lib/errors";
import type { ActionGraph } from "../../observability/action-graph";
import { named } from "./route";

// ---- shared ----

export const problemSchema = z.object({
  path: z.string().meta({ description: 'Dotted path of the offending field ("" for the value itself).' }),
  message: z.string(),
});

export const errorEnvelopeSchema = z.object({
  error: z.object({
    code: z.enum(Object.keys(ERROR_STATUS) as [keyof typeof ERROR_STATUS, ...(keyof typeof ERROR_STATUS)[]]),
    message: z.string(),
    details: z
      .looseObject({ problems: z.array(problemSchema).optional() })
      .optional()
      .meta({ description: "`validation_failed` lists every problem in `problems`; other codes may add context." }),
  }),
});

const nextCursor = z.string().nullable().meta({ description: "Pass as `cursor` for the next page; null on the last." });

/** `{items, next_cursor}` of a cursor-paged list. */
export function pageOf<T extends z.ZodType>(item: T) {
  return z.object({ items: z.array(item), next_cursor: nextCursor });
}

/** A list operation's answers: 200 with a page of `item`, documented as the component `name`. */
export function pageAnswer(description: string, name: string, item: z.ZodType) {
  return { 200: { description, json: named(name, pageOf(item)) } };
}

export const healthSchema = z.object({
  ok: z.boolean(),
  d1: z.enum(["ok", "unreachable"]),
  /** `ok`, or why secrets cannot be sealed and opened (`SECRETS_KEY` missing or malformed). */
  secrets_key: z.string(),
});

// ---- intake and publish (SPEC 19 intake answers) ----

export const intakeAcceptedSchema = z.object({
  status: z.literal("accepted"),
  event_id: z.string(),
  trace_id: z.string(),
});
export const intakeDuplicateSchema = z.object({ status: z.literal("duplicate"), event_id: z.string() });
export const publishBatchAnswerSchema = z.object({
  items: z.array(z.union([intakeAcceptedSchema, intakeDuplicateSchema])),
});

// ---- dispatches ----

export const dispatchOutcomeSchema = z.object({
  trigger_id: z.string().meta({ description: "The binding id." }),
  binding_key: z.string(),
  event_id: z.string(),
  attempt_count: z.number().int(),
  status: dispatchStatusSchema,
  handler_kind: z.string(),
  target_uri: z.string(),
  replay_of_event_id: z.string().nullable(),
  result: z.unknown().meta({
    description:
      "Handler result, or a skip/wait result: {skipped, predicate|flow_control, reason}, {deferred, reason, retry_at}, {approval_required, request_id, reason, reviewers}, {waiting, message}.",
  }),
  error: z.string().nullable(),
  error_class: z.string().nullable(),
});

export const attemptSchema = z.object({
  attempt: z.number().int(),
  started_at: z.string(),
  completed_at: z.string().nullable(),
  outcome: attemptOutcomeSchema,
  error_msg: z.string().nullable(),
  status_code: z.number().int().optional(),
  duration_ms: z.number().nullable(),
});

const dispatchTimes = { trace_id: z.string(), created_at: z.string(), updated_at: z.string() };
export const dispatchListItemSchema = dispatchOutcomeSchema.extend(dispatchTimes);
export const dispatchDetailSchema = dispatchOutcomeSchema.extend({
  attempts: z.array(attemptSchema),
  ...dispatchTimes,
});
export const cancelRequestedSchema = z.object({ status: z.literal("cancel_requested") });

// ---- events ----

export const eventDetailSchema = z.object({ event: triggerEventSchema, dispatches: z.array(dispatchOutcomeSchema) });
export const replayTargetSchema = z.object({
  binding_key: z.string(),
  event_id: z.string(),
  replay_of_event_id: z.string(),
});
export const replayAnswerSchema = z.object({ items: z.array(replayTargetSchema) });

// ---- bindings ----

const versionFields = {
  version: z.number().int(),
  binding_key: z.string(),
  state: z.string().meta({ description: "active | draining | terminated" }),
  spec: bindingSpecSchema,
  created_at: z.string(),
};
export const bindingVersionSchema = z.object({ id: z.string(), ...versionFields });
export const bindingSchema = z.object({
  id: z.string(),
  paused: z.boolean(),
  versions: z.array(z.object(versionFields)),
});
export const applyResultSchema = z.object({
  created: z.array(z.string()),
  updated: z.array(z.string()),
  unchanged: z.array(z.string()),
  drained: z.array(z.string()),
});
export const signingSecretSchema = z.object({
  id: z.string(),
  signing_secret: z.string(),
  /** While a rotation overlaps: until when the replaced secret still signs (`null` otherwise). */
  previous_valid_until: z.string().nullable(),
});

// ---- DLQ ----

export const dlqSummarySchema = z.object({
  id: z.string(),
  trigger_id: z.string(),
  binding_key: z.string(),
  event_id: z.string(),
  attempt_count: z.number().int(),
  final_error: z.string(),
  error_class: z.string(),
  reason: z.string(),
  state: z.enum(["pending", "resolved"]),
  created_at: z.string(),
  resolved_at: z.string().nullable(),
});
export const dlqDetailSchema = dlqSummarySchema.extend({
  event: triggerEventSchema.nullable(),
  attempts: z.array(attemptSchema),
});
export const dlqReplayAnswerSchema = z.object({
  items: z.array(replayTargetSchema.extend({ dlq_id: z.string() })),
});
export const bulkReplayAnswerSchema = z.object({
  dry_run: z.boolean(),
  count: z.number().int(),
  items: z.array(z.string()).meta({ description: "DLQ entry ids." }),
});

// ---- observability ----

export const recordSchema = z.object({
  seq: z.number().int(),
  topic: z.string(),
  kind: z.string(),
  tenant_id: z.string().nullable(),
  event_id: z.string().nullable(),
  trace_id: z.string().nullable(),
  binding_key: z.string().nullable(),
  headers: z.record(z.string(), z.string()),
  payload: z.unknown(),
  at: z.string(),
});
export const recordPageSchema = z.object({
  items: z.array(recordSchema),
  next_cursor: z.string().nullable().meta({ description: "The last seq of this page; pass it as `after`." }),
});

export const actionGraphSchema = z.object({
  trace_id: z.string(),
  nodes: z.array(
    z.object({
      id: z.string(),
      kind: z.string(),
      label: z.string().nullable(),
      status: z.string().nullable(),
      outcome: z.string().nullable(),
      metadata: z.record(z.string(), z.unknown()),
    }),
  ),
  edges: z.array(z.object({ from: z.string(), to: z.string(), kind: z.string(), label: z.string().nullable() })),
});

export const flowGateSchema = z.object({
  primitive: z.enum(FLOW_PRIMITIVE_NAMES),
  gate: z.string(),
  limit: z.number().nullable(),
  window: z.number().nullable(),
  active: z.number().nullable(),
  holders: z.array(z.string()),
  waiting: z.number(),
  head: z.string().nullable(),
  due: z.number().nullable(),
  /** Ordering: the failed dispatch holding the line (`on_failure: "block"`). */
  blocked_by: z.string().nullable(),
});

const gateStateFields = {
  in_flight: z.number().int(),
  scheduled_retries: z.number().int(),
  held: z.number().int(),
  paused: z.boolean(),
  gates: z.array(flowGateSchema),
};
export const statsSchema = z.object({
  in_flight: z.number().int(),
  scheduled_retries: z.number().int(),
  held: z.number().int(),
  dlq_depth: z.number().int(),
  bindings: z.array(z.object({ binding_key: z.string(), state: z.string(), ...gateStateFields })),
  next_cursor: z
    .string()
    .nullable()
    .meta({ description: "The next page of `bindings` (`?cursor=`); counts always cover every binding." }),
});

export const circuitSchema = z.object({
  destination: z.string(),
  state: z.enum(["closed", "open", "half_open"]),
  failures: z.number().int(),
  opened_at: z.string().nullable(),
  next_probe_at: z.string().nullable(),
});
export const circuitListSchema = z.object({ items: z.array(circuitSchema) });

// ---- approvals and trust records (SPEC 8, 19): the contracts the routes validate with ----

export {
  approvalDecisionBodySchema,
  approvalSchema,
  listApprovalsQuerySchema as approvalListQuerySchema,
} from "../../contracts/approvals";
export {
  listTrustQuerySchema as trustListQuerySchema,
  tierChangeBodySchema as trustChangeBodySchema,
  trustRecordSchema,
  trustVerificationSchema as trustVerifySchema,
  verifyTrustQuerySchema as trustVerifyQuerySchema,
} from "../../contracts/trust";

// ---- compile-time agreement with the types the routes return ----

type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type Assert<T extends true> = T;
type Out<S extends z.ZodType> = z.output<S>;

/** Fails to compile when a documented response drifts from the type its route returns. */
export type ResponseShapesMatch = [
  Assert<Same<Out<typeof dispatchOutcomeSchema>, ReturnType<typeof outcomeView>>>,
  Assert<Same<Out<typeof attemptSchema>, AttemptView>>,
  Assert<Same<Out<typeof bindingVersionSchema>, BindingVersionView>>,
  Assert<Same<Out<typeof applyResultSchema>, ApplyResult>>,
  Assert<Same<Out<typeof replayTargetSchema>, ReplayTarget>>,
  Assert<Same<Out<typeof dlqSummarySchema>, ReturnType<typeof dlqSummary>>>,
  Assert<Same<Out<typeof dlqDetailSchema>, Awaited<ReturnType<typeof dlqDetail>>>>,
  Assert<Same<Out<typeof actionGraphSchema>, ActionGraph>>,
  Assert<Same<Out<typeof circuitSchema>, CircuitItem>>,
  Assert<
    Same<Out<z.ZodObject<typeof gateStateFields>>, Omit<Awaited<ReturnType<BindingGate["snapshot"]>>, "by_status">>
  >,
];
