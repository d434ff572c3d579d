/** SPEC 9.6 concurrency + priority, and cancellation releasing leases and places (SPEC 13.1, 18.1, 18.4). */
import { describe, expect, it } from "vitest";
import { api, waitForDispatch } from "../../support/api";
import {
  arrive,
  auditEventually,
  callsEventually,
  callsOf,
  cancel,
  dispatchIdOf,
  flowBinding,
  gateStats,
  recordsOf,
  sleep,
  TERMINAL,
} from "./support";

const tiers = { concurrency: { max: 1 }, priority: { key: "event.payload.tier", order: ["gold", "silver", "bronze"] } };

describe("concurrency + priority", () => {
  it("runs gold before an earlier bronze, FIFO within a rank (SPEC 9 example, max 1)", async () => {
    const b = await flowBinding(tiers, {
      responses: [{ status: 200, delay_ms: 2_500 }],
      otherwise: { status: 200, delay_ms: 50 },
    });
    const gate = `${b.bindingKey}:_global`;
    const bronze1 = await arrive(b, { tier: "bronze", n: 1 }, ["running"]);
    const bronze2 = await arrive(b, { tier: "bronze", n: 2 }, ["held"]);
    const gold = await arrive(b, { tier: "gold" }, ["held"]);
    const bronze3 = await arrive(b, { tier: "bronze", n: 3 }, ["held"]);
    // An unknown tier ranks after every listed one.
    const unknown = await arrive(b, { tier: "tin" }, ["held"]);
    expect(bronze2.detail.result).toEqual({ held: true, flow_control: "concurrency", gate, until: null });

    const stats = await gateStats(b.bindingKey, "concurrency", gate);
    expect(stats).toMatchObject({
      limit: 1,
      active: 1,
      holders: [dispatchIdOf(b.bindingKey, bronze1.event_id)],
      waiting: 4,
      head: dispatchIdOf(b.bindingKey, gold.event_id),
    });
    // Everything was queued while bronze#1 still ran: the premise of the order check below.
    expect((await callsOf(b.hook)).length).toBe(1);

    for (const e of [bronze1, bronze2, gold, bronze3, unknown]) {
      expect(await waitForDispatch(b.bindingKey, e.event_id, TERMINAL)).toMatchObject({
        status: "succeeded",
        attempt_count: 1,
      });
    }
    const calls = await callsOf(b.hook);
    expect(calls.map((c) => c.event_id)).toEqual([
      bronze1.event_id,
      gold.event_id,
      bronze2.event_id,
      bronze3.event_id,
      unknown.event_id,
    ]);
    for (let i = 1; i < calls.length; i++) {
      expect(calls[i]?.at).toBeGreaterThanOrEqual(calls[i - 1]?.at ?? 0);
    }
    // Never two at once: each call starts after the previous one's 50 ms answer (plus gate round trips).
    expect((calls[2]?.at ?? 0) - (calls[1]?.at ?? 0)).toBeGreaterThanOrEqual(45);

    const audit = await auditEventually("concurrency", gate, 14);
    const waits = audit.filter((r) => r.kind === "concurrency_wait");
    expect(waits.map((r) => [r.event_id, r.payload.rank])).toEqual([
      [bronze2.event_id, 2],
      [gold.event_id, 0],
      [bronze3.event_id, 2],
      [unknown.event_id, 3],
    ]);
    expect(audit.filter((r) => r.kind === "concurrency_acquired").map((r) => r.event_id)).toEqual(
      calls.map((c) => c.event_id),
    );
    expect(await gateStats(b.bindingKey, "concurrency", gate)).toBeUndefined();
  });

  it("admits up to max dispatches per key and queues the rest", async () => {
    const b = await flowBinding(
      { concurrency: { key: "event.payload.account", max: 2 } },
      { responses: [], otherwise: { status: 200, delay_ms: 1_000 } },
    );
    // The local dispatch queue runs one batch at a time, so "admitted" (past the gate, attempt
    // queued) rather than "running" is what shows that a slot was granted.
    const a1 = await arrive(b, { account: "a" }, ["running"]);
    const a2 = await arrive(b, { account: "a" }, ["admitted", "running"]);
    const a3 = await arrive(b, { account: "a" }, ["held"]);
    const other = await arrive(b, { account: "b" }, ["admitted", "running"]);
    expect(await gateStats(b.bindingKey, "concurrency", `${b.bindingKey}:a`)).toMatchObject({
      limit: 2,
      active: 2,
      holders: [dispatchIdOf(b.bindingKey, a1.event_id), dispatchIdOf(b.bindingKey, a2.event_id)],
      waiting: 1,
      head: dispatchIdOf(b.bindingKey, a3.event_id),
    });
    expect(await gateStats(b.bindingKey, "concurrency", `${b.bindingKey}:b`)).toMatchObject({ active: 1, waiting: 0 });
    for (const e of [a1, a2, a3, other]) {
      expect((await waitForDispatch(b.bindingKey, e.event_id, TERMINAL)).status).toBe("succeeded");
    }
    const audit = (await auditEventually("concurrency", `${b.bindingKey}:a`, 7)).map((r) => [r.kind, r.event_id]);
    expect(audit.slice(0, 3)).toEqual([
      ["concurrency_acquired", a1.event_id],
      ["concurrency_acquired", a2.event_id],
      ["concurrency_wait", a3.event_id],
    ]);
    // a3 got its slot only when one of the first two released theirs.
    expect(audit[3]?.[0]).toBe("concurrency_released");
    expect(audit[4]).toEqual(["concurrency_acquired", a3.event_id]);
  });

  it("holds the slot across a retry wait and frees it while the holder is waiting", async () => {
    const b = await flowBinding(
      { concurrency: { max: 1 } },
      {
        responses: [
          { status: 500 },
          { status: 202, headers: { "x-switchyard-outcome": "waiting" }, body: { message: "review" } },
        ],
        otherwise: { status: 200 },
      },
      { retry: { max_attempts: 3, policy: { linear: { delay_ms: 1_000 } } } },
    );
    const a = await arrive(b, { n: 1 }, ["retry_scheduled"]);
    const next = await arrive(b, { n: 2 }, ["held"]);
    expect(await waitForDispatch(b.bindingKey, a.event_id, TERMINAL)).toMatchObject({
      status: "waiting",
      attempt_count: 2,
    });
    expect((await waitForDispatch(b.bindingKey, next.event_id, TERMINAL)).status).toBe("succeeded");
    // Completing the waiting dispatch later changes nothing for the gate.
    const done = await api("POST", `/v1/dispatches/${encodeURIComponent(b.bindingKey)}/${a.event_id}/complete`, {
      status: "succeeded",
    });
    expect(done.status).toBe(200);
    const last = await arrive(b, { n: 3 }, TERMINAL);
    expect(last.detail.status).toBe("succeeded");
  });
});

describe("cancellation releases leases and places", () => {
  it("cancelling the running holder admits the head waiter right after", async () => {
    const b = await flowBinding(
      { concurrency: { max: 1 } },
      { responses: [{ status: 200, delay_ms: 20_000 }], otherwise: { status: 200, body: { next: true } } },
      { timeout_ms: "30s" },
    );
    const gate = `${b.bindingKey}:_global`;
    const running = await arrive(b, { n: 1 }, ["running"]);
    await callsEventually(b.hook, 1);
    const waiting = await arrive(b, { n: 2 }, ["held"]);
    expect(await gateStats(b.bindingKey, "concurrency", gate)).toMatchObject({
      active: 1,
      holders: [dispatchIdOf(b.bindingKey, running.event_id)],
      waiting: 1,
      head: dispatchIdOf(b.bindingKey, waiting.event_id),
    });

    const res = await cancel(b.bindingKey, running.event_id, { reason: "stop" });
    expect(res.status).toBe(202);
    expect(await waitForDispatch(b.bindingKey, running.event_id, TERMINAL, 5_000)).toMatchObject({
      status: "cancelled",
      attempt_count: 1,
      error: "trigger cancel request cancelled handler",
    });
    // The waiter did not have to wait for the 20 s handler.
    expect(await waitForDispatch(b.bindingKey, waiting.event_id, TERMINAL, 5_000)).toMatchObject({
      status: "succeeded",
      result: { next: true },
    });
    const calls = await callsOf(b.hook);
    expect(calls.map((c) => c.event_id)).toEqual([running.event_id, waiting.event_id]);
    expect(calls[0]?.aborted).toBe(true);
    expect(await gateStats(b.bindingKey, "concurrency", gate)).toBeUndefined();
    const audit = await auditEventually("concurrency", gate, 5);
    expect(audit.map((r) => [r.kind, r.event_id])).toEqual([
      ["concurrency_acquired", running.event_id],
      ["concurrency_wait", waiting.event_id],
      ["concurrency_released", running.event_id],
      ["concurrency_acquired", waiting.event_id],
      ["concurrency_released", waiting.event_id],
    ]);
  });

  it("cancelling a waiter ends it at once and frees its place", async () => {
    const b = await flowBinding(
      { concurrency: { max: 1 } },
      { responses: [{ status: 200, delay_ms: 1_500 }], otherwise: { status: 200, delay_ms: 800 } },
    );
    const gate = `${b.bindingKey}:_global`;
    const running = await arrive(b, { n: 1 }, ["running"]);
    const first = await arrive(b, { n: 2 }, ["held"]);
    const second = await arrive(b, { n: 3 }, ["held"]);
    expect(await gateStats(b.bindingKey, "concurrency", gate)).toMatchObject({
      active: 1,
      waiting: 2,
      head: dispatchIdOf(b.bindingKey, first.event_id),
    });

    const res = await cancel(b.bindingKey, first.event_id, { requested_by: "ops" });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      status: "cancelled",
      attempt_count: 0,
      error: "trigger cancel request cancelled dispatch before attempt 1",
    });
    expect(await gateStats(b.bindingKey, "concurrency", gate)).toMatchObject({
      active: 1,
      waiting: 1,
      head: dispatchIdOf(b.bindingKey, second.event_id),
    });
    const cancelled = await recordsOf(first.event_id, "trigger.cancel.requests");
    expect(cancelled.map((r) => r.kind)).toEqual(["cancel_requested", "cancel_applied"]);

    expect((await waitForDispatch(b.bindingKey, running.event_id, TERMINAL)).status).toBe("succeeded");
    // Once admitted, the former waiter no longer shows its `{held: true, …}` detail.
    expect(await waitForDispatch(b.bindingKey, second.event_id, ["running"])).toMatchObject({ result: null });
    expect((await waitForDispatch(b.bindingKey, second.event_id, TERMINAL)).status).toBe("succeeded");
    await sleep(200);
    expect((await callsOf(b.hook)).map((c) => c.event_id)).toEqual([running.event_id, second.event_id]);
    expect(await gateStats(b.bindingKey, "concurrency", gate)).toBeUndefined();
  });
});

describe("bindings that cannot be combined (SPEC 9)", () => {
  const base = { provider: "github", handler: "https://hooks.example.com/in" };

  it("rejects batch combined with another primitive", async () => {
    const res = await api("PUT", "/v1/bindings/flow-batch-combined", {
      ...base,
      flow_control: { batch: { size: 2, timeout: "1s" }, singleton: {} },
    });
    expect(res.status).toBe(400);
    expect(res.body.error.details.problems).toContainEqual({
      path: "flow_control.batch",
      message: "batch cannot be combined with other flow-control primitives",
    });
  });

  it("rejects priority without concurrency", async () => {
    const res = await api("PUT", "/v1/bindings/flow-priority-alone", {
      ...base,
      flow_control: { priority: { key: "event.payload.tier", order: ["gold"] } },
    });
    expect(res.status).toBe(400);
    expect(res.body.error.details.problems).toContainEqual({
      path: "flow_control.priority",
      message: "priority requires concurrency",
    });
  });
});
