/** SPEC 9.4 throttle (queue, FIFO): excess waits for a slot as a DO timer instead of being dropped. */
import { describe, expect, it } from "vitest";
import { waitForDispatch } from "../../support/api";
import {
  arrive,
  auditEventually,
  callsOf,
  cancel,
  dispatchIdOf,
  evictGate,
  flowBinding,
  gateStats,
  sleep,
  TERMINAL,
} from "./support";

/** When each `throttle_acquired` decision was taken at the gate (epoch ms), in order. */
function acquiredTimes(audit: { kind: string }[]): [number, number, number] {
  return audit
    .filter((r) => r.kind === "throttle_acquired")
    .map((r) => Date.parse((r as unknown as { at: string }).at)) as [number, number, number];
}

describe("throttle", () => {
  it("delays the excess to the next free slot instead of dropping it, in arrival order", async () => {
    // A period long enough that the three arrivals land inside it even on a loaded machine.
    const b = await flowBinding({ throttle: { period: "3s", max: 1 } }, { responses: [], otherwise: { status: 200 } });
    const gate = `${b.bindingKey}:_global`;
    const first = await arrive(b, { n: 1 });
    const second = await arrive(b, { n: 2 }, ["held", "admitted", "running", ...TERMINAL]);
    const third = await arrive(b, { n: 3 }, ["held", "admitted", "running", ...TERMINAL]);
    expect(second.status).toBe("held");
    expect(third.status).toBe("held");
    expect(second.detail.result).toMatchObject({ held: true, flow_control: "throttle", gate });
    expect(await gateStats(b.bindingKey, "throttle", gate)).toMatchObject({
      limit: 1,
      window: 1,
      waiting: 2,
      head: dispatchIdOf(b.bindingKey, second.event_id),
    });

    for (const e of [first, second, third]) {
      expect(await waitForDispatch(b.bindingKey, e.event_id, TERMINAL)).toMatchObject({
        status: "succeeded",
        attempt_count: 1,
      });
    }
    const calls = await callsOf(b.hook);
    expect(calls.map((c) => c.event_id)).toEqual([first.event_id, second.event_id, third.event_id]);

    const audit = await auditEventually("throttle", gate, 5);
    expect(audit.map((r) => [r.kind, r.event_id])).toEqual([
      ["throttle_acquired", first.event_id],
      ["throttle_wait", second.event_id],
      ["throttle_wait", third.event_id],
      ["throttle_acquired", second.event_id],
      ["throttle_acquired", third.event_id],
    ]);
    expect(audit[3]?.payload.waited_ms).toBeGreaterThan(0);
    // Slots are a period apart at the gate (handler arrival adds queue latency, so it is not compared).
    const acquired = acquiredTimes(audit);
    expect(acquired[1] - acquired[0]).toBeGreaterThanOrEqual(3_000);
    expect(acquired[2] - acquired[1]).toBeGreaterThanOrEqual(3_000);
  });

  it("keys throttle per gate", async () => {
    const b = await flowBinding(
      { throttle: { key: "event.payload.account", period: "2s", max: 1 } },
      { responses: [], otherwise: { status: 200 } },
    );
    const a = await arrive(b, { account: "a" }, TERMINAL);
    const other = await arrive(b, { account: "b" }, TERMINAL);
    expect(a.detail.status).toBe("succeeded");
    expect(other.detail.status).toBe("succeeded");
    const again = await arrive(b, { account: "a" });
    expect(again.status).toBe("held");
  });

  it("cancelling a throttled waiter ends it at once and the next takes its place", async () => {
    const b = await flowBinding({ throttle: { period: "3s", max: 1 } }, { responses: [], otherwise: { status: 200 } });
    const gate = `${b.bindingKey}:_global`;
    const first = await arrive(b, { n: 1 });
    const head = await arrive(b, { n: 2 }, ["held"]);
    const next = await arrive(b, { n: 3 }, ["held"]);
    const before = await gateStats(b.bindingKey, "throttle", gate);
    expect(before).toMatchObject({ waiting: 2, head: dispatchIdOf(b.bindingKey, head.event_id) });

    const res = await cancel(b.bindingKey, head.event_id);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      status: "cancelled",
      attempt_count: 0,
      error: "trigger cancel request cancelled dispatch before attempt 1",
    });
    const after = await gateStats(b.bindingKey, "throttle", gate);
    expect(after).toMatchObject({ waiting: 1, head: dispatchIdOf(b.bindingKey, next.event_id) });
    // The new head inherits the freed slot (the same time the cancelled head waited for).
    expect(after?.due).toBe(before?.due);

    expect((await waitForDispatch(b.bindingKey, next.event_id, TERMINAL)).status).toBe("succeeded");
    await sleep(100);
    const calls = await callsOf(b.hook);
    expect(calls.map((c) => c.event_id)).toEqual([first.event_id, next.event_id]);
    const audit = await auditEventually("throttle", gate, 5);
    const acquired = acquiredTimes(audit);
    expect(acquired).toHaveLength(2);
    expect(acquired[1] - acquired[0]).toBeGreaterThanOrEqual(3_000);
  });

  it("stacks windows: a waiter goes once every window has a slot, and survives the gate's eviction", async () => {
    const b = await flowBinding(
      {
        throttle: [
          { key: "event.payload.user", period: "2s", max: 5 },
          { key: "event.payload.project", period: "2s", max: 1 },
        ],
      },
      { responses: [], otherwise: { status: 200 } },
    );
    const first = await arrive(b, { user: "ann", project: "apollo" });
    const held = await arrive(b, { user: "bob", project: "apollo" }, ["held", "admitted", "running", ...TERMINAL]);
    expect(held.status).toBe("held");
    const queue = `${b.bindingKey}:bob#0+apollo#1`;
    expect(held.detail.result).toMatchObject({ held: true, flow_control: "throttle", gate: queue });
    expect(await gateStats(b.bindingKey, "throttle", queue)).toMatchObject({ waiting: 1, limit: null });
    await evictGate(b.bindingKey);
    for (const e of [first, held]) {
      expect(await waitForDispatch(b.bindingKey, e.event_id, TERMINAL)).toMatchObject({ status: "succeeded" });
    }
    const project = await auditEventually("throttle", `${b.bindingKey}:apollo#1`, 2);
    expect(project.map((r) => [r.kind, r.event_id, r.payload.limit_index])).toEqual([
      ["throttle_acquired", first.event_id, 1],
      ["throttle_acquired", held.event_id, 1],
    ]);
    const acquired = project.map((r) => Date.parse((r as unknown as { at: string }).at));
    expect((acquired[1] ?? 0) - (acquired[0] ?? 0)).toBeGreaterThanOrEqual(2_000);
    const bob = await auditEventually("throttle", `${b.bindingKey}:bob#0`, 1);
    expect(bob.map((r) => [r.kind, r.payload.limit_index])).toEqual([["throttle_acquired", 0]]);
  });
});
