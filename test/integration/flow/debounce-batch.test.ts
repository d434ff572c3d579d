/** SPEC 9.1 batch and 9.2 debounce: superseded and merged events resolve at once (SPEC 18.2). */
import { describe, expect, it } from "vitest";
import { waitForDispatch } from "../../support/api";
import {
  arrive,
  auditEventually,
  callsOf,
  cancel,
  dispatch,
  dispatchIdOf,
  evictGate,
  flowBinding,
  gateStats,
  recordsOf,
  skippedBy,
  sleep,
  TERMINAL,
} from "./support";

describe("debounce (trailing edge)", () => {
  it("skips superseded events as soon as they are superseded and runs the last one once", async () => {
    const b = await flowBinding(
      { debounce: { key: "event.payload.doc", period: "500ms" } },
      { responses: [], otherwise: { status: 200 } },
    );
    const gate = `${b.bindingKey}:readme`;
    const e1 = await arrive(b, { doc: "readme", rev: 1 }, ["held"]);
    const e2 = await arrive(b, { doc: "readme", rev: 2 }, ["held"]);
    // e1 was superseded by e2's arrival: it is already skipped, long before any period ends.
    expect(await dispatch(b.bindingKey, e1.event_id)).toMatchObject(skippedBy("debounced"));
    const e3 = await arrive(b, { doc: "readme", rev: 3 }, ["held"]);
    expect(await dispatch(b.bindingKey, e2.event_id)).toMatchObject(skippedBy("debounced"));
    expect(e3.detail.result).toMatchObject({ held: true, flow_control: "debounce", gate });
    expect(await gateStats(b.bindingKey, "debounce", gate)).toMatchObject({
      waiting: 1,
      head: dispatchIdOf(b.bindingKey, e3.event_id),
    });
    // Another key is debounced independently.
    const other = await arrive(b, { doc: "changelog" }, ["held"]);

    expect(await waitForDispatch(b.bindingKey, e3.event_id, TERMINAL)).toMatchObject({
      status: "succeeded",
      attempt_count: 1,
    });
    expect((await waitForDispatch(b.bindingKey, other.event_id, TERMINAL)).status).toBe("succeeded");
    await sleep(200);
    const calls = await callsOf(b.hook);
    expect(calls.map((c) => c.event_id).sort()).toEqual([e3.event_id, other.event_id].sort());

    const skipped = await recordsOf(e1.event_id, "trigger.outbox", "dispatch_skipped");
    expect(skipped[0]?.payload).toMatchObject({
      skip_stage: "flow_control",
      detail: { skipped: true, flow_control: "debounced" },
    });
    const audit = await auditEventually("debounce", gate, 6);
    expect(audit.map((r) => [r.kind, r.event_id])).toEqual([
      ["debounce_seen", e1.event_id],
      ["debounce_superseded", e1.event_id],
      ["debounce_seen", e2.event_id],
      ["debounce_superseded", e2.event_id],
      ["debounce_seen", e3.event_id],
      ["debounce_selected", e3.event_id],
    ]);
    expect(await gateStats(b.bindingKey, "debounce", gate)).toBeUndefined();
  });

  it("runs the last event no sooner than one period after its arrival", async () => {
    const b = await flowBinding({ debounce: { key: "event.kind", period: "800ms" } }, { responses: [] });
    const started = Date.now();
    const e = await arrive(b, { n: 1 }, ["held"]);
    await waitForDispatch(b.bindingKey, e.event_id, TERMINAL);
    const [call] = await callsOf(b.hook);
    expect((call?.at ?? 0) - started).toBeGreaterThanOrEqual(750);
  });
});

describe("debounce deliver all (SPEC 9.2)", () => {
  it("hands the handler every event of the burst in arrival order, and survives eviction", async () => {
    const b = await flowBinding(
      { debounce: { key: "event.payload.doc", period: "600ms", deliver: "all" } },
      { responses: [], otherwise: { status: 200 } },
    );
    const e1 = await arrive(b, { doc: "readme", rev: 1 }, ["held"]);
    const e2 = await arrive(b, { doc: "readme", rev: 2 }, ["held"]);
    await evictGate(b.bindingKey);
    const e3 = await arrive(b, { doc: "readme", rev: 3 }, ["held"]);
    expect(await dispatch(b.bindingKey, e2.event_id)).toMatchObject(skippedBy("debounced"));
    expect(await waitForDispatch(b.bindingKey, e3.event_id, TERMINAL)).toMatchObject({ status: "succeeded" });
    await sleep(200);
    const calls = await callsOf(b.hook);
    expect(calls).toHaveLength(1);
    expect(calls[0]?.event_id).toBe(e3.event_id);
    expect(calls[0]?.batch?.map((e) => e.id)).toEqual([e1.event_id, e2.event_id, e3.event_id]);
    expect(calls[0]?.batch?.map((e) => e.payload)).toEqual([
      { doc: "readme", rev: 1 },
      { doc: "readme", rev: 2 },
      { doc: "readme", rev: 3 },
    ]);
  });

  it("ends a burst at max_events at once", async () => {
    const b = await flowBinding(
      { debounce: { key: "event.payload.doc", period: "1h", deliver: "all", max_events: 2 } },
      { responses: [], otherwise: { status: 200 } },
    );
    const e1 = await arrive(b, { doc: "a" }, ["held"]);
    const e2 = await arrive(b, { doc: "a" }, ["admitted", "running", "succeeded"]);
    expect(await waitForDispatch(b.bindingKey, e2.event_id, TERMINAL)).toMatchObject({ status: "succeeded" });
    const calls = await callsOf(b.hook);
    expect(calls[0]?.batch?.map((e) => e.id)).toEqual([e1.event_id, e2.event_id]);
  });
});

describe("batch", () => {
  it("flushes by size: the leader carries every member, followers end batch_merged", async () => {
    const b = await flowBinding(
      { batch: { key: "event.payload.group", size: 3, timeout: "10s" } },
      { responses: [], otherwise: { status: 200, body: { got: "batch" } } },
    );
    const gate = `${b.bindingKey}:g1`;
    const leader = await arrive(b, { group: "g1", n: 1 }, ["held"]);
    const second = await arrive(b, { group: "g1", n: 2 }, ["held"]);
    expect(second.detail.result).toMatchObject({ held: true, flow_control: "batch", gate });
    expect(await gateStats(b.bindingKey, "batch", gate)).toMatchObject({
      limit: 3,
      waiting: 2,
      head: dispatchIdOf(b.bindingKey, leader.event_id),
    });
    const third = await arrive(b, { group: "g1", n: 3 }, TERMINAL);
    expect(third.detail).toMatchObject(skippedBy("batch_merged"));
    expect(await waitForDispatch(b.bindingKey, second.event_id, TERMINAL)).toMatchObject(skippedBy("batch_merged"));
    expect(await waitForDispatch(b.bindingKey, leader.event_id, TERMINAL)).toMatchObject({
      status: "succeeded",
      attempt_count: 1,
      result: { got: "batch" },
    });

    await sleep(200);
    const calls = await callsOf(b.hook);
    expect(calls).toHaveLength(1);
    expect(calls[0]?.event_id).toBe(leader.event_id);
    expect(calls[0]?.batch?.map((e) => e.id)).toEqual([leader.event_id, second.event_id, third.event_id]);
    expect(calls[0]?.batch?.map((e) => e.payload)).toEqual([
      { group: "g1", n: 1 },
      { group: "g1", n: 2 },
      { group: "g1", n: 3 },
    ]);

    const merged = await recordsOf(second.event_id, "trigger.outbox", "dispatch_skipped");
    expect(merged[0]?.payload).toMatchObject({
      skip_stage: "flow_control",
      detail: { skipped: true, flow_control: "batch_merged" },
    });
    const audit = await auditEventually("batch", gate, 6);
    expect(audit.map((r) => r.kind)).toEqual([
      "batch_enqueued",
      "batch_enqueued",
      "batch_enqueued",
      "batch_dispatched",
      "batch_merged",
      "batch_merged",
    ]);
    expect(audit[3]?.payload).toMatchObject({ reason: "size", count: 3 });
  });

  it("flushes by deadline with the members gathered so far", async () => {
    const b = await flowBinding(
      { batch: { size: 10, timeout: "500ms" } },
      { responses: [], otherwise: { status: 200 } },
    );
    const leader = await arrive(b, { n: 1 }, ["held"]);
    const follower = await arrive(b, { n: 2 }, ["held"]);
    expect(await waitForDispatch(b.bindingKey, follower.event_id, TERMINAL)).toMatchObject(skippedBy("batch_merged"));
    expect((await waitForDispatch(b.bindingKey, leader.event_id, TERMINAL)).status).toBe("succeeded");
    await sleep(200);
    const calls = await callsOf(b.hook);
    expect(calls).toHaveLength(1);
    expect(calls[0]?.batch?.map((e) => e.id)).toEqual([leader.event_id, follower.event_id]);
    const audit = await auditEventually("batch", `${b.bindingKey}:_global`, 4);
    expect(audit.find((r) => r.kind === "batch_dispatched")?.payload).toMatchObject({ reason: "deadline", count: 2 });

    // The next arrival opens a new group of its own.
    const alone = await arrive(b, { n: 3 }, ["held"]);
    expect((await waitForDispatch(b.bindingKey, alone.event_id, TERMINAL)).status).toBe("succeeded");
    const after = await callsOf(b.hook);
    expect(after).toHaveLength(2);
    expect(after[1]?.batch?.map((e) => e.id)).toEqual([alone.event_id]);
  });

  it("cancelling the leader promotes the next member, which keeps the deadline", async () => {
    const b = await flowBinding(
      { batch: { size: 10, timeout: "800ms" } },
      { responses: [], otherwise: { status: 200 } },
    );
    const leader = await arrive(b, { n: 1 }, ["held"]);
    const second = await arrive(b, { n: 2 }, ["held"]);
    const third = await arrive(b, { n: 3 }, ["held"]);
    const res = await cancel(b.bindingKey, leader.event_id);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ status: "cancelled", attempt_count: 0 });
    expect(await waitForDispatch(b.bindingKey, third.event_id, TERMINAL)).toMatchObject(skippedBy("batch_merged"));
    expect((await waitForDispatch(b.bindingKey, second.event_id, TERMINAL)).status).toBe("succeeded");
    const calls = await callsOf(b.hook);
    expect(calls).toHaveLength(1);
    expect(calls[0]?.batch?.map((e) => e.id)).toEqual([second.event_id, third.event_id]);
  });
});
