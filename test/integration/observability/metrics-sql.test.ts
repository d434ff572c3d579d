/**
 * `/metrics` is a function of D1 alone: rows written directly (as another isolate, or a previous
 * process, would have) show up exactly, and histograms are bucketed by the SQL. Fresh storage per
 * file, so every value here is exact.
 */
import { env, exports } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { BASE } from "../../support/api";
import { parseExposition } from "../../unit/observability/exposition-grammar";

const T0 = Date.parse("2026-11-01T10:00:00.000Z");
const at = (ms: number) => new Date(T0 + ms).toISOString();

async function sql(query: string, ...params: unknown[]) {
  await env.DB.prepare(query)
    .bind(...params)
    .run();
}

async function event(id: string, source: string | null, receivedMs: number) {
  await sql(
    `INSERT INTO events (id, source, provider, kind, received_at, dedupe_scope, dedupe_key, trace_id, headers, payload, signature_status)
     VALUES (?, ?, 'p', 'k', ?, 's', ?, ?, '{}', '{}', '{"state":"unsigned"}')`,
    id,
    source,
    at(receivedMs),
    id,
    `t-${id}`,
  );
}

async function dispatch(
  id: string,
  bindingKey: string,
  eventId: string,
  status: string,
  o: { createdMs?: number; replay?: boolean; kind?: string } = {},
) {
  await sql(
    `INSERT INTO dispatches (dispatch_id, binding_key, binding_id, binding_version, event_id, trace_id, status, attempt_count,
       handler_kind, target_uri, replay_of_event_id, created_at, updated_at)
     VALUES (?, ?, ?, 1, ?, 't', ?, 0, ?, 'https://x', ?, ?, ?)`,
    id,
    bindingKey,
    bindingKey.split("@")[0],
    eventId,
    status,
    o.kind ?? "https",
    o.replay ? eventId : null,
    at(o.createdMs ?? 0),
    at(o.createdMs ?? 0),
  );
}

async function attempt(dispatchId: string, n: number, startMs: number, durationMs: number | null) {
  await sql(
    "INSERT INTO attempts (dispatch_id, attempt, started_at, outcome, duration_ms) VALUES (?, ?, ?, 'failed', ?)",
    dispatchId,
    n,
    at(startMs),
    durationMs,
  );
}

async function dlq(id: string, dispatchId: string, eventId: string, reason: string, state: string, createdMs: number) {
  await sql(
    `INSERT INTO dlq_entries (id, dispatch_id, binding_key, binding_id, event_id, attempt_count, final_error, error_class, reason, state, created_at)
     VALUES (?, ?, 'b@v1', 'b', ?, 1, 'HTTP 500', 'http_5xx', ?, ?, ?)`,
    id,
    dispatchId,
    eventId,
    reason,
    state,
    at(createdMs),
  );
}

beforeAll(async () => {
  await event("e1", "github", 0);
  await event("e2", "github", 0);
  await event("e3", null, 0);
  // e1 → b@v1: first attempt 30 ms after acceptance, ran 1.5 s; retried twice; dead-lettered after 90 s.
  await dispatch("b@v1|e1", "b@v1", "e1", "dlq");
  await attempt("b@v1|e1", 1, 30, 1500);
  await attempt("b@v1|e1", 2, 2_000, 40);
  await attempt("b@v1|e1", 3, 4_000, null);
  await dlq("dlq1", "b@v1|e1", "e1", "retry_exhausted", "pending", 90_000);
  // Two versions of trigger b; the second with a "quoted" handler kind that must be escaped.
  await dispatch("b@v2|e2", "b@v2", "e2", "succeeded");
  await attempt("b@v2|e2", 1, 8, 3);
  await dispatch("b@v1|e2", "b@v1", "e2", "running");
  // A replay created an hour after the event: its queue age starts at the replay, 200 ms before its attempt.
  await dispatch("b@v1|e1|r1", "b@v1", "e1", "succeeded", { createdMs: 3_600_000, replay: true });
  await attempt("b@v1|e1|r1", 1, 3_600_200, 10);
  await dispatch("c@v1|e3", "c@v1", "e3", "waiting", { kind: 'we"ird\\kind' });
  await dlq("dlq2", "b@v1|e1|r1", "e1", "circuit_open", "resolved", 3_600_500);
  await sql(
    `INSERT INTO intake_counters (source, outcome, reason, count, updated_at) VALUES
       ('github', 'duplicate', '', 7, ?), ('github', 'rejected', 'signature_invalid', 2, ?), ('_api', 'rejected', 'bad_request', 1, ?)`,
    at(0),
    at(0),
    at(0),
  );
});

async function scrape() {
  const res = await exports.default.fetch(`${BASE}/metrics`);
  const text = await res.text();
  expect(res.status, text).toBe(200);
  return { text, samples: parseExposition(text) };
}

describe("/metrics from D1 rows", () => {
  it("reports exactly what the rows say", async () => {
    const { text } = await scrape();
    const lines = text.split("\n").filter((l) => l && !l.startsWith("#"));
    expect(lines).toEqual([
      'switchyard_dispatches_total{trigger="b",handler_kind="https",status="dlq"} 1',
      'switchyard_dispatches_total{trigger="b",handler_kind="https",status="succeeded"} 2',
      'switchyard_dispatches_open{trigger="b",handler_kind="https",status="running"} 1',
      'switchyard_dispatches_open{trigger="c",handler_kind="we\\"ird\\\\kind",status="waiting"} 1',
      'switchyard_retries_total{trigger="b"} 2',
      'switchyard_dlq_total{reason="circuit_open"} 1',
      'switchyard_dlq_total{reason="retry_exhausted"} 1',
      "switchyard_dlq_pending 1",
      'switchyard_intake_total{source="_api",outcome="accepted"} 1',
      'switchyard_intake_total{source="_api",outcome="rejected"} 1',
      'switchyard_intake_total{source="github",outcome="accepted"} 2',
      'switchyard_intake_total{source="github",outcome="duplicate"} 7',
      'switchyard_intake_total{source="github",outcome="rejected"} 2',
      'switchyard_intake_rejected_total{source="_api",reason="bad_request"} 1',
      'switchyard_intake_rejected_total{source="github",reason="signature_invalid"} 2',
      // Queue ages: 0.008 s (e2), 0.03 s (e1), 0.2 s (the replay, from its creation).
      'switchyard_queue_age_seconds_bucket{le="0.005"} 0',
      'switchyard_queue_age_seconds_bucket{le="0.01"} 1',
      'switchyard_queue_age_seconds_bucket{le="0.02"} 1',
      'switchyard_queue_age_seconds_bucket{le="0.05"} 2',
      'switchyard_queue_age_seconds_bucket{le="0.1"} 2',
      'switchyard_queue_age_seconds_bucket{le="0.25"} 3',
      'switchyard_queue_age_seconds_bucket{le="0.5"} 3',
      'switchyard_queue_age_seconds_bucket{le="1"} 3',
      'switchyard_queue_age_seconds_bucket{le="2.5"} 3',
      'switchyard_queue_age_seconds_bucket{le="5"} 3',
      'switchyard_queue_age_seconds_bucket{le="10"} 3',
      'switchyard_queue_age_seconds_bucket{le="30"} 3',
      'switchyard_queue_age_seconds_bucket{le="60"} 3',
      'switchyard_queue_age_seconds_bucket{le="300"} 3',
      'switchyard_queue_age_seconds_bucket{le="1800"} 3',
      'switchyard_queue_age_seconds_bucket{le="3600"} 3',
      'switchyard_queue_age_seconds_bucket{le="+Inf"} 3',
      "switchyard_queue_age_seconds_sum 0.238",
      "switchyard_queue_age_seconds_count 3",
      // Durations: 0.003, 0.01, 0.04, 1.5 s (the attempt still running has none).
      'switchyard_attempt_duration_seconds_bucket{le="0.005"} 1',
      'switchyard_attempt_duration_seconds_bucket{le="0.01"} 2',
      'switchyard_attempt_duration_seconds_bucket{le="0.025"} 2',
      'switchyard_attempt_duration_seconds_bucket{le="0.05"} 3',
      'switchyard_attempt_duration_seconds_bucket{le="0.1"} 3',
      'switchyard_attempt_duration_seconds_bucket{le="0.25"} 3',
      'switchyard_attempt_duration_seconds_bucket{le="0.5"} 3',
      'switchyard_attempt_duration_seconds_bucket{le="1"} 3',
      'switchyard_attempt_duration_seconds_bucket{le="2.5"} 4',
      'switchyard_attempt_duration_seconds_bucket{le="5"} 4',
      'switchyard_attempt_duration_seconds_bucket{le="10"} 4',
      'switchyard_attempt_duration_seconds_bucket{le="30"} 4',
      'switchyard_attempt_duration_seconds_bucket{le="60"} 4',
      'switchyard_attempt_duration_seconds_bucket{le="+Inf"} 4',
      "switchyard_attempt_duration_seconds_sum 1.553",
      "switchyard_attempt_duration_seconds_count 4",
      // DLQ ages: 90 s (e1) and 0.5 s (the replay, from its creation).
      'switchyard_dlq_age_seconds_bucket{le="1"} 1',
      'switchyard_dlq_age_seconds_bucket{le="5"} 1',
      'switchyard_dlq_age_seconds_bucket{le="15"} 1',
      'switchyard_dlq_age_seconds_bucket{le="60"} 1',
      'switchyard_dlq_age_seconds_bucket{le="300"} 2',
      'switchyard_dlq_age_seconds_bucket{le="900"} 2',
      'switchyard_dlq_age_seconds_bucket{le="3600"} 2',
      'switchyard_dlq_age_seconds_bucket{le="10800"} 2',
      'switchyard_dlq_age_seconds_bucket{le="21600"} 2',
      'switchyard_dlq_age_seconds_bucket{le="43200"} 2',
      'switchyard_dlq_age_seconds_bucket{le="86400"} 2',
      'switchyard_dlq_age_seconds_bucket{le="259200"} 2',
      'switchyard_dlq_age_seconds_bucket{le="604800"} 2',
      'switchyard_dlq_age_seconds_bucket{le="+Inf"} 2',
      "switchyard_dlq_age_seconds_sum 90.5",
      "switchyard_dlq_age_seconds_count 2",
    ]);
  });

  it("follows the rows as they change: a waiting dispatch completed moves from the gauge to the counter", async () => {
    await sql("UPDATE dispatches SET status = 'succeeded' WHERE dispatch_id = 'c@v1|e3'");
    const { samples } = await scrape();
    expect(samples.filter((s) => s.labels.trigger === "c").map((s) => `${s.name}:${s.labels.status}`)).toEqual([
      "switchyard_dispatches_total:succeeded",
    ]);
  });
});
