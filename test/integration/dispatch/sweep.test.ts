/**
 * SPEC 1.1 and 6: no accepted event stalls silently. An EventLog that restarts routes exactly what
 * it had not finished (once), settles a dedupe claim it may never have made, and the cron sweep
 * pokes the recent windows and purges expired dedupe claims and control-plane records.
 */
import { evictDurableObject, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { sweep } from "../../../src/dispatch/sweep";
import { monotonicUuidv7 } from "../../../src/lib/ids";
import { eventLogName, partitionSpanMs, partitionStart, withShard } from "../../../src/lib/partitions";
import { api, eventually, handler, unique, waitForDispatch } from "../../support/api";
import { publish, scriptedBinding } from "../../support/dispatch";

const TERMINAL = ["succeeded", "skipped", "waiting", "dlq", "failed", "cancelled"];

const currentLog = () => env.EVENT_LOG.getByName(eventLogName(partitionStart(Date.now(), partitionSpanMs(env)), 0));

/** An event row as the EventLog writes it before its dedupe claim (an object that died right then). */
async function storeUnclaimed(provider: string, bindingKey: string, dedupeKey: string): Promise<string> {
  const id = withShard(`evt_${monotonicUuidv7({ lastMs: -1, counter: 0 }, Date.now())}`, 0);
  await runInDurableObject(currentLog(), (_o, state) => {
    state.storage.sql.exec(
      `INSERT INTO events (id, source, style, provider, kind, trace_id, tenant_id, dedupe_scope, dedupe_key, claim_expires,
         target, routes, replays, doc, chunks) VALUES (?, NULL, NULL, ?, 'thing.happened', ?, NULL, 'api', ?, ?, NULL, ?, NULL, ?, 0)`,
      id,
      provider,
      `trace_${crypto.randomUUID()}`,
      dedupeKey,
      Date.now() + 86_400_000,
      JSON.stringify([bindingKey]),
      JSON.stringify({
        received_at: new Date().toISOString(),
        occurred_at: null,
        headers: {},
        payload: { n: 1 },
        signature_status: { state: "unsigned" },
      }),
    );
  });
  return id;
}

/** Moves the window's routing watermark back, as if it had last been saved before these events. */
async function forgetProgress() {
  await runInDurableObject(currentLog(), (_o, state) => {
    state.storage.sql.exec("DELETE FROM meta WHERE k = 'progress'");
  });
  await evictDurableObject(currentLog());
}

describe("EventLog recovery", () => {
  it("a restarted window routes the events after its watermark again, and nothing runs twice", async () => {
    const b = await scriptedBinding({ responses: [], otherwise: { status: 200 } });
    const first = await publish(b.provider);
    const second = await publish(b.provider);
    for (const e of [first, second]) await waitForDispatch(b.bindingKey, e.event_id, TERMINAL);
    await forgetProgress();
    const report = await sweep(env, Date.now());
    expect(report.unrouted).toBeGreaterThanOrEqual(2);
    await new Promise((r) => setTimeout(r, 300));
    const calls = await handler.calls(b.hook);
    expect(calls).toHaveLength(2);
    for (const e of [first, second]) {
      expect(await waitForDispatch(b.bindingKey, e.event_id, TERMINAL)).toMatchObject({ attempt_count: 1 });
    }
  });

  it("an event stored before its dedupe claim is claimed and routed; a retry of it is a duplicate", async () => {
    const b = await scriptedBinding({ responses: [], otherwise: { status: 200, body: { recovered: true } } });
    const key = unique("delivery");
    const id = await storeUnclaimed(b.provider, b.bindingKey, key);
    await forgetProgress();
    await sweep(env, Date.now());
    expect(await waitForDispatch(b.bindingKey, id, TERMINAL)).toMatchObject({
      status: "succeeded",
      result: { recovered: true },
    });
    // The client that saw its request fail sends it again: answered as the stored event.
    const again = await api("POST", "/v1/events", {
      provider: b.provider,
      kind: "thing.happened",
      payload: {},
      dedupe_key: key,
    });
    expect(again.body).toEqual({ status: "duplicate", event_id: id });
  });

  it("an event stored while another one won its dedupe claim is dropped, not routed", async () => {
    const b = await scriptedBinding({ responses: [], otherwise: { status: 200 } });
    const key = unique("delivery");
    const winner = await api("POST", "/v1/events", {
      provider: b.provider,
      kind: "thing.happened",
      payload: {},
      dedupe_key: key,
    });
    expect(winner.status).toBe(202);
    await waitForDispatch(b.bindingKey, winner.body.event_id, TERMINAL);
    const loser = await storeUnclaimed(b.provider, b.bindingKey, key);
    await forgetProgress();
    await sweep(env, Date.now());
    await eventually(async () => ((await api("GET", `/v1/events/${loser}`)).status === 404 ? true : undefined));
    expect(await handler.calls(b.hook)).toHaveLength(1);
  });
});

describe("sweep", () => {
  it("deletes control-plane records past retention and expired dedupe claims", async () => {
    await env.DB.prepare(
      `INSERT INTO records (seq, record_key, topic, kind, headers, payload, at)
       SELECT COALESCE(MIN(seq), 1) - 1, 'old-1', 't', 'k', '{}', 'null', '2000-01-01T00:00:00.000Z' FROM records`,
    ).run();
    await env.DB.prepare(
      `INSERT INTO records (record_key, topic, kind, headers, payload, at) VALUES ('newest', 't', 'k', '{}', 'null', '2000-01-01T00:00:00.000Z')`,
    ).run();
    await env.DB.prepare(
      `INSERT INTO dedupe_claims (scope, dedupe_key, event_id, expires_at) VALUES ('api', 'gone', 'evt_x', 1), ('api', 'kept', 'evt_y', ?)`,
    )
      .bind(Date.now() + 86_400_000)
      .run();
    const report = await sweep(env, Date.now());
    expect(report.purged_records).toBeGreaterThanOrEqual(1);
    expect(report.purged_claims).toBeGreaterThanOrEqual(1);
    const left = await env.DB.prepare("SELECT record_key FROM records WHERE record_key IN ('old-1', 'newest')").all();
    expect(left.results).toEqual([{ record_key: "newest" }]);
    const claims = await env.DB.prepare(
      "SELECT dedupe_key FROM dedupe_claims WHERE dedupe_key IN ('gone', 'kept')",
    ).all();
    expect(claims.results).toEqual([{ dedupe_key: "kept" }]);
  });
});
