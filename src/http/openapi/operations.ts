/**
 * Every route of the HTTP API as an OpenAPI operation: parameters, request body and success
 * responses point at the zod schemas the routes validate with and return. `document.ts` turns this
 * list into the OpenAPI document; a test checks it against the routes the Hono app really serves.
 */

import { z } from "zod";
import { bindingIdSchema, bindingSpecSchema, tenantIdSchema } from "../../contracts/binding-spec";
import { MAX_PUBLISH_BATCH, publishEventSchema, triggerEventSchema } from "../../contracts/events";
import { sourceInputSchema, sourceViewSchema } from "../../contracts/sources";
import { createdTenantKeySchema, createTenantKeySchema, tenantKeySchema } from "../../contracts/tenant-keys";
import {
  ackRequestSchema,
  claimRequestSchema,
  JOB_ID_RE,
  queueNameSchema,
  queueStatsSchema,
  releaseRequestSchema,
  workerJobSchema,
} from "../../contracts/worker-jobs";
import { listBindingsQuerySchema, rotateSigningSecretSchema } from "../routes/bindings";
import { cancelBodySchema, completeBodySchema, listDispatchesQuerySchema } from "../routes/dispatches";
import { bulkReplaySchema, dlqReplayBodySchema, dlqResolveBodySchema, listDlqQuerySchema } from "../routes/dlq";
import { listEventsQuerySchema } from "../routes/events";
import { listRecordsQuerySchema } from "../routes/records";
import { replayBodySchema } from "../routes/replay";
import { listSourcesQuerySchema, sourceNameParamSchema } from "../routes/sources";
import { statsQuerySchema } from "../routes/stats";
import { TRACE_ID } from "../routes/traces";
import * as s from "./schemas";

/** Error statuses an operation documents; each answers the error envelope. */
export type ErrorStatus = 400 | 401 | 403 | 404 | 409 | 413 | 415 | 503;

/** A schema that becomes a named component (`#/components/schemas/<name>`). */
export interface Named {
  name: string;
  schema: z.ZodType;
}

export interface SuccessResponse {
  description: string;
  /** JSON body; omitted for bodiless answers (204). */
  json?: Named;
  /** Non-JSON body, e.g. Prometheus text or the docs page. */
  media?: { type: string; schema: Record<string, unknown> };
  headers?: Record<string, { description: string; schema: Record<string, unknown> }>;
}

export interface Operation {
  method: "get" | "put" | "post" | "delete";
  /** OpenAPI path template (`{param}`). */
  path: string;
  operationId: string;
  tag: string;
  summary: string;
  description?: string;
  /** admin: the /v1 bearer token; metrics: bearer METRICS_TOKEN when set; public: none. */
  /** `admin`: the admin token or a tenant key (confined to its tenant); `admin_only`: the admin token. */
  auth: "admin" | "admin_only" | "metrics" | "public";
  params?: z.ZodObject;
  query?: z.ZodObject;
  headers?: z.ZodObject;
  /** Descriptions of parameters by name (path, query or header). */
  paramDocs?: Record<string, string>;
  /** JSON request body, validated by `schema`; `optional` when an empty body means `{}`. */
  body?: Named & { optional?: boolean; description?: string };
  /** A body read as raw bytes (webhook intake). */
  rawBody?: { description: string };
  responses: Partial<Record<200 | 201 | 202 | 204 | 302 | 503, SuccessResponse>>;
  /** Client errors beyond the implied ones (401 for /v1 and metrics; 400/413/415 for JSON bodies; 400 for queries). */
  errors?: ErrorStatus[];
}

const named = (name: string, schema: z.ZodType): Named => ({ name, schema });

// Named components shared across operations. Request-side names end in "Request" or "Input".
const SourceView = named("Source", sourceViewSchema);
const BindingVersion = named("BindingVersion", s.bindingVersionSchema);
const Binding = named("Binding", s.bindingSchema);
const DispatchDetail = named("DispatchDetail", s.dispatchDetailSchema);
const DlqDetail = named("DlqEntryDetail", s.dlqDetailSchema);
const WorkerJob = named("WorkerJob", workerJobSchema);
const Approval = named("Approval", s.approvalSchema);
const TrustRecord = named("TrustRecord", s.trustRecordSchema);
const ReplayAnswer = named("ReplayAnswer", s.replayAnswerSchema);
const ApprovalDecision = named("ApprovalDecisionRequest", s.approvalDecisionBodySchema);
const TrustChange = named("TrustChangeRequest", s.trustChangeBodySchema);
const tenantParams = z.object({ tenant: tenantIdSchema });

/** Schemas named only because other components nest them. */
export const nestedComponents: { output: Named[]; input: Named[] } = {
  output: [
    named("Error", s.errorEnvelopeSchema),
    named("Problem", s.problemSchema),
    named("DispatchOutcome", s.dispatchOutcomeSchema),
    named("Attempt", s.attemptSchema),
    named("BindingSpec", bindingSpecSchema),
    named("ReplayTarget", s.replayTargetSchema),
    named("TriggerEvent", triggerEventSchema),
    named("DlqEntry", s.dlqSummarySchema),
    named("Circuit", s.circuitSchema),
    named("FlowGate", s.flowGateSchema),
    named("Record", s.recordSchema),
    named("IntakeAccepted", s.intakeAcceptedSchema),
    named("IntakeDuplicate", s.intakeDuplicateSchema),
  ],
  input: [named("PublishEventInput", publishEventSchema)],
};

const bindingId = z.object({ id: bindingIdSchema });
const dispatchAddress = z.object({ binding_key: z.string(), event_id: z.string() });
const dispatchAddressDocs = {
  binding_key: "`<binding id>@v<version>`; `@` may be sent raw or as `%40`.",
  event_id: "The event id.",
};
const dlqId = z.object({ id: z.string() });
const queueParams = z.object({ queue: queueNameSchema });
const jobParams = z.object({ queue: queueNameSchema, job_id: z.string().regex(JOB_ID_RE) });

/** The HTTP API, in the order of SPEC 15. */
export const operations: Operation[] = [
  // ---- intake ----
  {
    method: "post",
    path: "/hooks/{source}",
    operationId: "receiveWebhook",
    tag: "Intake",
    summary: "Receive a webhook",
    description:
      "Verifies the signature by the source's style (GitHub, Stripe, Slack, Linear, Notion, Standard Webhooks, HMAC or none), normalises and deduplicates the event and queues it. No dispatch work happens inline.",
    auth: "public",
    params: z.object({ source: sourceNameParamSchema }),
    headers: z.object({ "x-switchyard-trace-id": z.string().optional() }),
    paramDocs: {
      source: "The source name (`PUT /v1/sources/{name}`).",
      "x-switchyard-trace-id": "Trace id to carry; one is generated when absent or malformed.",
    },
    rawBody: { description: "The provider's payload, verified byte for byte (JSON or form-encoded, up to 1 MiB)." },
    responses: {
      202: {
        description: "Accepted: the event is stored and queued.",
        json: named("IntakeAccepted", s.intakeAcceptedSchema),
      },
      200: {
        description:
          "A duplicate of an accepted event, or a provider handshake (Slack `url_verification`, `ssl_check`; Notion's verification request on a Notion source created with no secret, whose token becomes the secret).",
        json: named(
          "WebhookAnswer",
          z.union([s.intakeDuplicateSchema, z.object({ challenge: z.string() }), z.object({ ok: z.literal(true) })]),
        ),
      },
    },
    errors: [400, 401, 404, 413, 415, 503],
  },

  // ---- sources ----
  {
    method: "get",
    path: "/v1/sources",
    operationId: "listSources",
    tag: "Sources",
    summary: "List sources",
    auth: "admin",
    query: listSourcesQuerySchema,
    responses: { 200: { description: "A page of sources.", json: named("SourcePage", s.pageOf(sourceViewSchema)) } },
  },
  {
    method: "put",
    path: "/v1/sources/{name}",
    operationId: "putSource",
    tag: "Sources",
    summary: "Create or replace a source",
    description: "Secrets are write-only: answers show `secret_count`, never a secret.",
    auth: "admin",
    params: z.object({ name: sourceNameParamSchema }),
    body: named("SourceInput", sourceInputSchema),
    responses: {
      201: { description: "The source was created.", json: SourceView },
      200: { description: "The source was replaced.", json: SourceView },
    },
    errors: [409],
  },
  {
    method: "get",
    path: "/v1/sources/{name}",
    operationId: "getSource",
    tag: "Sources",
    summary: "Get a source",
    auth: "admin",
    params: z.object({ name: sourceNameParamSchema }),
    responses: { 200: { description: "The source.", json: SourceView } },
    errors: [400, 404],
  },
  {
    method: "post",
    path: "/v1/sources/{name}/verification-token",
    operationId: "readSourceVerificationToken",
    tag: "Sources",
    summary: "Read a Notion source's verification token, once",
    description:
      "A Notion source created with no secret awaits Notion's verification request; its `verification_token` becomes the source's secret. Paste it back into Notion to finish the subscription. It is shown once: later calls answer 409, as do calls before the request arrived.",
    auth: "admin",
    params: z.object({ name: sourceNameParamSchema }),
    responses: {
      200: {
        description: "The token, marked read.",
        json: named("SourceVerificationToken", z.object({ verification_token: z.string(), received_at: z.string() })),
      },
    },
    errors: [400, 404, 409],
  },
  {
    method: "delete",
    path: "/v1/sources/{name}",
    operationId: "deleteSource",
    tag: "Sources",
    summary: "Delete a source",
    auth: "admin",
    params: z.object({ name: sourceNameParamSchema }),
    responses: { 204: { description: "Deleted." } },
    errors: [400, 404],
  },

  // ---- events ----
  {
    method: "post",
    path: "/v1/events",
    operationId: "publishEvents",
    tag: "Events",
    summary: "Publish one event or an array of events",
    description: `An array (1–${MAX_PUBLISH_BATCH} events) is validated as a whole before anything is written.`,
    auth: "admin",
    headers: z.object({ "idempotency-key": z.string().max(512).optional() }),
    paramDocs: {
      "idempotency-key":
        "Dedupe key for a single event (`<key>:<index>` for array items) unless `dedupe_key` is given.",
    },
    body: named(
      "PublishRequest",
      z.union([publishEventSchema, z.array(publishEventSchema).min(1).max(MAX_PUBLISH_BATCH)]),
    ),
    responses: {
      202: {
        description: "Accepted (one event), or the answer for each event of an array in input order.",
        json: named("PublishAnswer", z.union([s.intakeAcceptedSchema, s.publishBatchAnswerSchema])),
      },
      200: {
        description: "A duplicate (`dedupe_key` or `Idempotency-Key` seen before).",
        json: named("IntakeDuplicate", s.intakeDuplicateSchema),
      },
    },
    errors: [404, 409, 503],
  },
  {
    method: "get",
    path: "/v1/events",
    operationId: "listEvents",
    tag: "Events",
    summary: "List events, newest first",
    auth: "admin",
    query: listEventsQuerySchema,
    responses: { 200: { description: "A page of events.", json: named("EventPage", s.pageOf(triggerEventSchema)) } },
  },
  {
    method: "get",
    path: "/v1/events/{id}",
    operationId: "getEvent",
    tag: "Events",
    summary: "Get an event with its dispatches",
    description: "Dispatches are in binding id, then version order; replays are included with `replay_of_event_id`.",
    auth: "admin",
    params: z.object({ id: z.string() }),
    responses: {
      200: { description: "The event and its dispatches.", json: named("EventDetail", s.eventDetailSchema) },
    },
    errors: [404],
  },
  {
    method: "post",
    path: "/v1/events/{id}/replay",
    operationId: "replayEvent",
    tag: "Events",
    summary: "Replay an event",
    description: "Without `binding_id` the event is replayed on every binding that dispatched it.",
    auth: "admin",
    params: z.object({ id: z.string() }),
    body: { ...named("ReplayRequest", replayBodySchema), optional: true },
    responses: { 202: { description: "The replay dispatches.", json: ReplayAnswer } },
    errors: [404, 409],
  },

  // ---- bindings ----
  {
    method: "get",
    path: "/v1/bindings",
    operationId: "listBindings",
    tag: "Bindings",
    summary: "List bindings with their versions",
    auth: "admin",
    query: listBindingsQuerySchema,
    responses: { 200: { description: "A page of bindings.", json: named("BindingPage", s.pageOf(s.bindingSchema)) } },
  },
  {
    method: "post",
    path: "/v1/bindings:apply",
    operationId: "applyBindings",
    tag: "Bindings",
    summary: "Apply a manifest of bindings",
    description:
      "Each entry is `{id, …spec}`. Every problem of every entry is listed in one 400; otherwise changed specs become new versions and the versions they replace drain.",
    auth: "admin",
    body: named(
      "ApplyRequest",
      z.strictObject({ bindings: z.array(bindingSpecSchema.extend({ id: bindingIdSchema })).max(1000) }),
    ),
    responses: {
      200: { description: "Binding keys by what happened to them.", json: named("ApplyResult", s.applyResultSchema) },
    },
  },
  {
    method: "put",
    path: "/v1/bindings/{id}",
    operationId: "putBinding",
    tag: "Bindings",
    summary: "Create or update a binding",
    description: "A changed spec creates a new version; the previous active version drains.",
    auth: "admin",
    params: bindingId,
    body: named("BindingSpecInput", bindingSpecSchema),
    responses: {
      201: { description: "A new version was created.", json: BindingVersion },
      200: { description: "The spec is unchanged; the current version.", json: BindingVersion },
    },
  },
  {
    method: "get",
    path: "/v1/bindings/{id}",
    operationId: "getBinding",
    tag: "Bindings",
    summary: "Get a binding with every version",
    auth: "admin",
    params: bindingId,
    responses: { 200: { description: "The binding.", json: Binding } },
    errors: [400, 404],
  },
  {
    method: "delete",
    path: "/v1/bindings/{id}",
    operationId: "deleteBinding",
    tag: "Bindings",
    summary: "Delete a binding (its versions drain)",
    auth: "admin",
    params: bindingId,
    responses: { 204: { description: "Draining." } },
    errors: [400, 404],
  },
  ...(["pause", "resume"] as const).map(
    (action): Operation => ({
      method: "post",
      path: `/v1/bindings/{id}/${action}`,
      operationId: `${action}Binding`,
      tag: "Bindings",
      summary: action === "pause" ? "Pause a binding (new dispatches are held)" : "Resume a paused binding",
      auth: "admin",
      params: bindingId,
      responses: { 200: { description: "The binding.", json: Binding } },
      errors: [400, 404],
    }),
  ),
  {
    method: "get",
    path: "/v1/bindings/{id}/signing-secret",
    operationId: "getBindingSigningSecret",
    tag: "Bindings",
    summary: "Get the secret handlers use to verify Switchyard's signature",
    auth: "admin",
    params: bindingId,
    responses: {
      200: { description: "The Standard Webhooks secret.", json: named("SigningSecret", s.signingSecretSchema) },
    },
    errors: [400, 404],
  },
  {
    method: "post",
    path: "/v1/bindings/{id}/signing-secret:rotate",
    operationId: "rotateBindingSigningSecret",
    tag: "Bindings",
    summary: "Rotate the signing secret, signing with both while receivers switch",
    description:
      "A new secret signs every outbound call from now on. For `overlap` (default `24h`, `0` to stop at once, at most `7d`) the replaced secret signs too: `webhook-signature` carries both `v1,` signatures, so receivers verifying with either keep working.",
    auth: "admin",
    params: bindingId,
    body: { ...named("RotateSigningSecret", rotateSigningSecretSchema), optional: true },
    responses: {
      200: { description: "The new secret.", json: named("SigningSecret", s.signingSecretSchema) },
    },
    errors: [404, 409],
  },

  // ---- dispatches ----
  {
    method: "get",
    path: "/v1/dispatches",
    operationId: "listDispatches",
    tag: "Dispatches",
    summary: "List dispatches",
    auth: "admin",
    query: listDispatchesQuerySchema,
    responses: {
      200: { description: "A page of dispatches.", json: named("DispatchPage", s.pageOf(s.dispatchListItemSchema)) },
    },
  },
  {
    method: "get",
    path: "/v1/dispatches/{binding_key}/{event_id}",
    operationId: "getDispatch",
    tag: "Dispatches",
    summary: "Get a dispatch with its attempts",
    auth: "admin",
    params: dispatchAddress,
    paramDocs: dispatchAddressDocs,
    responses: { 200: { description: "The dispatch.", json: DispatchDetail } },
    errors: [404],
  },
  {
    method: "post",
    path: "/v1/dispatches/{binding_key}/{event_id}/cancel",
    operationId: "cancelDispatch",
    tag: "Dispatches",
    summary: "Cancel a dispatch",
    description:
      "In-flight attempts are aborted; flow-control leases are released. A `waiting` dispatch (a handler's waiting answer, an approval, a budget deferral, a followed A2A task) ends `cancelled` at once; a followed A2A task is also cancelled at the agent (`CancelTask`). A final dispatch answers 409.",
    auth: "admin",
    params: dispatchAddress,
    paramDocs: dispatchAddressDocs,
    body: { ...named("CancelRequest", cancelBodySchema), optional: true },
    responses: {
      202: {
        description: "Cancellation requested; it completes when the running attempt stops.",
        json: named("CancelRequested", s.cancelRequestedSchema),
      },
      200: { description: "Cancelled at once: the final outcome.", json: DispatchDetail },
    },
    errors: [404, 409],
  },
  {
    method: "post",
    path: "/v1/dispatches/{binding_key}/{event_id}/complete",
    operationId: "completeDispatch",
    tag: "Dispatches",
    summary: "Complete a waiting dispatch",
    auth: "admin",
    params: dispatchAddress,
    paramDocs: dispatchAddressDocs,
    body: named("CompleteRequest", completeBodySchema),
    responses: { 200: { description: "The outcome.", json: DispatchDetail } },
    errors: [404, 409],
  },

  // ---- DLQ ----
  {
    method: "get",
    path: "/v1/dlq",
    operationId: "listDlq",
    tag: "DLQ",
    summary: "List dead-lettered dispatches",
    auth: "admin",
    query: listDlqQuerySchema,
    responses: { 200: { description: "A page of DLQ entries.", json: named("DlqPage", s.pageOf(s.dlqSummarySchema)) } },
  },
  {
    method: "post",
    path: "/v1/dlq/replay",
    operationId: "replayDlq",
    tag: "DLQ",
    summary: "Replay pending DLQ entries by filter",
    description: "At most 500 entries per request; `dry_run` answers what would be replayed.",
    auth: "admin",
    body: named("BulkReplayRequest", bulkReplaySchema),
    responses: {
      202: { description: "The replayed entries.", json: named("BulkReplayAnswer", s.bulkReplayAnswerSchema) },
      200: {
        description: "Dry run: the entries that would be replayed.",
        json: named("BulkReplayAnswer", s.bulkReplayAnswerSchema),
      },
    },
    errors: [409],
  },
  {
    method: "get",
    path: "/v1/dlq/{id}",
    operationId: "getDlqEntry",
    tag: "DLQ",
    summary: "Get a DLQ entry with its event and attempts",
    auth: "admin",
    params: dlqId,
    responses: { 200: { description: "The entry.", json: DlqDetail } },
    errors: [404],
  },
  {
    method: "post",
    path: "/v1/dlq/{id}/replay",
    operationId: "replayDlqEntry",
    tag: "DLQ",
    summary: "Replay a DLQ entry on the version that dead-lettered it",
    auth: "admin",
    params: dlqId,
    body: { ...named("DlqReplayRequest", dlqReplayBodySchema), optional: true },
    responses: {
      202: { description: "The replay dispatch.", json: named("DlqReplayAnswer", s.dlqReplayAnswerSchema) },
    },
    errors: [404, 409],
  },
  {
    method: "post",
    path: "/v1/dlq/{id}/resolve",
    operationId: "resolveDlqEntry",
    tag: "DLQ",
    summary: "Resolve a DLQ entry",
    auth: "admin",
    params: dlqId,
    body: { ...named("DlqResolveRequest", dlqResolveBodySchema), optional: true },
    responses: { 200: { description: "The resolved entry.", json: DlqDetail } },
    errors: [404],
  },

  // ---- approvals (SPEC 8) ----
  {
    method: "get",
    path: "/v1/approvals",
    operationId: "listApprovals",
    tag: "Approvals",
    summary: "List approval requests",
    auth: "admin",
    query: s.approvalListQuerySchema,
    responses: {
      200: { description: "A page of approval requests.", json: named("ApprovalPage", s.pageOf(s.approvalSchema)) },
    },
  },
  {
    method: "get",
    path: "/v1/approvals/{id}",
    operationId: "getApproval",
    tag: "Approvals",
    summary: "Get an approval request",
    auth: "admin",
    params: z.object({ id: z.string() }),
    responses: { 200: { description: "The approval.", json: Approval } },
    errors: [404],
  },
  ...(["approve", "deny"] as const).map(
    (action): Operation => ({
      method: "post",
      path: `/v1/approvals/{id}/${action}`,
      operationId: `${action}Approval`,
      tag: "Approvals",
      summary:
        action === "approve"
          ? "Approve: the dispatch resumes from flow control onward"
          : "Deny: the dispatch ends as failed",
      auth: "admin",
      params: z.object({ id: z.string() }),
      body: { ...ApprovalDecision, optional: true },
      responses: { 200: { description: "The approval.", json: Approval } },
      errors: [404, 409],
    }),
  ),

  // ---- trust records (SPEC 8) ----
  {
    method: "get",
    path: "/v1/trust",
    operationId: "listTrustRecords",
    tag: "Trust",
    summary: "Trust records, oldest first",
    auth: "admin",
    query: s.trustListQuerySchema,
    responses: {
      200: {
        description: "A page of hash-chained records.",
        json: named("TrustRecordPage", s.pageOf(s.trustRecordSchema)),
      },
    },
  },
  ...(["promote", "demote"] as const).map(
    (action): Operation => ({
      method: "post",
      path: `/v1/trust/${action}`,
      operationId: `${action}Binding`,
      tag: "Trust",
      summary: `${action === "promote" ? "Promote" : "Demote"} a binding's autonomy tier`,
      description: "Changes the effective tier of new dispatches and appends a trust record.",
      auth: "admin",
      body: TrustChange,
      responses: { 200: { description: "The trust record of the transition.", json: TrustRecord } },
      errors: [404, 409],
    }),
  ),
  {
    method: "get",
    path: "/v1/trust/verify",
    operationId: "verifyTrustChain",
    tag: "Trust",
    summary: "Verify a binding's trust record chain",
    auth: "admin",
    query: s.trustVerifyQuerySchema,
    responses: {
      200: { description: "Whether the chain is intact.", json: named("TrustVerification", s.trustVerifySchema) },
    },
    errors: [404],
  },

  // ---- tenant API keys (SPEC 16) ----
  {
    method: "post",
    path: "/v1/tenants/{tenant}/keys",
    operationId: "createTenantKey",
    tag: "Tenants",
    summary: "Create a tenant API key (shown once)",
    auth: "admin_only",
    params: tenantParams,
    body: named("CreateTenantKeyRequest", createTenantKeySchema),
    responses: {
      201: { description: "The key, with its secret.", json: named("CreatedTenantKey", createdTenantKeySchema) },
    },
  },
  {
    method: "get",
    path: "/v1/tenants/{tenant}/keys",
    operationId: "listTenantKeys",
    tag: "Tenants",
    summary: "List a tenant's API keys (without secrets)",
    auth: "admin_only",
    params: tenantParams,
    responses: {
      200: { description: "The keys, newest first.", json: named("TenantKeyPage", s.pageOf(tenantKeySchema)) },
    },
    errors: [400],
  },
  {
    method: "delete",
    path: "/v1/tenants/{tenant}/keys/{key_id}",
    operationId: "revokeTenantKey",
    tag: "Tenants",
    summary: "Revoke a tenant API key",
    auth: "admin_only",
    params: z.object({ tenant: tenantIdSchema, key_id: z.string() }),
    responses: { 204: { description: "Revoked." } },
    errors: [400, 404],
  },

  // ---- worker jobs ----
  {
    method: "get",
    path: "/v1/queues/{queue}",
    operationId: "getQueueStats",
    tag: "Worker jobs",
    summary: "Job counts of a queue",
    auth: "admin",
    params: queueParams,
    responses: { 200: { description: "Counts by state.", json: named("QueueStats", queueStatsSchema) } },
    errors: [400],
  },
  {
    method: "post",
    path: "/v1/queues/{queue}/claim",
    operationId: "claimJobs",
    tag: "Worker jobs",
    summary: "Claim jobs under a lease",
    auth: "admin",
    params: queueParams,
    body: named("ClaimRequest", claimRequestSchema),
    responses: {
      200: {
        description: "The claimed jobs (empty when none).",
        json: named("JobList", z.object({ items: z.array(workerJobSchema) })),
      },
    },
  },
  {
    method: "get",
    path: "/v1/queues/{queue}/jobs/{job_id}",
    operationId: "getJob",
    tag: "Worker jobs",
    summary: "Get a job",
    auth: "admin",
    params: jobParams,
    responses: { 200: { description: "The job.", json: WorkerJob } },
    errors: [400, 404],
  },
  {
    method: "post",
    path: "/v1/queues/{queue}/jobs/{job_id}/ack",
    operationId: "ackJob",
    tag: "Worker jobs",
    summary: "Acknowledge a leased job",
    description: "Needs a live lease; with `consumer_id`, only its holder may ack.",
    auth: "admin",
    params: jobParams,
    body: { ...named("AckRequest", ackRequestSchema), optional: true },
    responses: { 200: { description: "The acked job.", json: WorkerJob } },
    errors: [404, 409],
  },
  {
    method: "post",
    path: "/v1/queues/{queue}/jobs/{job_id}/release",
    operationId: "releaseJob",
    tag: "Worker jobs",
    summary: "Release a leased job back to the queue",
    auth: "admin",
    params: jobParams,
    body: { ...named("ReleaseRequest", releaseRequestSchema), optional: true },
    responses: { 200: { description: "The job, ready again.", json: WorkerJob } },
    errors: [404, 409],
  },

  // ---- observability ----
  {
    method: "get",
    path: "/v1/records",
    operationId: "listRecords",
    tag: "Observability",
    summary: "Read the record log in seq order",
    auth: "admin",
    query: listRecordsQuerySchema,
    paramDocs: { after: "Return records after this seq (the previous page's `next_cursor`)." },
    responses: { 200: { description: "A page of records.", json: named("RecordPage", s.recordPageSchema) } },
  },
  {
    method: "get",
    path: "/v1/traces/{trace_id}/graph",
    operationId: "getActionGraph",
    tag: "Observability",
    summary: "The action graph of a trace",
    auth: "admin",
    params: z.object({ trace_id: z.string().regex(TRACE_ID) }),
    responses: {
      200: {
        description: "Nodes and edges of the trace.",
        json: named("ActionGraph", s.actionGraphSchema),
        headers: {
          "x-switchyard-graph-truncated": {
            description: "`true` when the trace has more graph records than one answer holds.",
            schema: { type: "string", enum: ["true"] },
          },
        },
      },
    },
    errors: [404],
  },
  {
    method: "get",
    path: "/v1/stats",
    operationId: "getStats",
    tag: "Observability",
    summary: "Live dispatch counts and per-binding gate state",
    auth: "admin",
    query: statsQuerySchema,
    responses: { 200: { description: "Current counts.", json: named("Stats", s.statsSchema) } },
  },
  {
    method: "get",
    path: "/v1/circuits",
    operationId: "listCircuits",
    tag: "Observability",
    summary: "Destination circuit breakers",
    auth: "admin",
    responses: {
      200: { description: "One item per known destination.", json: named("CircuitList", s.circuitListSchema) },
    },
  },

  // ---- ops ----
  {
    method: "get",
    path: "/metrics",
    operationId: "getMetrics",
    tag: "Ops",
    summary: "Prometheus metrics",
    description: "Public unless `METRICS_TOKEN` is set; then it needs `Authorization: Bearer <METRICS_TOKEN>`.",
    auth: "metrics",
    responses: {
      200: {
        description: "Prometheus text exposition format.",
        media: { type: "text/plain; version=0.0.4; charset=utf-8", schema: { type: "string" } },
      },
    },
  },
  {
    method: "get",
    path: "/healthz",
    operationId: "getHealth",
    tag: "Ops",
    summary: "Liveness plus a D1 round trip and the secrets key",
    auth: "public",
    responses: {
      200: { description: "Healthy.", json: named("Health", s.healthSchema) },
      503: {
        description: "D1 is unreachable, or SECRETS_KEY is missing or unusable (`secrets_key` says how to set it).",
        json: named("Health", s.healthSchema),
      },
    },
  },
  {
    method: "post",
    path: "/v1/admin/secrets:reseal",
    operationId: "resealSecrets",
    tag: "Ops",
    summary: "Seal every stored secret under the current SECRETS_KEY",
    description:
      "Encrypts secrets stored as plaintext by an earlier version, and re-seals those sealed under SECRETS_KEY_PREVIOUS during a key rotation, in D1 and in every binding gate's copy. Safe to run while traffic flows; run it once after upgrading and once after each key rotation.",
    auth: "admin_only",
    responses: {
      200: {
        description: "How many sources, bindings and gates were rewritten.",
        json: named(
          "ResealAnswer",
          z.object({ resealed: z.object({ sources: z.number(), bindings: z.number(), gates: z.number() }) }),
        ),
      },
    },
    errors: [403, 503],
  },
  {
    method: "get",
    path: "/openapi.json",
    operationId: "getOpenApi",
    tag: "Ops",
    summary: "This OpenAPI document",
    auth: "public",
    responses: {
      200: { description: "OpenAPI 3.1.", media: { type: "application/json", schema: { type: "object" } } },
    },
  },
  {
    method: "get",
    path: "/docs",
    operationId: "getDocs",
    tag: "Ops",
    summary: "Interactive API reference rendered from /openapi.json",
    auth: "public",
    responses: { 200: { description: "An HTML page.", media: { type: "text/html", schema: { type: "string" } } } },
  },
  {
    method: "get",
    path: "/",
    operationId: "getConsole",
    tag: "Ops",
    summary: "The web console",
    description: "The console's HTML pages and forms live under `/console` (sign in with the admin token).",
    auth: "public",
    responses: {
      302: {
        description: "Redirects to the console.",
        headers: { location: { description: "The console's start page.", schema: { type: "string" } } },
      },
    },
  },
];
