/** SPEC 9.5 singleton: skip while held; the lease spans retry waits and ends with the dispatch. */
import { describe, expect, it } from "vitest";
import { waitForDispatch } from "../../support/api";
import {
  arrive,
  auditEventually,
  bindingStats,
  callsOf,
  cancel,
  dispatchIdOf,
  flowBinding,
  gateStats,
  recordsOf,
  skippedBy,
  TERMINAL,
} from "./support";

describe("singleton", () => {
  it("skips a second dispatch while the first runs, then admits again after it ends", async () => {
    const b = await flowBinding(
      { singleton: {} },
      { responses: [{ status: 200, body: { first: true }, delay_ms: 1_500 }], otherwise: { status: 200 } },
    );
    const gate = `${b.bindingKey}:_global`;
    const a = await arrive(b, { n: 1 }, ["running"]);
    const second = await arrive(b, { n: 2 }, TERMINAL);
    expect(second.detail).toMatchObject(skippedBy("singleton_active"));
    const outbox = await recordsOf(second.event_id, "trigger.outbox", "dispatch_skipped");
    expect(outbox[0]?.payload).toMatchObject({
      skip_stage: "flow_control",
      detail: { skipped: true, flow_control: "singleton_active" },
    });
    expect(await gateStats(b.bindingKey, "singleton", gate)).toMatchObject({
      limit: 1,
      active: 1,
      holders: [dispatchIdOf(b.bindingKey, a.event_id)],
    });

    expect(await waitForDispatch(b.bindingKey, a.event_id, TERMINAL)).toMatchObject({
      status: "succeeded",
      result: { first: true },
    });
    const third = await arrive(b, { n: 3 }, TERMINAL);
    expect(third.detail).toMatchObject({ status: "succeeded", attempt_count: 1 });
    expect((await callsOf(b.hook)).map((c) => c.event_id)).toEqual([a.event_id, third.event_id]);

    const audit = await auditEventually("singleton", gate, 5);
    expect(audit.map((r) => [r.kind, r.event_id])).toEqual([
      ["singleton_acquired", a.event_id],
      ["singleton_skipped", second.event_id],
      ["singleton_released", a.event_id],
      ["singleton_acquired", third.event_id],
      ["singleton_released", third.event_id],
    ]);
    expect(audit[1]?.payload).toMatchObject({ holder: dispatchIdOf(b.bindingKey, a.event_id) });
  });

  it("holds the lease across a retry wait", async () => {
    const b = await flowBinding(
      { singleton: { key: "event.payload.job" } },
      { responses: [{ status: 500 }, { status: 200, body: { second: true } }], otherwise: { status: 200 } },
      { retry: { max_attempts: 3, policy: { linear: { delay_ms: 2_000 } } } },
    );
    const a = await arrive(b, { job: "nightly" }, ["retry_scheduled"]);
    // Another key is independent.
    const otherKey = await arrive(b, { job: "hourly" }, TERMINAL);
    expect(otherKey.detail.status).toBe("succeeded");
    // Same key during the retry wait: skipped.
    const during = await arrive(b, { job: "nightly" }, TERMINAL);
    expect(during.detail).toMatchObject(skippedBy("singleton_active"));
    expect(await gateStats(b.bindingKey, "singleton", `${b.bindingKey}:nightly`)).toMatchObject({
      active: 1,
      holders: [dispatchIdOf(b.bindingKey, a.event_id)],
    });

    expect(await waitForDispatch(b.bindingKey, a.event_id, TERMINAL)).toMatchObject({
      status: "succeeded",
      attempt_count: 2,
    });
    const after = await arrive(b, { job: "nightly" }, TERMINAL);
    expect(after.detail).toMatchObject({ status: "succeeded", attempt_count: 1 });
    expect(await gateStats(b.bindingKey, "singleton", `${b.bindingKey}:nightly`)).toBeUndefined();
  });

  it("is released when the holder dead-letters", async () => {
    const b = await flowBinding(
      { singleton: {} },
      { responses: [{ status: 500 }], otherwise: { status: 200 } },
      { retry: { max_attempts: 1, policy: "svix" } },
    );
    const a = await arrive(b, { n: 1 }, TERMINAL);
    expect(a.detail.status).toBe("dlq");
    const next = await arrive(b, { n: 2 }, TERMINAL);
    expect(next.detail.status).toBe("succeeded");
  });

  it("is released while the holder is waiting", async () => {
    const b = await flowBinding(
      { singleton: {} },
      {
        responses: [{ status: 202, headers: { "x-switchyard-outcome": "waiting" }, body: { message: "review" } }],
        otherwise: { status: 200 },
      },
    );
    const a = await arrive(b, { n: 1 }, TERMINAL);
    expect(a.detail.status).toBe("waiting");
    const next = await arrive(b, { n: 2 }, TERMINAL);
    expect(next.detail.status).toBe("succeeded");
  });

  it("cancelling the running holder releases the lease", async () => {
    const b = await flowBinding(
      { singleton: {} },
      { responses: [{ status: 200, delay_ms: 20_000 }], otherwise: { status: 200 } },
      { timeout_ms: "30s" },
    );
    const gate = `${b.bindingKey}:_global`;
    const a = await arrive(b, { n: 1 }, ["running"]);
    expect((await gateStats(b.bindingKey, "singleton", gate))?.active).toBe(1);
    const res = await cancel(b.bindingKey, a.event_id);
    expect(res.status).toBe(202);
    expect(await waitForDispatch(b.bindingKey, a.event_id, TERMINAL, 5_000)).toMatchObject({
      status: "cancelled",
      error: "trigger cancel request cancelled handler",
    });
    expect(await gateStats(b.bindingKey, "singleton", gate)).toBeUndefined();
    const next = await arrive(b, { n: 2 }, TERMINAL);
    expect(next.detail).toMatchObject({ status: "succeeded", attempt_count: 1 });
  });

  it("cancelling the holder during its retry wait releases the lease", async () => {
    const b = await flowBinding(
      { singleton: {} },
      { responses: [{ status: 500 }], otherwise: { status: 200 } },
      { retry: { max_attempts: 3, policy: { linear: { delay_ms: "1h" } } } },
    );
    const a = await arrive(b, { n: 1 }, ["retry_scheduled"]);
    expect((await arrive(b, { n: 2 }, TERMINAL)).detail).toMatchObject(skippedBy("singleton_active"));
    const res = await cancel(b.bindingKey, a.event_id);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ status: "cancelled", error: "trigger cancel request cancelled retry wait" });
    const next = await arrive(b, { n: 3 }, TERMINAL);
    expect(next.detail).toMatchObject({ status: "succeeded", attempt_count: 1 });
  });

  it("applies even when /v1/stats looked at the gate before its first event", async () => {
    const b = await flowBinding(
      { singleton: {} },
      { responses: [{ status: 200, delay_ms: 1_500 }], otherwise: { status: 200 } },
    );
    // The stats route asks every binding's gate for a snapshot, including this still unused one.
    const before = await bindingStats(b.bindingKey);
    expect(before.gates).toEqual([]);
    const a = await arrive(b, { n: 1 }, ["running"]);
    const second = await arrive(b, { n: 2 }, TERMINAL);
    expect(second.detail).toMatchObject(skippedBy("singleton_active"));
    await waitForDispatch(b.bindingKey, a.event_id, TERMINAL);
  });
});
