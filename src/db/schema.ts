/**
 * D1 schema: the system of record. Every change goes through `npm run db:generate`
 * (drizzle-kit) into `migrations/`. JSON columns hold shapes defined in `src/contracts/`.
 */
import { sql } from "drizzle-orm";
import { index, integer, primaryKey, real, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";

export const sources = sqliteTable("sources", {
  name: text("name").primaryKey(),
  provider: text("provider").notNull(),
  style: text("style").notNull(),
  /** JSON array of secrets; write-only through the API. */
  secrets: text("secrets").notNull(),
  toleranceS: integer("tolerance_s"),
  header: text("header"),
  tenantId: text("tenant_id"),
  dedupeWindowS: integer("dedupe_window_s").notNull(),
  /**
   * Notion's set-up (a source created with no secret): when the token of its verification request
   * became the secret, and when an operator read that token (it is shown once).
   */
  verificationReceivedAt: text("verification_received_at"),
  verificationReadAt: text("verification_read_at"),
  createdAt: text("created_at").notNull(),
  updatedAt: text("updated_at").notNull(),
});

/** One row per binding version; `binding_key` = `<id>@v<version>`. */
export const bindingVersions = sqliteTable(
  "binding_versions",
  {
    bindingKey: text("binding_key").primaryKey(),
    id: text("id").notNull(),
    version: integer("version").notNull(),
    state: text("state", { enum: ["active", "draining", "terminated"] }).notNull(),
    provider: text("provider").notNull(),
    tenantId: text("tenant_id"),
    spec: text("spec").notNull(),
    specHash: text("spec_hash").notNull(),
    createdAt: text("created_at").notNull(),
    updatedAt: text("updated_at").notNull(),
  },
  (t) => [
    uniqueIndex("binding_versions_id_version").on(t.id, t.version),
    index("binding_versions_state_provider").on(t.state, t.provider),
  ],
);

/** Per binding id (all versions): pause flag and the outbound signing secret. */
export const bindingControls = sqliteTable("binding_controls", {
  id: text("id").primaryKey(),
  paused: integer("paused", { mode: "boolean" }).notNull().default(false),
  signingSecret: text("signing_secret").notNull(),
  /** The secret a rotation replaced, still signed with until `previous_until` (epoch ms; SPEC 12.1). */
  previousSigningSecret: text("previous_signing_secret"),
  previousUntil: integer("previous_until"),
  /** The autonomy tier set by the latest trust promote/demote (SPEC 8); null = the spec's tier. */
  tierOverride: text("tier_override"),
  createdAt: text("created_at").notNull(),
  updatedAt: text("updated_at").notNull(),
});

export const events = sqliteTable(
  "events",
  {
    id: text("id").primaryKey(),
    source: text("source"),
    provider: text("provider").notNull(),
    kind: text("kind").notNull(),
    receivedAt: text("received_at").notNull(),
    occurredAt: text("occurred_at"),
    dedupeScope: text("dedupe_scope").notNull(),
    dedupeKey: text("dedupe_key").notNull(),
    traceId: text("trace_id").notNull(),
    tenantId: text("tenant_id"),
    headers: text("headers").notNull(),
    payload: text("payload").notNull(),
    rawBody: text("raw_body"),
    signatureStatus: text("signature_status").notNull(),
    targetBindingId: text("target_binding_id"),
    targetVersion: integer("target_version"),
    /** Set once the inbox consumer has created every dispatch; the sweep re-enqueues rows left null. */
    routedAt: text("routed_at"),
  },
  (t) => [
    index("events_received_at").on(t.receivedAt),
    index("events_trace_id").on(t.traceId),
    index("events_routed_at").on(t.routedAt),
    index("events_source_id").on(t.source, t.id),
  ],
);

/** Exact dedupe: one claim per (scope, key) until it expires. */
export const dedupeClaims = sqliteTable(
  "dedupe_claims",
  {
    scope: text("scope").notNull(),
    dedupeKey: text("dedupe_key").notNull(),
    eventId: text("event_id").notNull(),
    expiresAt: integer("expires_at").notNull(),
  },
  // WITHOUT ROWID in the database (migration 0008), so a claim costs one row written; the cron
  // sweep purges expired claims by walking the primary key, so expiry needs no index of its own.
  (t) => [primaryKey({ columns: [t.scope, t.dedupeKey] })],
);

/**
 * The directory of time partitions (docs/scale.md): EventLog (`events:<start>[:<shard>]`) and History
 * (`history:<binding_id>:<start>`) objects, their totals once sealed, and when they were dropped.
 */
export const partitions = sqliteTable("partitions", {
  name: text("name").primaryKey(),
  start: integer("start").notNull(),
  shard: integer("shard").notNull().default(0),
  createdAt: integer("created_at").notNull(),
  sealedAt: integer("sealed_at"),
  /** JSON totals at sealing: accepted events per source, or a History window's dispatch counters. */
  totals: text("totals"),
  droppedAt: integer("dropped_at"),
});

/** Small durable state of the cron sweep (e.g. where the dedupe-claim purge walk continues). */
export const sweepState = sqliteTable("sweep_state", {
  k: text("k").primaryKey(),
  v: text("v").notNull(),
});

export const dispatches = sqliteTable(
  "dispatches",
  {
    /** `<binding_key>|<event_id>` for originals, `<binding_key>|<event_id>|r<n>` for replays. */
    dispatchId: text("dispatch_id").primaryKey(),
    bindingKey: text("binding_key").notNull(),
    bindingId: text("binding_id").notNull(),
    bindingVersion: integer("binding_version").notNull(),
    eventId: text("event_id").notNull(),
    traceId: text("trace_id").notNull(),
    tenantId: text("tenant_id"),
    status: text("status").notNull(),
    attemptCount: integer("attempt_count").notNull().default(0),
    handlerKind: text("handler_kind").notNull(),
    targetUri: text("target_uri").notNull(),
    replayOfEventId: text("replay_of_event_id"),
    result: text("result"),
    error: text("error"),
    errorClass: text("error_class"),
    createdAt: text("created_at").notNull(),
    updatedAt: text("updated_at").notNull(),
    terminalAt: text("terminal_at"),
    /** When the next attempt is due (retry_scheduled); the sweep only re-arms dispatches past it. */
    nextAttemptAt: text("next_attempt_at"),
  },
  (t) => [
    index("dispatches_event_id").on(t.eventId),
    index("dispatches_binding_key_status").on(t.bindingKey, t.status),
    index("dispatches_status_updated").on(t.status, t.updatedAt),
    // Partial: most dispatches are no replay, and their NULL would cost a written index row each.
    index("dispatches_replay_of").on(t.replayOfEventId).where(sql`${t.replayOfEventId} IS NOT NULL`),
  ],
);

export const attempts = sqliteTable(
  "attempts",
  {
    dispatchId: text("dispatch_id").notNull(),
    attempt: integer("attempt").notNull(),
    startedAt: text("started_at").notNull(),
    completedAt: text("completed_at"),
    outcome: text("outcome").notNull(),
    errorMsg: text("error_msg"),
    statusCode: integer("status_code"),
    durationMs: integer("duration_ms"),
  },
  (t) => [primaryKey({ columns: [t.dispatchId, t.attempt] })],
);

/**
 * The leading columns of a record kept once per dispatch (a dead letter, an approval request): its
 * own id and the dispatch, binding version, event and tenant it is about.
 */
const dispatchRecordColumns = {
  id: text("id").primaryKey(),
  dispatchId: text("dispatch_id").notNull(),
  bindingKey: text("binding_key").notNull(),
  bindingId: text("binding_id").notNull(),
  eventId: text("event_id").notNull(),
  tenantId: text("tenant_id"),
};

export const dlqEntries = sqliteTable(
  "dlq_entries",
  {
    ...dispatchRecordColumns,
    attemptCount: integer("attempt_count").notNull(),
    finalError: text("final_error").notNull(),
    errorClass: text("error_class").notNull(),
    reason: text("reason").notNull(),
    state: text("state", { enum: ["pending", "resolved"] }).notNull(),
    createdAt: text("created_at").notNull(),
    resolvedAt: text("resolved_at"),
    /** The dispatch's attempts (JSON, SPEC 13.5 `attempts[]`), copied when it was dead-lettered. */
    attempts: text("attempts"),
  },
  (t) => [
    uniqueIndex("dlq_entries_dispatch_id").on(t.dispatchId),
    index("dlq_entries_state_created").on(t.state, t.createdAt),
    index("dlq_entries_binding_id").on(t.bindingId),
  ],
);

/**
 * Append-only log (SPEC 14). `record_key` makes each logical record idempotent under redelivery.
 * Every index costs a billed row on each insert, so only three are kept: reads by event id go
 * through the event's trace id (every record with an `event_id` carries that event's `trace_id`),
 * retention deletes by `seq` (records are appended in time order) and `binding_key` filters walk the
 * primary key. `seq` is a plain rowid (no AUTOINCREMENT, whose `sqlite_sequence` update is another
 * billed row); it stays strictly increasing because the retention sweep never deletes the row
 * holding the largest `seq`.
 */
export const records = sqliteTable(
  "records",
  {
    seq: integer("seq").primaryKey(),
    recordKey: text("record_key").notNull(),
    topic: text("topic").notNull(),
    kind: text("kind").notNull(),
    tenantId: text("tenant_id"),
    eventId: text("event_id"),
    traceId: text("trace_id"),
    bindingKey: text("binding_key"),
    headers: text("headers").notNull(),
    payload: text("payload").notNull(),
    at: text("at").notNull(),
  },
  (t) => [
    uniqueIndex("records_record_key").on(t.recordKey),
    index("records_topic").on(t.topic, t.seq),
    index("records_trace_id").on(t.traceId),
  ],
);

/**
 * Durable `worker://<queue>` jobs (SPEC 12.3). One job per dispatch (unique `dispatch_id`), so a
 * re-run or retried attempt returns the existing receipt instead of enqueueing twice.
 */
export const workerJobs = sqliteTable(
  "worker_jobs",
  {
    /** `job_<uuidv7>`. */
    jobId: text("job_id").primaryKey(),
    queue: text("queue").notNull(),
    /** The binding id. */
    triggerId: text("trigger_id").notNull(),
    bindingKey: text("binding_key").notNull(),
    bindingVersion: integer("binding_version").notNull(),
    eventId: text("event_id").notNull(),
    dispatchId: text("dispatch_id").notNull(),
    /** The dispatch attempt that enqueued the job. */
    attempt: integer("attempt").notNull(),
    tenantId: text("tenant_id"),
    /** The full TriggerEvent, JSON. */
    event: text("event").notNull(),
    replayOfEventId: text("replay_of_event_id"),
    priority: text("priority", { enum: ["high", "normal", "low"] }).notNull(),
    state: text("state", { enum: ["ready", "leased", "acked"] }).notNull(),
    consumerId: text("consumer_id"),
    leaseExpiresAt: text("lease_expires_at"),
    /** How many times the job has been claimed (pull claims and push deliveries). */
    claims: integer("claims").notNull().default(0),
    /** JSON set by ack (or the push target's answer). */
    response: text("response"),
    pushedAt: text("pushed_at"),
    pushError: text("push_error"),
    createdAt: text("created_at").notNull(),
    updatedAt: text("updated_at").notNull(),
    ackedAt: text("acked_at"),
  },
  (t) => [
    uniqueIndex("worker_jobs_dispatch_id").on(t.dispatchId),
    // Claiming reads each (state, priority) run of a queue oldest first.
    index("worker_jobs_claim").on(t.queue, t.state, t.priority, t.createdAt),
    index("worker_jobs_state_acked").on(t.state, t.ackedAt),
  ],
);

/**
 * Durable intake counters for outcomes that leave no `events` row (SPEC 14 metrics): duplicates
 * and rejections per source. Accepted events are counted from `events` itself. Rows are bounded by
 * sources × outcomes × reasons (unknown sources are never counted), so they need no retention.
 */
export const intakeCounters = sqliteTable(
  "intake_counters",
  {
    /** The source name, or `_api` for `POST /v1/events` (not a valid source name, so no clash). */
    source: text("source").notNull(),
    outcome: text("outcome", { enum: ["duplicate", "rejected"] }).notNull(),
    /** The error code of a rejection (`signature_invalid`, `bad_request`, …); empty for duplicates. */
    reason: text("reason").notNull(),
    count: integer("count").notNull(),
    updatedAt: text("updated_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.source, t.outcome, t.reason] })],
);

/**
 * Human approval requests (SPEC 8): one per dispatch an autonomy budget stopped. `id` is the
 * dispatch result's `request_id`; approve resumes the dispatch, deny fails it.
 */
export const approvals = sqliteTable(
  "approvals",
  {
    ...dispatchRecordColumns,
    reason: text("reason").notNull(),
    /** JSON array of reviewer names. */
    reviewers: text("reviewers").notNull(),
    state: text("state", { enum: ["pending", "approved", "denied", "cancelled"] }).notNull(),
    reviewer: text("reviewer"),
    decisionReason: text("decision_reason"),
    createdAt: text("created_at").notNull(),
    decidedAt: text("decided_at"),
  },
  (t) => [
    uniqueIndex("approvals_dispatch_id").on(t.dispatchId),
    index("approvals_state_created").on(t.state, t.createdAt),
  ],
);

/**
 * Append-only trust records (SPEC 8), hash-chained per binding id: `hash` = SHA-256 over the
 * canonical record including `prev_hash`. `record_key` makes each logical record idempotent.
 */
export const trustRecords = sqliteTable(
  "trust_records",
  {
    seq: integer("seq").primaryKey({ autoIncrement: true }),
    recordKey: text("record_key").notNull(),
    bindingId: text("binding_id").notNull(),
    tenantId: text("tenant_id"),
    action: text("action").notNull(),
    outcome: text("outcome").notNull(),
    tier: text("tier").notNull(),
    metadata: text("metadata").notNull(),
    prevHash: text("prev_hash").notNull(),
    hash: text("hash").notNull(),
    at: text("at").notNull(),
  },
  (t) => [
    uniqueIndex("trust_records_record_key").on(t.recordKey),
    uniqueIndex("trust_records_chain").on(t.bindingId, t.prevHash),
    index("trust_records_binding_seq").on(t.bindingId, t.seq),
  ],
);

/** Classifier verdicts cached per (event, classifier): replays reuse them at no cost (SPEC 7). */
export const predicateVerdicts = sqliteTable(
  "predicate_verdicts",
  {
    eventId: text("event_id").notNull(),
    classifier: text("classifier").notNull(),
    pass: integer("pass", { mode: "boolean" }).notNull(),
    reason: text("reason"),
    costUsd: real("cost_usd").notNull(),
    tokens: integer("tokens").notNull(),
    createdAt: text("created_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.eventId, t.classifier] })],
);

/**
 * Tenant API keys (SPEC 16): the key is shown once at creation and stored as its SHA-256 hash; a
 * presented key `<id>.<secret>` is found by id and compared in constant time. Revoked keys stay for audit.
 */
export const tenantKeys = sqliteTable(
  "tenant_keys",
  {
    id: text("id").primaryKey(),
    tenantId: text("tenant_id").notNull(),
    name: text("name").notNull(),
    keyHash: text("key_hash").notNull(),
    createdAt: text("created_at").notNull(),
    revokedAt: text("revoked_at"),
  },
  (t) => [index("tenant_keys_tenant").on(t.tenantId, t.createdAt)],
);

/** Console sessions ended by a logout before they expire (SPEC 16): refused until `expires_at`. */
export const revokedSessions = sqliteTable("revoked_sessions", {
  nonce: text("nonce").primaryKey(),
  expiresAt: integer("expires_at").notNull(),
});

/** Failed console logins per client (SPEC 16): repeated failures are slowed down. */
export const loginFailures = sqliteTable("login_failures", {
  client: text("client").primaryKey(),
  failures: integer("failures").notNull(),
  lastFailureAt: integer("last_failure_at").notNull(),
});
