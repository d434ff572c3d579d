/**
 * Upgrading a database written by the earlier storage layout (docs/scale.md, "Upgrading"): D1 rows of
 * events, dispatches, attempts and records stay readable through the same API until retention ends
 * them; a gate's old tables become live documents on its first activation and its dispatches go on;
 * events the old inbox had not routed are routed by the sweep; counters never go back when the old
 * rows are purged.
 */
import { runInDurableObject } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { sweep } from "../../../src/dispatch/sweep";
import { monotonicUuidv7 } from "../../../src/lib/ids";
import { api, BASE, eventually, handler, unique, waitForDispatch } from "../../support/api";
import { parseExposition } from "../../unit/observability/exposition-grammar";

const HOUR = 3_600_000;
const id = (prefix: string, at: number) => `${prefix}${monotonicUuidv7({ lastMs: -1, counter: 0 }, at)}`;
const iso = (ms: number) => new Date(ms).toISOString();

async function run(sql: string, ...args: unknown[]) {
  await env.DB.prepare(sql)
    .bind(...args)
    .run();
}

async function oldEvent(eventId: string, provider: string, at: number, routed: boolean) {
  await run(
    `INSERT INTO events (id, source, provider, kind, received_at, dedupe_scope, dedupe_key, trace_id, headers, payload, signature_status, routed_at)
     VALUES (?, NULL, ?, 'thing.happened', ?, 'api', ?, ?, '{}', '{"n":1}', '{"state":"unsigned"}', ?)`,
    eventId,
    provider,
    iso(at),
    eventId,
    `trace_${eventId}`,
    routed ? iso(at) : null,
  );
}

async function oldDispatch(bindingKey: string, eventId: string, status: string, at: number, attempts: number) {
  const dispatchId = `${bindingKey}|${eventId}`;
  await run(
    `INSERT INTO dispatches (dispatch_id, binding_key, binding_id, binding_version, event_id, trace_id, status, attempt_count,
       handler_kind, target_uri, result, created_at, updated_at, terminal_at)
     VALUES (?, ?, ?, 1, ?, ?, ?, ?, 'https', 'https://old.example', ?, ?, ?, ?)`,
    dispatchId,
    bindingKey,
    bindingKey.split("@v")[0],
    eventId,
    `trace_${eventId}`,
    status,
    attempts,
    status === "succeeded" ? '{"old":true}' : null,
    iso(at),
    iso(at + 1000),
    status === "succeeded" ? iso(at + 1000) : null,
  );
  for (let n = 1; n <= attempts; n++) {
    await run(
      `INSERT INTO attempts (dispatch_id, attempt, started_at, completed_at, outcome, error_msg, status_code, duration_ms)
       VALUES (?, ?, ?, ?, ?, ?, ?, 20)`,
      dispatchId,
      n,
      iso(at + n * 100),
      iso(at + n * 100 + 20),
      n === attempts && status === "succeeded" ? "succeeded" : "failed",
      n === attempts && status === "succeeded" ? null : "HTTP 500",
      n === attempts && status === "succeeded" ? 200 : 500,
    );
  }
  await run(
    `INSERT INTO records (record_key, topic, kind, event_id, trace_id, binding_key, headers, payload, at)
     VALUES (?, 'triggers.lifecycle', 'DispatchStarted', ?, ?, ?, '{}', '{"attempt":1}', ?)`,
    `${dispatchId}:1:DispatchStarted`,
    eventId,
    `trace_${eventId}`,
    bindingKey,
    iso(at + 100),
  );
}

async function scrape() {
  const res = await exports.default.fetch(`${BASE}/metrics`);
  return parseExposition(await res.text());
}

describe("a database of the earlier storage layout", () => {
  it("keeps its events, dispatches, attempts and records readable through the same API", async () => {
    const bindingId = unique("old");
    const created = await api("PUT", `/v1/bindings/${bindingId}`, {
      provider: unique("p"),
      handler: "https://old.example",
    });
    const bindingKey = created.body.binding_key as string;
    const at = Date.now() - HOUR;
    const eventId = id("evt_", at);
    await oldEvent(eventId, "p", at, true);
    await oldDispatch(bindingKey, eventId, "succeeded", at, 2);

    const detail = await api("GET", `/v1/events/${eventId}`);
    expect(detail.status).toBe(200);
    expect(detail.body.event).toMatchObject({ id: eventId, payload: { n: 1 } });
    expect(detail.body.dispatches).toMatchObject([{ binding_key: bindingKey, status: "succeeded", attempt_count: 2 }]);
    const dispatch = await api("GET", `/v1/dispatches/${encodeURIComponent(bindingKey)}/${eventId}`);
    expect(dispatch.body).toMatchObject({ status: "succeeded", result: { old: true }, attempt_count: 2 });
    expect(dispatch.body.attempts.map((a: { outcome: string }) => a.outcome)).toEqual(["failed", "succeeded"]);
    const listed = await api("GET", `/v1/dispatches?binding_key=${encodeURIComponent(bindingKey)}`);
    expect(listed.body.items.map((d: { event_id: string }) => d.event_id)).toEqual([eventId]);
    const events = await api("GET", "/v1/events?limit=500");
    expect(events.body.items.map((e: { id: string }) => e.id)).toContain(eventId);
    const records = await api("GET", `/v1/records?event_id=${eventId}`);
    expect(records.body.items.map((r: { kind: string }) => r.kind)).toEqual(["DispatchStarted"]);
  });

  it("moves an old gate's live dispatch over: its retry runs and it finishes in the new layout", async () => {
    const hook = unique("old-live");
    await handler.script(hook, { responses: [], otherwise: { status: 200, body: { resumed: true } } });
    const bindingId = unique("oldgate");
    const provider = unique("p");
    const created = await api("PUT", `/v1/bindings/${bindingId}`, { provider, handler: handler.url(hook) });
    const bindingKey = created.body.binding_key as string;
    const at = Date.now() - 60_000;
    const eventId = id("evt_", at);
    await oldEvent(eventId, provider, at, true);
    await oldDispatch(bindingKey, eventId, "retry_scheduled", at, 1);
    const spec = (await api("GET", `/v1/bindings/${bindingId}`)).body.versions[0].spec;
    // The gate as the earlier layout left it: its meta, one dispatch waiting for attempt 2, its timer.
    await runInDurableObject(env.BINDING_GATE.getByName(bindingKey), (_o, state) => {
      const sql = state.storage.sql;
      sql.exec("DROP TABLE IF EXISTS live");
      for (const [k, v] of [
        ["spec", JSON.stringify(spec)],
        ["binding_key", bindingKey],
        ["binding_id", bindingId],
        ["binding_version", "1"],
        ["signing_secret", "whsec_b2xk"],
      ]) {
        sql.exec("INSERT INTO gate_meta (k, v) VALUES (?, ?) ON CONFLICT(k) DO UPDATE SET v = excluded.v", k, v);
      }
      sql.exec(`CREATE TABLE gate_dispatches (dispatch_id TEXT PRIMARY KEY, event_id TEXT, trace_id TEXT, tenant_id TEXT,
        replay_of_event_id TEXT, status TEXT, attempt INTEGER, attempt_running INTEGER, attempt_started_at INTEGER,
        max_attempts INTEGER, created_at INTEGER, updated_at INTEGER, terminal_at INTEGER, cancel_requested INTEGER,
        dlq_id TEXT, held_reason TEXT, batch_event_ids TEXT, tier TEXT, decision TEXT, approval_id TEXT)`);
      sql.exec(
        `INSERT INTO gate_dispatches VALUES (?, ?, ?, NULL, NULL, 'retry_scheduled', 1, 0, NULL, 3, ?, ?, NULL, 0, NULL, NULL, NULL, 'act_auto', NULL, NULL)`,
        `${bindingKey}|${eventId}`,
        eventId,
        `trace_${eventId}`,
        at,
        at + 1000,
      );
      sql.exec(
        "CREATE TABLE timers (id INTEGER PRIMARY KEY, due_at INTEGER, kind TEXT, dispatch_id TEXT, attempt INTEGER)",
      );
      sql.exec(
        "INSERT INTO timers (due_at, kind, dispatch_id, attempt) VALUES (?, 'attempt', ?, 2)",
        Date.now() + 200,
        `${bindingKey}|${eventId}`,
      );
    });
    const { evictDurableObject } = await import("cloudflare:test");
    await evictDurableObject(env.BINDING_GATE.getByName(bindingKey));
    const done = await waitForDispatch(bindingKey, eventId, ["succeeded"]);
    expect(done).toMatchObject({ status: "succeeded", attempt_count: 2, result: { resumed: true } });
    // Attempt 1 as the old layout recorded it, attempt 2 as the new one did.
    expect(done.attempts.map((a: { attempt: number; outcome: string }) => [a.attempt, a.outcome])).toEqual([
      [1, "failed"],
      [2, "succeeded"],
    ]);
    expect(await handler.calls(hook)).toHaveLength(1);
  });

  it("routes events the old inbox had not routed, once, and keeps counters when old rows are purged", async () => {
    const hook = unique("old-unrouted");
    await handler.script(hook, { responses: [], otherwise: { status: 200 } });
    const provider = unique("p");
    const created = await api("PUT", `/v1/bindings/${unique("oldroute")}`, { provider, handler: handler.url(hook) });
    const bindingKey = created.body.binding_key as string;
    const at = Date.now() - 10 * 86_400_000;
    const routedId = id("evt_", at);
    const unroutedId = id("evt_", at + 5);
    await oldEvent(routedId, provider, at, true);
    await oldDispatch(bindingKey, routedId, "succeeded", at, 1);
    await oldEvent(unroutedId, provider, at + 5, false);

    await sweep(env, Date.now());
    expect((await waitForDispatch(bindingKey, unroutedId, ["succeeded"])).status).toBe("succeeded");
    await sweep(env, Date.now());
    expect(await handler.calls(hook)).toHaveLength(1);

    const succeeded = async () =>
      (await scrape()).find(
        (s) =>
          s.name === "switchyard_dispatches_total" &&
          s.labels.trigger === bindingKey.split("@v")[0] &&
          s.labels.status === "succeeded",
      )?.value;
    // One from the old layout (sealed), one from the new; the sweep purged the old rows past retention.
    await eventually(async () => ((await succeeded()) === 2 ? true : undefined));
    const left = await env.DB.prepare("SELECT count(*) AS n FROM dispatches WHERE dispatch_id LIKE ?")
      .bind(`${bindingKey}|%`)
      .first<{ n: number }>();
    expect(left?.n).toBe(0);
    expect(await succeeded()).toBe(2);
  });
});
