/**
 * SPEC 9 / 18.9: flow-control state lives in the BindingGate's SQLite, so leases, waiters and flow
 * timers survive Durable Object eviction. Evictions happen while nothing is in flight at the gate
 * (an attempt in progress keeps its cancel stream open, which eviction would wait for): during a
 * retry wait of the lease holder, or while dispatches only wait on a timer.
 */
import { describe, expect, it } from "vitest";
import { waitForDispatch } from "../../support/api";
import { arrive, callsOf, dispatchIdOf, evictGate, flowBinding, gateStats, skippedBy, TERMINAL } from "./support";

describe("flow control across Durable Object eviction", () => {
  it("a singleton lease held across a retry wait survives eviction", async () => {
    const b = await flowBinding(
      { singleton: {} },
      { responses: [{ status: 500 }, { status: 200, body: { second: true } }], otherwise: { status: 200 } },
      { retry: { max_attempts: 3, policy: { linear: { delay_ms: 2_000 } } } },
    );
    const gate = `${b.bindingKey}:_global`;
    const holder = await arrive(b, { n: 1 }, ["retry_scheduled"]);
    await evictGate(b.bindingKey);

    const during = await arrive(b, { n: 2 }, TERMINAL);
    expect(during.detail).toMatchObject(skippedBy("singleton_active"));
    expect(await gateStats(b.bindingKey, "singleton", gate)).toMatchObject({
      active: 1,
      holders: [dispatchIdOf(b.bindingKey, holder.event_id)],
    });

    expect(await waitForDispatch(b.bindingKey, holder.event_id, TERMINAL)).toMatchObject({
      status: "succeeded",
      attempt_count: 2,
      result: { second: true },
    });
    const after = await arrive(b, { n: 3 }, TERMINAL);
    expect(after.detail).toMatchObject({ status: "succeeded", attempt_count: 1 });
  });

  it("concurrency leases and waiters survive eviction and are admitted in order", async () => {
    const b = await flowBinding(
      { concurrency: { max: 1 } },
      { responses: [{ status: 500 }], otherwise: { status: 200 } },
      { retry: { max_attempts: 3, policy: { linear: { delay_ms: 2_000 } } } },
    );
    const gate = `${b.bindingKey}:_global`;
    const holder = await arrive(b, { n: 1 }, ["retry_scheduled"]);
    const waiter = await arrive(b, { n: 2 }, ["held"]);
    await evictGate(b.bindingKey);

    const late = await arrive(b, { n: 3 }, ["held", "admitted", "running", ...TERMINAL]);
    expect(late.status).toBe("held");
    expect(await gateStats(b.bindingKey, "concurrency", gate)).toMatchObject({
      active: 1,
      holders: [dispatchIdOf(b.bindingKey, holder.event_id)],
      waiting: 2,
      head: dispatchIdOf(b.bindingKey, waiter.event_id),
    });

    for (const e of [holder, waiter, late]) {
      expect((await waitForDispatch(b.bindingKey, e.event_id, TERMINAL)).status).toBe("succeeded");
    }
    const calls = await callsOf(b.hook);
    expect(calls.map((c) => c.event_id)).toEqual([holder.event_id, holder.event_id, waiter.event_id, late.event_id]);
    expect(await gateStats(b.bindingKey, "concurrency", gate)).toBeUndefined();
  });

  it("flow timers (throttle slot, debounce period) fire after eviction", async () => {
    const throttled = await flowBinding({ throttle: { period: "1s", max: 1 } }, { responses: [] });
    const debounced = await flowBinding({ debounce: { key: "event.kind", period: "700ms" } }, { responses: [] });
    const first = await arrive(throttled, { n: 1 }, TERMINAL);
    const waiting = await arrive(throttled, { n: 2 }, ["held"]);
    const latest = await arrive(debounced, { n: 1 }, ["held"]);
    await evictGate(throttled.bindingKey);
    await evictGate(debounced.bindingKey);

    expect(first.detail.status).toBe("succeeded");
    expect((await waitForDispatch(throttled.bindingKey, waiting.event_id, TERMINAL)).status).toBe("succeeded");
    expect((await waitForDispatch(debounced.bindingKey, latest.event_id, TERMINAL)).status).toBe("succeeded");
    const calls = await callsOf(throttled.hook);
    expect((calls[1]?.at ?? 0) - (calls[0]?.at ?? 0)).toBeGreaterThanOrEqual(900);
  });
});
