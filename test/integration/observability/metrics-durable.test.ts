/**
 * `/metrics` comes from durable counter state only (SPEC 14): sealed windows' totals in D1's
 * partition directory (as a History or EventLog window leaves them when its time is up), DLQ rows
 * and intake refusals in D1, open windows and gates asked directly. So a value never goes back when
 * a window is dropped, and rows written directly (as another process would) show up exactly.
 */
import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { monotonicUuidv7 } from "../../../src/lib/ids";
import { api, BASE, eventually, waitForDispatch } from "../../support/api";
import { publish, scriptedBinding } from "../../support/dispatch";
import { partitionNames } from "../../support/storage";
import { parseExposition } from "../../unit/observability/exposition-grammar";

const T0 = Date.parse("2026-11-01T10:00:00.000Z");
const at = (ms: number) => new Date(T0 + ms).toISOString();
const idAt = (prefix: string, ms: number) => `${prefix}${monotonicUuidv7({ lastMs: -1, counter: 0 }, T0 + ms)}`;

async function sql(query: string, ...params: unknown[]) {
  await env.DB.prepare(query)
    .bind(...params)
    .run();
}

const buckets = (n: number, hits: Record<number, number>) => Array.from({ length: n }, (_, i) => hits[i] ?? 0);

async function sealed(name: string, totals: unknown) {
  await sql(
    "INSERT INTO partitions (name, start, shard, created_at, sealed_at, totals, dropped_at) VALUES (?, ?, 0, ?, ?, ?, ?)",
    name,
    T0,
    T0,
    T0 + 3_600_000,
    JSON.stringify(totals),
    // Retention may have dropped the window since: its totals still count.
    T0 + 8 * 86_400_000,
  );
}

async function scrape() {
  const res = await exports.default.fetch(`${BASE}/metrics`);
  const text = await res.text();
  expect(res.status, text).toBe(200);
  return { text, samples: parseExposition(text) };
}

describe("/metrics from durable counters", () => {
  it("reports exactly what sealed windows, DLQ rows and intake counters say", async () => {
    // A History window of trigger b: 1 dlq and 2 succeeded, 2 retries, three queue ages and four durations.
    await sealed("history:b:2026-11-01T10:00:00.000Z", {
      dispatches: { "b@v1 https dlq": 1, "b@v1 https succeeded": 1, "b@v2 https succeeded": 1 },
      retries: 2,
      queue_age: { n: 3, sum: 0.238, buckets: buckets(16, { 1: 1, 3: 1, 5: 1 }) },
      attempt_duration: { n: 4, sum: 1.553, buckets: buckets(13, { 0: 1, 1: 1, 3: 1, 8: 1 }) },
    });
    await sealed("history:c:2026-11-01T10:00:00.000Z", {
      dispatches: { 'c@v1 we"ird\\kind succeeded': 1 },
      retries: 0,
      queue_age: { n: 0, sum: 0, buckets: buckets(16, {}) },
      attempt_duration: { n: 0, sum: 0, buckets: buckets(13, {}) },
    });
    await sealed("events:2026-11-01T10:00:00.000Z", { github: 2, _api: 1 });
    const e1 = idAt("evt_", 0);
    await sql(
      `INSERT INTO dlq_entries (id, dispatch_id, binding_key, binding_id, event_id, attempt_count, final_error, error_class, reason, state, created_at)
       VALUES ('dlq1', ?, 'b@v1', 'b', ?, 3, 'HTTP 500', 'provider_5xx', 'retry_exhausted', 'pending', ?),
              ('dlq2', ?, 'b@v1', 'b', ?, 1, 'open', 'unknown', 'circuit_open', 'resolved', ?)`,
      `b@v1|${e1}`,
      e1,
      at(90_000),
      `b@v1|${e1}|${idAt("r", 3_600_000)}`,
      e1,
      at(3_600_500),
    );
    await sql(
      `INSERT INTO intake_counters (source, outcome, reason, count, updated_at) VALUES
         ('github', 'duplicate', '', 7, ?), ('github', 'rejected', 'signature_invalid', 2, ?), ('_api', 'rejected', 'bad_request', 1, ?)`,
      at(0),
      at(0),
      at(0),
    );
    const { text } = await scrape();
    const lines = text.split("\n").filter((l) => l && !l.startsWith("#"));
    expect(lines.filter((l) => !/_bucket\{/.test(l))).toEqual([
      'switchyard_dispatches_total{trigger="b",handler_kind="https",status="dlq"} 1',
      'switchyard_dispatches_total{trigger="b",handler_kind="https",status="succeeded"} 2',
      'switchyard_dispatches_total{trigger="c",handler_kind="we\\"ird\\\\kind",status="succeeded"} 1',
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
      "switchyard_queue_age_seconds_sum 0.238",
      "switchyard_queue_age_seconds_count 3",
      "switchyard_attempt_duration_seconds_sum 1.553",
      "switchyard_attempt_duration_seconds_count 4",
      // DLQ ages: 90 s (the original, from its event) and 0.5 s (the replay, from its creation).
      "switchyard_dlq_age_seconds_sum 90.5",
      "switchyard_dlq_age_seconds_count 2",
    ]);
    expect(lines).toContain('switchyard_queue_age_seconds_bucket{le="0.01"} 1');
    expect(lines).toContain('switchyard_queue_age_seconds_bucket{le="0.05"} 2');
    expect(lines).toContain('switchyard_queue_age_seconds_bucket{le="0.25"} 3');
    expect(lines).toContain('switchyard_attempt_duration_seconds_bucket{le="0.005"} 1');
    expect(lines).toContain('switchyard_attempt_duration_seconds_bucket{le="2.5"} 4');
    expect(lines).toContain('switchyard_dlq_age_seconds_bucket{le="1"} 1');
    expect(lines).toContain('switchyard_dlq_age_seconds_bucket{le="300"} 2');
  });

  it("counts live work from gates and open windows, and keeps counting after a window is sealed", async () => {
    const waiting = await scriptedBinding({
      responses: [],
      otherwise: { status: 200, headers: { "x-switchyard-outcome": "waiting" }, body: { message: "later" } },
    });
    const trigger = waiting.id;
    const { event_id } = await publish(waiting.provider);
    await waitForDispatch(waiting.bindingKey, event_id, ["waiting"]);
    const statuses = async () =>
      (await scrape()).samples
        .filter((s) => s.labels.trigger === trigger)
        .map((s) => `${s.name}:${s.labels.status}:${s.value}`);
    expect(await statuses()).toEqual(["switchyard_dispatches_open:waiting:1"]);

    const done = await api("POST", `/v1/dispatches/${encodeURIComponent(waiting.bindingKey)}/${event_id}/complete`, {
      status: "succeeded",
    });
    expect(done.status).toBe(200);
    await eventually(async () =>
      (await statuses()).includes("switchyard_dispatches_total:succeeded:1") ? true : undefined,
    );
    expect(await statuses()).toEqual(["switchyard_dispatches_total:succeeded:1"]);

    // The window's time is up: its totals move to D1, and the count stays where it was.
    const [name] = await partitionNames(`history:${trigger}:`);
    await env.DISPATCH_HISTORY.getByName(name ?? "").seal();
    expect(await statuses()).toEqual(["switchyard_dispatches_total:succeeded:1"]);
  });
});
