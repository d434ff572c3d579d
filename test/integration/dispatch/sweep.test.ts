/** The cron sweep and redelivered inbox messages: nothing accepted stalls, nothing routes twice. */
import { createExecutionContext, createMessageBatch, getQueueResult, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { InboxMessage } from "../../../src/contracts/messages";
import { sweep } from "../../../src/dispatch/sweep";
import worker from "../../../src/index";
import { api, eventually, handler, waitForDispatch } from "../../support/api";
import { publish, scriptedBinding } from "../../support/dispatch";

const TERMINAL = ["succeeded", "skipped", "waiting", "dlq", "failed", "cancelled"];

async function runInbox(messages: InboxMessage[]) {
  const batch = createMessageBatch(
    "switchyard-inbox",
    messages.map((body, i) => ({ id: `inbox-${i}-${crypto.randomUUID()}`, timestamp: new Date(), attempts: 2, body })),
  );
  const ctx = createExecutionContext();
  await worker.queue(batch, env, ctx);
  return getQueueResult(batch, ctx);
}

/** An inbox message that carries its event along, as intake sends small ones. */
function carriedMessage(id: string, provider: string, payload: unknown): InboxMessage {
  return {
    v: 1,
    event_id: id,
    event: {
      id,
      provider,
      kind: "thing.happened",
      received_at: new Date().toISOString(),
      occurred_at: null,
      dedupe_key: id,
      trace_id: `trace-${id}`,
      tenant_id: null,
      headers: {},
      payload,
      signature_status: { state: "unsigned" },
    },
    target: null,
  };
}

describe("inbox redelivery", () => {
  it("routes an event once however often its message arrives", async () => {
    const b = await scriptedBinding({ responses: [{ status: 200 }] });
    const { event_id } = await publish(b.provider);
    await waitForDispatch(b.bindingKey, event_id, TERMINAL);
    const result = await runInbox([
      { v: 1, event_id },
      { v: 1, event_id },
    ]);
    expect(result.explicitAcks).toHaveLength(2);
    await new Promise((r) => setTimeout(r, 300));
    const list = await api("GET", `/v1/dispatches?event_id=${event_id}`);
    expect(list.body.items).toHaveLength(1);
    expect(await handler.calls(b.hook)).toHaveLength(1);
  });

  it("routes a batch of fresh events, with and without the event carried in the message", async () => {
    const b = await scriptedBinding({ responses: [{ status: 200 }] });
    const ids = [0, 1, 2].map(() => `evt_batch-${crypto.randomUUID()}`);
    for (const id of ids) {
      await env.DB.prepare(
        `INSERT INTO events (id, source, provider, kind, received_at, dedupe_scope, dedupe_key, trace_id, headers, payload, signature_status)
         VALUES (?, NULL, ?, 'thing.happened', ?, 'api:_', ?, ?, '{}', '{"n":1}', '{"state":"unsigned"}')`,
      )
        .bind(id, b.provider, new Date().toISOString(), id, `trace-${id}`)
        .run();
    }
    const carried = (id: string) => carriedMessage(id, b.provider, { n: 1 });
    const [a, c, d] = ids as [string, string, string];
    const result = await runInbox([carried(a), { v: 1, event_id: c }, { v: 1, event_id: "evt_missing" }, carried(d)]);
    expect(result.explicitAcks).toHaveLength(4);
    expect(result.retryMessages).toHaveLength(0);
    for (const id of ids) await waitForDispatch(b.bindingKey, id, TERMINAL);
    const routed = await env.DB.prepare(
      `SELECT COUNT(*) AS n FROM events WHERE id IN (?, ?, ?) AND routed_at IS NOT NULL`,
    )
      .bind(...ids)
      .first<{ n: number }>();
    expect(routed?.n).toBe(3);
    expect(await handler.calls(b.hook)).toHaveLength(3);
  });

  it("hands a carried event on to attempt 1, which then reads no event row", async () => {
    const b = await scriptedBinding({ responses: [{ status: 200 }] });
    // Only the message has this event: routing and the attempt must both use the carried copy.
    const id = `evt_carried-${crypto.randomUUID()}`;
    const result = await runInbox([carriedMessage(id, b.provider, { carried: true })]);
    expect(result.explicitAcks).toHaveLength(1);
    expect(await waitForDispatch(b.bindingKey, id, TERMINAL)).toMatchObject({ status: "succeeded" });
    const calls = await handler.calls(b.hook);
    expect(calls).toHaveLength(1);
    expect(JSON.parse(calls[0]?.body ?? "{}")).toMatchObject({ event: { id, payload: { carried: true } } });
  });

  it("acknowledges a message for an unknown event", async () => {
    const result = await runInbox([{ v: 1, event_id: "evt_missing" }]);
    expect(result.explicitAcks).toHaveLength(1);
    expect(result.retryMessages).toHaveLength(0);
  });
});

describe("sweep", () => {
  it("re-enqueues an accepted event whose inbox message was lost", async () => {
    const b = await scriptedBinding({ responses: [{ status: 200, body: { swept: true } }] });
    const old = new Date(Date.now() - 10 * 60_000).toISOString();
    const eventId = `evt_lost-${crypto.randomUUID()}`;
    await env.DB.prepare(
      `INSERT INTO events (id, source, provider, kind, received_at, dedupe_scope, dedupe_key, trace_id, headers, payload, signature_status)
       VALUES (?, NULL, ?, 'thing.happened', ?, 'api:_', ?, 'trace_lost', '{}', '{"n":1}', '{"state":"unsigned"}')`,
    )
      .bind(eventId, b.provider, old, eventId)
      .run();
    const report = await sweep(env, Date.now());
    expect(report.requeued).toBeGreaterThanOrEqual(1);
    const d = await waitForDispatch(b.bindingKey, eventId, TERMINAL);
    expect(d).toMatchObject({ status: "succeeded", result: { swept: true } });
  });

  it("re-sends an attempt whose dispatch message was lost", async () => {
    const b = await scriptedBinding(
      { responses: [{ status: 500 }, { status: 200 }] },
      {
        retry: { max_attempts: 3, policy: { linear: { delay_ms: "1h" } } },
      },
    );
    const { event_id } = await publish(b.provider);
    await waitForDispatch(b.bindingKey, event_id, ["retry_scheduled"]);
    // Simulate the attempt message being lost long ago: the retry timer is gone, the row is stale.
    const stub = env.BINDING_GATE.getByName(b.bindingKey);
    await runInDurableObject(stub, (_instance, state) => {
      state.storage.sql.exec("DELETE FROM timers WHERE kind = 'attempt'");
    });
    const longAgo = new Date(Date.now() - 10 * 60_000).toISOString();
    await env.DB.prepare("UPDATE dispatches SET updated_at = ?, next_attempt_at = ? WHERE binding_key = ?")
      .bind(longAgo, longAgo, b.bindingKey)
      .run();
    const report = await sweep(env, Date.now());
    expect(report.rearmed).toBeGreaterThanOrEqual(1);
    expect(await waitForDispatch(b.bindingKey, event_id, TERMINAL)).toMatchObject({
      status: "succeeded",
      attempt_count: 2,
    });
  });

  it("deletes records past retention and expired dedupe claims", async () => {
    // Records are appended in time order, so an expired one sits below every other seq; the sweep
    // always keeps the newest record ('newest'), which holds the largest seq.
    await env.DB.prepare(
      `INSERT INTO records (seq, record_key, topic, kind, headers, payload, at)
       SELECT COALESCE(MIN(seq), 1) - 1, 'old-1', 't', 'k', '{}', 'null', '2000-01-01T00:00:00.000Z' FROM records`,
    ).run();
    await env.DB.prepare(
      `INSERT INTO records (record_key, topic, kind, headers, payload, at) VALUES ('newest', 't', 'k', '{}', 'null', '2000-01-01T00:00:00.000Z')`,
    ).run();
    await env.DB.prepare(
      `INSERT INTO dedupe_claims (scope, dedupe_key, event_id, expires_at) VALUES ('api:_', 'gone', 'evt_x', 1)`,
    ).run();
    const report = await sweep(env, Date.now());
    expect(report.purged_records).toBeGreaterThanOrEqual(1);
    const left = await env.DB.prepare("SELECT record_key FROM records WHERE record_key IN ('old-1', 'newest')").all();
    expect(left.results).toEqual([{ record_key: "newest" }]);
    await eventually(async () => {
      const row = await env.DB.prepare("SELECT COUNT(*) AS n FROM dedupe_claims WHERE dedupe_key = 'gone'").first<{
        n: number;
      }>();
      return row?.n === 0 ? true : undefined;
    });
  });
});
