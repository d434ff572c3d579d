/**
 * The `records` log (SPEC 14, 17): control-plane records in D1 (what one costs to write, retention
 * by `seq`), records derived from an event and its dispatches (`?event_id=`, paged by `seq`), and
 * records of the earlier storage layout still read from D1.
 */
import { env } from "cloudflare:workers";
import { drizzle } from "drizzle-orm/d1";
import { describe, expect, it } from "vitest";
import { sweep } from "../../../src/dispatch/sweep";
import { iso } from "../../../src/lib/time";
import { insertRecord, purgeExpiredRecords, type RecordInput } from "../../../src/observability/records";
import { api, unique, waitForDispatch } from "../../support/api";
import { publish, scriptedBinding } from "../../support/dispatch";

const TERMINAL = ["succeeded", "skipped", "waiting", "dlq", "failed", "cancelled"];
const LONG_AGO = "2000-01-01T00:00:00.000Z";
const DAY = 86_400_000;

function record(overrides: Partial<RecordInput> = {}): RecordInput {
  return {
    key: unique("rec"),
    topic: "trigger.outbox",
    kind: "dispatch_started",
    tenant_id: "acme",
    event_id: unique("evt"),
    trace_id: unique("trace"),
    binding_key: unique("bk"),
    headers: { "x-switchyard-replay": "1" },
    payload: { n: 1 },
    at: LONG_AGO,
    ...overrides,
  };
}

/** Runs `insertRecord` as one D1 statement, so D1's own `meta` describes exactly that insert. */
async function write(input: RecordInput) {
  const { sql, params } = insertRecord(drizzle(env.DB), input).toSQL();
  return env.DB.prepare(sql)
    .bind(...params)
    .run();
}

async function rows(): Promise<{ seq: number; record_key: string }[]> {
  const res = await env.DB.prepare("SELECT seq, record_key FROM records ORDER BY seq").all<{
    seq: number;
    record_key: string;
  }>();
  return res.results;
}

describe("write cost", () => {
  it("one record writes 4 rows: the row, record_key, (topic, seq) and trace_id", async () => {
    const input = record();
    const first = await write(input);
    expect(first.meta.changes).toBe(1);
    expect(first.meta.rows_written).toBe(4);
    // A replayed write (same record_key) is ignored and writes nothing.
    const again = await write(input);
    expect(again.meta.changes).toBe(0);
    expect(again.meta.rows_written).toBe(0);
  });

  it("the same 4 rows with the optional columns empty", async () => {
    const res = await write(record({ tenant_id: null, event_id: null, trace_id: null, binding_key: null }));
    expect(res.meta.rows_written).toBe(4);
  });
});

describe("retention", () => {
  it("deletes in seq order, in bounded steps, up to the first record still inside retention", async () => {
    const now = Date.now();
    const cutoff = iso(now - DAY);
    const before = (await rows()).length; // the write-cost records, all long expired
    for (let i = 0; i < 7; i++) await write(record({ key: `old-${i}` }));
    await write(record({ key: "live-1", at: iso(now) }));
    // Written out of time order: behind a live record it waits for that one to expire.
    await write(record({ key: "late-old" }));
    await write(record({ key: "live-2", at: iso(now) }));

    expect(await purgeExpiredRecords(env.DB, cutoff, { chunk: 3, steps: 2 })).toBe(6);
    expect(await purgeExpiredRecords(env.DB, cutoff)).toBe(before + 7 - 6);
    expect(await purgeExpiredRecords(env.DB, cutoff)).toBe(0);
    expect((await rows()).map((r) => r.record_key)).toEqual(["live-1", "late-old", "live-2"]);
  });

  it("the cron sweep purges control-plane records past retention", async () => {
    await write(record({ key: "newest" }));
    const report = await sweep(env, Date.now() + 365 * DAY);
    expect(report.purged_records).toBeGreaterThan(0);
    expect((await rows()).map((r) => r.record_key)).toEqual(["newest"]);
  });
});

describe("GET /v1/records?event_id=", () => {
  interface Item {
    seq: number;
    kind: string;
    event_id: string | null;
    trace_id: string | null;
  }

  async function pages(query: string, limit: number): Promise<Item[]> {
    const items: Item[] = [];
    let after: string | null = null;
    for (;;) {
      const res = await api("GET", `/v1/records?${query}&limit=${limit}${after ? `&after=${after}` : ""}`);
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      items.push(...res.body.items);
      after = res.body.next_cursor;
      if (!after) return items;
    }
  }

  it("returns every record of a dispatched event, all carrying its trace id, page by page", async () => {
    const b = await scriptedBinding({ responses: [], otherwise: { status: 200 } });
    const { event_id, trace_id } = await publish(b.provider);
    await waitForDispatch(b.bindingKey, event_id, TERMINAL);
    // Another event sharing the trace id must not leak into the first one's records.
    const other = await api("POST", "/v1/events", {
      provider: b.provider,
      kind: "thing.happened",
      trace_id,
      payload: {},
    });
    expect(other.status).toBe(202);
    await waitForDispatch(b.bindingKey, other.body.event_id, TERMINAL);

    const whole = (await api("GET", `/v1/records?event_id=${event_id}&limit=500`)).body.items as Item[];
    expect(whole.length).toBeGreaterThan(3);
    const items = await pages(`event_id=${event_id}`, 2);
    expect(items.map((r) => r.seq)).toEqual(whole.map((r) => r.seq));
    // seq is unique and increasing, and the records are in causal order.
    expect(items.map((r) => r.seq)).toEqual([...new Set(items.map((r) => r.seq))].sort((a, b) => a - b));
    expect(whole.map((r) => r.kind).slice(0, 1)).toEqual(["event_accepted"]);
    expect(new Set(items.map((r) => `${r.event_id} ${r.trace_id}`))).toEqual(new Set([`${event_id} ${trace_id}`]));
    // Combined with other filters as before.
    const started = await api("GET", `/v1/records?event_id=${event_id}&kind=dispatch_started`);
    expect(started.body.items).toHaveLength(1);
    expect((await api("GET", `/v1/records?event_id=${event_id}&trace_id=other`)).body.items).toEqual([]);
  });

  it("finds records of the earlier layout, kept in D1, for an event id with no EventLog row", async () => {
    const eventId = unique("evt_orphan");
    await write(record({ key: unique("orphan"), event_id: eventId, at: iso(Date.now()), kind: "first" }));
    await write(
      record({ key: unique("orphan"), event_id: eventId, trace_id: null, at: iso(Date.now() + 1), kind: "second" }),
    );
    const items = await pages(`event_id=${eventId}`, 1);
    expect(items.map((r) => r.kind)).toEqual(["first", "second"]);
    expect((await api("GET", `/v1/records?event_id=${unique("evt_none")}`)).body.items).toEqual([]);
  });
});
