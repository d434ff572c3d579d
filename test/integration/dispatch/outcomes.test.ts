/** SPEC 6 status table and SPEC 12.1 response mapping, end to end through queues and the BindingGate. */
import { describe, expect, it } from "vitest";
import { api, handler, waitForDispatch } from "../../support/api";
import { publish, scriptedBinding } from "../../support/dispatch";

const TERMINAL = ["succeeded", "skipped", "waiting", "dlq", "failed", "cancelled"];
const fast = { retry: { max_attempts: 3, policy: { linear: { delay_ms: 20 } } } };

async function recordKinds(bindingKey: string, eventId: string) {
  const res = await api(
    "GET",
    `/v1/records?event_id=${eventId}&binding_key=${encodeURIComponent(bindingKey)}&limit=500`,
  );
  return (res.body.items as { topic: string; kind: string; payload: Record<string, unknown> }[]).filter(
    (r) => r.topic !== "observability.action_graph",
  );
}

describe("terminal outcomes", () => {
  it("410 Gone fails without retrying", async () => {
    const b = await scriptedBinding(
      { responses: [], otherwise: { status: 410, body: { error: "gone for good" } } },
      fast,
    );
    const { event_id } = await publish(b.provider);
    const d = await waitForDispatch(b.bindingKey, event_id, TERMINAL);
    expect(d).toMatchObject({ status: "failed", attempt_count: 1, error: "gone for good" });
    expect(await handler.calls(b.hook)).toHaveLength(1);
    const kinds = (await recordKinds(b.bindingKey, event_id)).map((r) => `${r.topic}:${r.kind}`);
    expect(kinds).toContain("triggers.lifecycle:DispatchFailed");
    expect(kinds).toContain("trigger.outbox:dispatch_failed");
  });

  it("x-switchyard-outcome: denied fails without retrying", async () => {
    const b = await scriptedBinding(
      {
        responses: [],
        otherwise: { status: 200, headers: { "x-switchyard-outcome": "denied" }, body: { error: "tier too low" } },
      },
      fast,
    );
    const { event_id } = await publish(b.provider);
    const d = await waitForDispatch(b.bindingKey, event_id, TERMINAL);
    expect(d).toMatchObject({ status: "failed", attempt_count: 1 });
    // The attempt reads as what the handler said, not as a failure.
    expect(d.attempts).toEqual([expect.objectContaining({ attempt: 1, outcome: "denied", status_code: 200 })]);
    const recorded = await api("GET", `/v1/records?topic=trigger.attempts&kind=attempt_recorded&event_id=${event_id}`);
    expect(recorded.body.items.map((r: { payload: { outcome: string } }) => r.payload.outcome)).toEqual(["denied"]);
  });

  it("x-switchyard-outcome: waiting leaves the dispatch waiting with the handler's message", async () => {
    const b = await scriptedBinding(
      {
        responses: [
          { status: 202, headers: { "x-switchyard-outcome": "waiting" }, body: { message: "awaiting human" } },
        ],
      },
      fast,
    );
    const { event_id } = await publish(b.provider);
    const d = await waitForDispatch(b.bindingKey, event_id, TERMINAL);
    expect(d).toMatchObject({
      status: "waiting",
      attempt_count: 1,
      result: { waiting: true, message: "awaiting human" },
    });
    const kinds = (await recordKinds(b.bindingKey, event_id)).map((r) => `${r.topic}:${r.kind}`);
    expect(kinds).toContain("trigger.outbox:dispatch_waiting");
  });

  it("a slow handler times out, is aborted, and dead-letters as handler_timeout", async () => {
    const b = await scriptedBinding(
      { responses: [], otherwise: { status: 200, delay_ms: 5_000 } },
      {
        timeout_ms: 300,
        retry: { max_attempts: 1, policy: "svix" },
      },
    );
    const { event_id } = await publish(b.provider);
    const d = await waitForDispatch(b.bindingKey, event_id, TERMINAL);
    expect(d).toMatchObject({ status: "dlq", attempt_count: 1, error: "handler timed out after 300ms" });
    const dlq = await api("GET", `/v1/dlq?binding_key=${encodeURIComponent(b.bindingKey)}`);
    expect(dlq.body.items[0]).toMatchObject({ error_class: "handler_timeout", reason: "retry_exhausted" });
    const calls = await handler.calls(b.hook);
    expect(calls).toHaveLength(1);
    // The abort closed the connection before the handler answered.
    await new Promise((r) => setTimeout(r, 100));
    expect((await handler.calls(b.hook))[0].aborted).toBe(true);
  });

  it("honours Retry-After on 503 before the next attempt", async () => {
    const b = await scriptedBinding(
      {
        responses: [
          { status: 503, headers: { "retry-after": "1" } },
          { status: 200, body: { ok: true } },
        ],
      },
      fast,
    );
    const { event_id } = await publish(b.provider);
    const d = await waitForDispatch(b.bindingKey, event_id, TERMINAL);
    expect(d).toMatchObject({ status: "succeeded", attempt_count: 2 });
    const calls = await handler.calls(b.hook);
    expect(calls[1].at - calls[0].at).toBeGreaterThanOrEqual(950);
    const retry = (await recordKinds(b.bindingKey, event_id)).find((r) => r.kind === "retry_scheduled");
    expect(retry?.payload).toMatchObject({ attempt: 2, delay_ms: 1000 });
  });

  it("records a dead-lettered dispatch in causal order", async () => {
    const b = await scriptedBinding(
      { responses: [], otherwise: { status: 500 } },
      {
        retry: { max_attempts: 2, policy: { linear: { delay_ms: 10 } } },
      },
    );
    const { event_id } = await publish(b.provider);
    await waitForDispatch(b.bindingKey, event_id, TERMINAL);
    const kinds = (await recordKinds(b.bindingKey, event_id)).map((r) => `${r.topic}:${r.kind}`);
    expect(kinds).toEqual([
      "triggers.lifecycle:DispatchStarted",
      "trigger.outbox:dispatch_started",
      "trigger.attempts:attempt_recorded",
      "triggers.lifecycle:DispatchFailed",
      "trigger.outbox:dispatch_failed",
      "triggers.lifecycle:RetryScheduled",
      "trigger.attempts:retry_scheduled",
      "triggers.lifecycle:DispatchStarted",
      "trigger.outbox:dispatch_started",
      "trigger.attempts:attempt_recorded",
      "triggers.lifecycle:DispatchFailed",
      "trigger.outbox:dispatch_failed",
      "triggers.lifecycle:DlqMoved",
      "trigger.dlq:dlq_moved",
    ]);
  });

  it("signs each request with Standard Webhooks headers and a stable webhook-id", async () => {
    const b = await scriptedBinding({ responses: [{ status: 500 }, { status: 200 }] }, fast);
    const { event_id, trace_id } = await publish(b.provider);
    await waitForDispatch(b.bindingKey, event_id, TERMINAL);
    const calls = await handler.calls(b.hook);
    expect(calls).toHaveLength(2);
    expect(calls[0].headers["webhook-id"]).toBe(calls[1].headers["webhook-id"]);
    expect(calls.map((c) => c.headers["x-switchyard-attempt"])).toEqual(["1", "2"]);
    expect(calls[0].headers.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    expect(calls[0].headers["x-switchyard-trace-id"]).toBe(trace_id);
    expect(calls[0].headers["x-switchyard-replay"]).toBeUndefined();
    const envelope = JSON.parse(calls[1].body);
    expect(envelope).toMatchObject({
      type: "switchyard.dispatch",
      attempt: 2,
      binding_key: b.bindingKey,
      trace_id,
      replay_of_event_id: null,
    });
  });
});

describe("service:// handlers", () => {
  it("calls a Worker through its service binding", async () => {
    const { bindingTo } = await import("../../support/dispatch");
    const b = await bindingTo("service://ECHO/inbox/github");
    const { event_id } = await publish(b.provider, "x.y", { hello: "world" });
    const d = await waitForDispatch(b.bindingKey, event_id, TERMINAL);
    expect(d.status).toBe("succeeded");
    expect(d.result.path).toBe("/inbox/github");
    expect(d.result.body.event.payload).toEqual({ hello: "world" });
    expect(d.result.headers["webhook-signature"]).toMatch(/^v1,/);
  });

  it("fails an unknown service binding as an invalid target", async () => {
    const { bindingTo } = await import("../../support/dispatch");
    const b = await bindingTo("service://NOPE/x");
    const { event_id } = await publish(b.provider);
    expect(await waitForDispatch(b.bindingKey, event_id, TERMINAL)).toMatchObject({
      status: "failed",
      error: "service binding 'NOPE' is not configured",
    });
  });
});
