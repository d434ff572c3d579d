/**
 * Per-event history lives in time windows (docs/scale.md). With one-second windows, lists page
 * across window and shard boundaries with no gaps and no repeats; a window past retention is
 * dropped whole, keeping the events a live dispatch or a pending DLQ entry still needs, while
 * counters stay cumulative and the trust chain verifies from its checkpoint.
 */
import { runDurableObjectAlarm } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  eventLogName,
  historyName,
  PINNED_EVENT_LOG,
  partitionSpanMs,
  partitionStart,
  shardOfEventId,
  uuidv7Time,
} from "../../../src/lib/partitions";
import { api, eventually, handler, waitForDispatch } from "../../support/api";
import { publish, scriptedBinding } from "../../support/dispatch";
import { partitionNames } from "../../support/storage";

const TERMINAL = ["succeeded", "skipped", "waiting", "dlq", "failed", "cancelled"];
const vars = env as unknown as Record<string, string | undefined>;
const saved = { PARTITION_SECONDS: vars.PARTITION_SECONDS, RECORDS_RETENTION_DAYS: vars.RECORDS_RETENTION_DAYS };

beforeAll(() => {
  vars.PARTITION_SECONDS = "1";
});
afterAll(() => {
  vars.PARTITION_SECONDS = saved.PARTITION_SECONDS;
  vars.RECORDS_RETENTION_DAYS = saved.RECORDS_RETENTION_DAYS;
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const windowOf = (eventId: string) => partitionStart(uuidv7Time(eventId) ?? 0, partitionSpanMs(env));

/** Publishes straight to shard `shard` of the current window, as intake does with EVENT_SHARDS > 1. */
async function publishToShard(provider: string, shard: number): Promise<string> {
  const now = Date.now();
  const answer = await env.EVENT_LOG.getByName(eventLogName(partitionStart(now, partitionSpanMs(env)), shard)).accept({
    event: {
      provider,
      kind: "thing.happened",
      occurred_at: null,
      dedupe_key: "",
      trace_id: `trace_${crypto.randomUUID()}`,
      tenant_id: null,
      headers: {},
      payload: { shard },
      signature_status: { state: "unsigned" },
    },
    source: null,
    style: null,
    dedupe_scope: "api",
    dedupe_window_s: 86_400,
    target: null,
  });
  if (answer.status !== "accepted") throw new Error(`not accepted: ${JSON.stringify(answer)}`);
  return answer.event_id;
}

/** Every page of a list, following `next_cursor` (or `after` for records). */
// biome-ignore lint/suspicious/noExplicitAny: list items are asserted field by field
async function allPages(path: string, next: (body: any) => string | null): Promise<any[]> {
  // biome-ignore lint/suspicious/noExplicitAny: as above
  const items: any[] = [];
  let query = "";
  for (let i = 0; i < 100; i++) {
    const res = await api("GET", `${path}${query}`);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    items.push(...res.body.items);
    const cursor = next(res.body);
    if (!cursor) return items;
    query = cursor;
  }
  throw new Error("too many pages");
}

describe("lists across window and shard boundaries", () => {
  it("events, dispatches and records page with no gaps and no repeats", async () => {
    const b = await scriptedBinding({ responses: [], otherwise: { status: 200 } });
    const ids: string[] = [];
    for (let i = 0; i < 10; i++) {
      ids.push((await publish(b.provider, "thing.happened", { i })).event_id);
      if (i % 3 === 2) ids.push(await publishToShard(b.provider, 1));
      await sleep(200);
    }
    for (const id of ids) await waitForDispatch(b.bindingKey, id, TERMINAL);
    expect(new Set(ids.map(windowOf)).size).toBeGreaterThanOrEqual(2);
    expect(ids.some((id) => shardOfEventId(id) === 1)).toBe(true);

    const newestFirst = [...ids].sort().reverse();
    for (const limit of [1, 3, 4]) {
      const events = await allPages(`/v1/events?provider=${b.provider}&limit=${limit}`, (body) =>
        body.next_cursor ? `&cursor=${body.next_cursor}` : null,
      );
      expect(events.map((e) => e.id)).toEqual(newestFirst);

      const dispatches = await allPages(`/v1/dispatches?binding_key=${b.bindingKey}&limit=${limit}`, (body) =>
        body.next_cursor ? `&cursor=${body.next_cursor}` : null,
      );
      expect(dispatches.map((d) => d.event_id)).toEqual(newestFirst);
    }

    const whole = await api("GET", `/v1/records?binding_key=${b.bindingKey}&limit=500`);
    expect(whole.status).toBe(200);
    expect(whole.body.next_cursor).toBeNull();
    const records = await allPages(`/v1/records?binding_key=${b.bindingKey}&limit=7`, (body) =>
      body.next_cursor ? `&after=${body.next_cursor}` : null,
    );
    const seqs = records.map((r) => r.seq as number);
    expect(seqs).toEqual(whole.body.items.map((r: { seq: number }) => r.seq));
    expect(seqs.every((s, i) => i === 0 || s > (seqs[i - 1] ?? 0))).toBe(true);
    // Every dispatch is there, and each one's records keep their causal order.
    for (const id of ids) {
      const kinds = records.filter((r) => r.event_id === id && r.topic === "triggers.lifecycle").map((r) => r.kind);
      expect(kinds).toEqual(["DispatchStarted", "DispatchSucceeded"]);
    }
  });
});

describe("retention drops whole windows", () => {
  it("keeps what live dispatches and pending DLQ entries need; counters and the trust chain survive", async () => {
    vars.RECORDS_RETENTION_DAYS = String(3 / 86_400);
    const held = await scriptedBinding({ responses: [], otherwise: { status: 200, body: { late: true } } });
    expect((await api("POST", `/v1/bindings/${held.id}/pause`)).status).toBe(200);
    const dead = await scriptedBinding(
      { responses: [{ status: 500 }], otherwise: { status: 200 } },
      {
        retry: { max_attempts: 1 },
      },
    );
    const done = await scriptedBinding({ responses: [], otherwise: { status: 200 } });
    const burst = await scriptedBinding(
      { responses: [], otherwise: { status: 200 } },
      { flow_control: { debounce: { key: "event.kind", period: "1h", deliver: "all" } } },
    );
    const eHeld = await publish(held.provider, "thing.happened", { keep: "live" });
    // A superseded event that the waiting end of its debounce burst will still deliver.
    const eBurst = await publish(burst.provider, "thing.happened", { keep: "burst" });
    await waitForDispatch(burst.bindingKey, eBurst.event_id, ["held"]);
    const eLatest = await publish(burst.provider, "thing.happened", { keep: "latest" });
    await waitForDispatch(burst.bindingKey, eBurst.event_id, ["skipped"]);
    await waitForDispatch(burst.bindingKey, eLatest.event_id, ["held"]);
    const eDead = await publish(dead.provider, "thing.happened", { keep: "dlq" });
    const eDone = await publish(done.provider, "thing.happened", { keep: "nothing" });
    await waitForDispatch(held.bindingKey, eHeld.event_id, ["held"]);
    await waitForDispatch(dead.bindingKey, eDead.event_id, ["dlq"]);
    await waitForDispatch(done.bindingKey, eDone.event_id, ["succeeded"]);
    const metricsBefore = await countersOf(done.bindingKey);

    // The windows pass retention (3 s) and their seal time (10 s after their end), then drop.
    const dropped = async (name: string) =>
      (
        await env.DB.prepare("SELECT dropped_at FROM partitions WHERE name = ?")
          .bind(name)
          .first<{ dropped_at: number | null }>()
      )?.dropped_at ?? null;
    const doneLog = eventLogName(windowOf(eDone.event_id), 0);
    // The dispatch's own window, and the one it finished in when that is later.
    await eventually(
      async () => {
        const doneHistory = await partitionNames(`history:${done.id}:`);
        if (!doneHistory.includes(historyName(done.id, windowOf(eDone.event_id)))) return undefined;
        const burstLog = eventLogName(windowOf(eBurst.event_id), 0);
        for (const name of [doneLog, burstLog, ...doneHistory]) if (!(await dropped(name))) return undefined;
        return true;
      },
      30_000,
      250,
    );

    // Nothing needs the succeeded event: it is gone with its window, and so is its dispatch.
    expect((await api("GET", `/v1/events/${eDone.event_id}`)).status).toBe(404);
    expect((await api("GET", `/v1/dispatches/${done.bindingKey}/${eDone.event_id}`)).status).toBe(404);
    // The held dispatch, the pending DLQ entry and the waiting burst kept theirs (copied to the pinned store).
    for (const e of [eHeld, eDead, eBurst, eLatest]) {
      const res = await api("GET", `/v1/events/${e.event_id}`);
      expect(res.status, e.event_id).toBe(200);
    }
    expect((await api("GET", `/v1/events/${eHeld.event_id}`)).body.event.payload).toEqual({ keep: "live" });
    // Counters are cumulative: the dropped window's totals were sealed into D1 first.
    expect(await countersOf(done.bindingKey)).toEqual(metricsBefore);
    // The trust chain verifies from the checkpoint the dropped window left.
    const verified = await api("GET", `/v1/trust/verify?binding_id=${done.id}`);
    expect(verified.status).toBe(200);
    expect(verified.body).toMatchObject({ valid: true });
    expect(verified.body.from_checkpoint).toBeDefined();

    // The live dispatch runs after its window was dropped, with its event from the pinned store.
    expect((await api("POST", `/v1/bindings/${held.id}/resume`)).status).toBe(200);
    expect(await waitForDispatch(held.bindingKey, eHeld.event_id, ["succeeded"])).toMatchObject({
      result: { late: true },
    });
    const calls = await handler.calls(held.hook);
    expect(JSON.parse(calls.at(-1)?.body ?? "{}").event?.payload).toEqual({ keep: "live" });

    // The DLQ entry replays with its event from the pinned store too.
    const entries = await api("GET", `/v1/dlq?binding_key=${dead.bindingKey}`);
    const entry = entries.body.items[0];
    const detail = await api("GET", `/v1/dlq/${entry.id}`);
    expect(detail.body.attempts).toHaveLength(1);
    expect(detail.body.event.payload).toEqual({ keep: "dlq" });
    const replay = await api("POST", `/v1/dlq/${entry.id}/replay`, {});
    expect(replay.status, JSON.stringify(replay.body)).toBe(202);
    await eventually(async () => {
      const res = await api("GET", `/v1/dlq/${entry.id}`);
      return res.body.state === "resolved" ? true : undefined;
    }, 15_000);
    expect(JSON.parse((await handler.calls(dead.hook)).at(-1)?.body ?? "{}").event?.payload).toEqual({ keep: "dlq" });

    // Once nothing needs them, the pinned store lets them go.
    await runDurableObjectAlarm(env.EVENT_LOG.getByName(PINNED_EVENT_LOG));
    for (const e of [eHeld, eDead]) expect((await api("GET", `/v1/events/${e.event_id}`)).status).toBe(404);
  }, 60_000);
});

/** The `/metrics` samples of one binding's dispatches and of API intake. */
async function countersOf(bindingKey: string): Promise<string[]> {
  const res = await api("GET", "/metrics");
  const text = String(res.body);
  return text
    .split("\n")
    .filter(
      (l) =>
        (l.startsWith("switchyard_dispatches_total{") && l.includes(`"${bindingKey}"`)) ||
        l.startsWith('switchyard_intake_total{source="_api",outcome="accepted"}'),
    )
    .sort();
}
