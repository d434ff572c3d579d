/** Cancellation, completion of waiting dispatches, replay and DLQ replay (SPEC 13). */
import { describe, expect, it } from "vitest";
import { api, eventually, handler, waitForDispatch } from "../../support/api";
import { publish, scriptedBinding } from "../../support/dispatch";

const TERMINAL = ["succeeded", "skipped", "waiting", "dlq", "failed", "cancelled"];
const path = (bindingKey: string, eventId: string) => `/v1/dispatches/${encodeURIComponent(bindingKey)}/${eventId}`;

async function replaysOf(eventId: string) {
  const res = await api("GET", `/v1/dispatches?replay_of_event_id=${eventId}`);
  return res.body.items as { status: string; attempt_count: number; binding_key: string }[];
}

describe("cancel", () => {
  it("before the first attempt (a held dispatch) ends cancelled with attempt_count 0", async () => {
    const b = await scriptedBinding({ responses: [{ status: 200 }] });
    expect((await api("POST", `/v1/bindings/${b.id}/pause`)).status).toBe(200);
    const { event_id } = await publish(b.provider);
    await waitForDispatch(b.bindingKey, event_id, ["held"]);
    const res = await api("POST", `${path(b.bindingKey, event_id)}/cancel`, {
      requested_by: "ops",
      reason: "not needed",
    });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      status: "cancelled",
      attempt_count: 0,
      error: "trigger cancel request cancelled dispatch before attempt 1",
    });
    await api("POST", `/v1/bindings/${b.id}/resume`);
    await new Promise((r) => setTimeout(r, 300));
    expect(await handler.calls(b.hook)).toHaveLength(0);
    const records = await api("GET", `/v1/records?topic=trigger.cancel.requests&event_id=${event_id}`);
    expect(records.body.items.map((r: { kind: string }) => r.kind)).toEqual(["cancel_requested", "cancel_applied"]);
    expect(records.body.items[0].payload).toMatchObject({ requested_by: "ops", reason: "not needed" });
  });

  it("during a retry wait ends the wait at once", async () => {
    const b = await scriptedBinding(
      { responses: [{ status: 500 }], otherwise: { status: 200 } },
      {
        retry: { max_attempts: 5, policy: { linear: { delay_ms: "1h" } } },
      },
    );
    const { event_id } = await publish(b.provider);
    await waitForDispatch(b.bindingKey, event_id, ["retry_scheduled"]);
    const res = await api("POST", `${path(b.bindingKey, event_id)}/cancel`);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      status: "cancelled",
      attempt_count: 1,
      error: "trigger cancel request cancelled retry wait",
    });
    expect(await handler.calls(b.hook)).toHaveLength(1);
    const outbox = await api("GET", `/v1/records?topic=trigger.outbox&event_id=${event_id}&kind=dispatch_failed`);
    expect(outbox.body.items.at(-1).payload).toMatchObject({ status: "cancelled" });
  });

  it("aborts an in-flight handler call", async () => {
    const b = await scriptedBinding({ responses: [{ status: 200, delay_ms: 20_000 }] }, { timeout_ms: "30s" });
    const { event_id } = await publish(b.provider);
    await waitForDispatch(b.bindingKey, event_id, ["running"]);
    await eventually(async () => ((await handler.calls(b.hook)).length === 1 ? true : undefined));
    const res = await api("POST", `${path(b.bindingKey, event_id)}/cancel`, { reason: "stop" });
    expect(res.status).toBe(202);
    expect(res.body).toEqual({ status: "cancel_requested" });
    const d = await waitForDispatch(b.bindingKey, event_id, TERMINAL, 5_000);
    expect(d).toMatchObject({
      status: "cancelled",
      attempt_count: 1,
      error: "trigger cancel request cancelled handler",
    });
    expect(d.attempts).toEqual([expect.objectContaining({ attempt: 1, outcome: "cancelled" })]);
    const recorded = await api("GET", `/v1/records?topic=trigger.attempts&kind=attempt_recorded&event_id=${event_id}`);
    expect(recorded.body.items.map((r: { payload: { outcome: string } }) => r.payload.outcome)).toEqual(["cancelled"]);
    await eventually(async () => ((await handler.calls(b.hook))[0].aborted ? true : undefined), 3_000);
  });

  it("ends a dispatch resting in waiting (the handler's waiting answer) as cancelled", async () => {
    const b = await scriptedBinding({
      responses: [{ status: 202, headers: { "x-switchyard-outcome": "waiting" }, body: { message: "on it" } }],
    });
    const { event_id } = await publish(b.provider);
    await waitForDispatch(b.bindingKey, event_id, ["waiting"]);
    const res = await api("POST", `${path(b.bindingKey, event_id)}/cancel`, { reason: "stale" });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body).toMatchObject({
      status: "cancelled",
      attempt_count: 1,
      error: "trigger cancel request cancelled waiting dispatch",
    });
    // The attempt itself stays what it was: the handler answered waiting.
    expect(res.body.attempts).toEqual([expect.objectContaining({ attempt: 1, outcome: "waiting" })]);
    expect((await api("POST", `${path(b.bindingKey, event_id)}/complete`, { status: "succeeded" })).status).toBe(409);
    expect((await api("POST", `${path(b.bindingKey, event_id)}/cancel`)).status).toBe(409);
  });

  it("answers 409 for a terminal dispatch and 404 for an unknown one", async () => {
    const b = await scriptedBinding({ responses: [{ status: 200 }] });
    const { event_id } = await publish(b.provider);
    await waitForDispatch(b.bindingKey, event_id, TERMINAL);
    const res = await api("POST", `${path(b.bindingKey, event_id)}/cancel`);
    expect(res.status).toBe(409);
    expect(res.body.error.code).toBe("conflict");
    expect((await api("POST", `${path(b.bindingKey, "evt_nope")}/cancel`)).status).toBe(404);
    expect((await api("POST", `/v1/dispatches/not-a-key/${event_id}/cancel`)).status).toBe(404);
    expect((await api("POST", `${path(b.bindingKey, event_id)}/cancel`, { bogus: 1 })).status).toBe(400);
  });
});

describe("complete", () => {
  it("finishes a waiting dispatch once", async () => {
    const b = await scriptedBinding({
      responses: [{ status: 202, headers: { "x-switchyard-outcome": "waiting" }, body: { message: "review" } }],
    });
    const { event_id } = await publish(b.provider);
    await waitForDispatch(b.bindingKey, event_id, TERMINAL);
    const done = await api("POST", `${path(b.bindingKey, event_id)}/complete`, {
      status: "succeeded",
      result: { approved: true },
    });
    expect(done.status).toBe(200);
    expect(done.body).toMatchObject({ status: "succeeded", result: { approved: true }, attempt_count: 1 });
    const again = await api("POST", `${path(b.bindingKey, event_id)}/complete`, { status: "failed" });
    expect(again.status).toBe(409);
    const bad = await api("POST", `${path(b.bindingKey, event_id)}/complete`, { status: "maybe" });
    expect(bad.status).toBe(400);
    let deep: unknown = 1;
    for (let i = 0; i < 5000; i++) deep = [deep];
    const tooDeep = await api("POST", `${path(b.bindingKey, event_id)}/complete`, {
      status: "succeeded",
      result: deep,
    });
    expect(tooDeep.status).toBe(400);
    const lifecycle = await api(
      "GET",
      `/v1/records?topic=triggers.lifecycle&event_id=${event_id}&kind=DispatchSucceeded`,
    );
    expect(lifecycle.body.items).toHaveLength(1);
  });

  it("can fail a waiting dispatch with an error", async () => {
    const b = await scriptedBinding({
      responses: [{ status: 200, headers: { "x-switchyard-outcome": "waiting" }, body: "later" }],
    });
    const { event_id } = await publish(b.provider);
    await waitForDispatch(b.bindingKey, event_id, TERMINAL);
    const done = await api("POST", `${path(b.bindingKey, event_id)}/complete`, {
      status: "failed",
      error: "rejected by reviewer",
    });
    expect(done.body).toMatchObject({ status: "failed", error: "rejected by reviewer" });
  });
});

describe("replay", () => {
  it("re-dispatches an event with lineage, one attempt, and x-switchyard-replay", async () => {
    const b = await scriptedBinding(
      { responses: [{ status: 200 }, { status: 500 }], otherwise: { status: 200 } },
      {
        retry: { max_attempts: 5, policy: { linear: { delay_ms: 10 } } },
      },
    );
    const { event_id } = await publish(b.provider);
    await waitForDispatch(b.bindingKey, event_id, TERMINAL);
    const res = await api("POST", `/v1/events/${event_id}/replay`);
    expect(res.status).toBe(202);
    expect(res.body.items).toEqual([{ binding_key: b.bindingKey, event_id, replay_of_event_id: event_id }]);
    const replay = await eventually(async () => {
      const items = await replaysOf(event_id);
      return items[0] && TERMINAL.includes(items[0].status) ? items[0] : undefined;
    });
    // Manual replays get exactly one attempt: the 500 dead-letters at once.
    expect(replay).toMatchObject({ status: "dlq", attempt_count: 1 });
    const calls = await handler.calls(b.hook);
    expect(calls).toHaveLength(2);
    expect(calls[1].headers["x-switchyard-replay"]).toBe("1");
    expect(JSON.parse(calls[1].body).replay_of_event_id).toBe(event_id);
    expect(calls[1].headers["webhook-id"]).not.toBe(calls[0].headers["webhook-id"]);
    // The original is untouched and still addressable.
    expect((await api("GET", path(b.bindingKey, event_id))).body).toMatchObject({
      status: "succeeded",
      replay_of_event_id: null,
    });
    const graph = await api("GET", `/v1/records?topic=observability.action_graph&event_id=${event_id}&kind=edge`);
    expect(graph.body.items.map((r: { payload: { kind: string } }) => r.payload.kind)).toContain("replay_chain");
  });

  it("retries a replay when asked, and uses the version that dispatched the event", async () => {
    const b = await scriptedBinding(
      { responses: [{ status: 200 }, { status: 500 }], otherwise: { status: 200 } },
      {
        retry: { max_attempts: 5, policy: { linear: { delay_ms: 10 } } },
      },
    );
    const { event_id } = await publish(b.provider);
    await waitForDispatch(b.bindingKey, event_id, TERMINAL);
    const v2 = await api("PUT", `/v1/bindings/${b.id}`, {
      provider: b.provider,
      handler: handler.url(b.hook),
      timeout_ms: 5000,
      retry: { max_attempts: 5, policy: { linear: { delay_ms: 10 } } },
    });
    expect(v2.body.version).toBe(2);
    const res = await api("POST", `/v1/events/${event_id}/replay`, { binding_id: b.id, retry: true });
    expect(res.body.items[0].binding_key).toBe(b.bindingKey);
    const replay = await eventually(async () => {
      const items = await replaysOf(event_id);
      return items[0] && TERMINAL.includes(items[0].status) ? items[0] : undefined;
    });
    expect(replay).toMatchObject({ status: "succeeded", attempt_count: 2 });
    const onV2 = await api("POST", `/v1/events/${event_id}/replay`, { binding_id: b.id, version: 2 });
    expect(onV2.body.items[0].binding_key).toBe(`${b.id}@v2`);
  });

  it("rejects bad replay requests precisely", async () => {
    const b = await scriptedBinding({ responses: [{ status: 200 }] });
    const { event_id } = await publish(b.provider);
    expect((await api("POST", "/v1/events/evt_unknown/replay")).status).toBe(404);
    expect((await api("POST", `/v1/events/${event_id}/replay`, { version: 2 })).status).toBe(400);
    expect((await api("POST", `/v1/events/${event_id}/replay`, { binding_id: "nope-binding" })).status).toBe(404);
    expect((await api("POST", `/v1/events/${event_id}/replay`, { binding_id: b.id, version: 9 })).status).toBe(404);
    const orphan = await api("POST", "/v1/events", { provider: "nobody-listens", kind: "x", payload: {} });
    await new Promise((r) => setTimeout(r, 200));
    expect((await api("POST", `/v1/events/${orphan.body.event_id}/replay`)).status).toBe(409);
  });

  it("ignores a cancel aimed at the original", async () => {
    const b = await scriptedBinding({ responses: [{ status: 200 }, { status: 200, delay_ms: 800 }] });
    const { event_id } = await publish(b.provider);
    await waitForDispatch(b.bindingKey, event_id, TERMINAL);
    await api("POST", `/v1/events/${event_id}/replay`);
    await eventually(async () => ((await handler.calls(b.hook)).length === 2 ? true : undefined));
    expect((await api("POST", `${path(b.bindingKey, event_id)}/cancel`)).status).toBe(409);
    const replay = await eventually(async () => {
      const items = await replaysOf(event_id);
      return items[0] && TERMINAL.includes(items[0].status) ? items[0] : undefined;
    });
    expect(replay.status).toBe("succeeded");
  });
});

describe("DLQ replay", () => {
  async function deadLetter() {
    const b = await scriptedBinding(
      { responses: [], otherwise: { status: 500 } },
      {
        retry: { max_attempts: 1, policy: "svix" },
      },
    );
    const { event_id } = await publish(b.provider);
    await waitForDispatch(b.bindingKey, event_id, TERMINAL);
    const list = await api("GET", `/v1/dlq?binding_key=${encodeURIComponent(b.bindingKey)}`);
    return { ...b, event_id, entry: list.body.items[0] as { id: string; state: string } };
  }

  it("a successful replay resolves the entry", async () => {
    const d = await deadLetter();
    expect(d.entry.state).toBe("pending");
    await handler.script(d.hook, { responses: [], otherwise: { status: 200, body: { fixed: true } } });
    const res = await api("POST", `/v1/dlq/${d.entry.id}/replay`);
    expect(res.status).toBe(202);
    expect(res.body.items[0]).toMatchObject({
      dlq_id: d.entry.id,
      binding_key: d.bindingKey,
      replay_of_event_id: d.event_id,
    });
    const resolved = await eventually(async () => {
      const entry = await api("GET", `/v1/dlq/${d.entry.id}`);
      return entry.body.state === "resolved" ? entry.body : undefined;
    });
    expect(resolved.resolved_at).toBeTruthy();
    expect((await api("POST", `/v1/dlq/${d.entry.id}/replay`)).status).toBe(409);
  });

  it("a failed replay leaves the entry pending", async () => {
    const d = await deadLetter();
    await api("POST", `/v1/dlq/${d.entry.id}/replay`);
    await eventually(async () => {
      const items = await replaysOf(d.event_id);
      return items[0] && TERMINAL.includes(items[0].status) ? items[0] : undefined;
    });
    expect((await api("GET", `/v1/dlq/${d.entry.id}`)).body.state).toBe("pending");
  });

  it("bulk replay by filter, with a dry run first", async () => {
    const a = await deadLetter();
    const b = await deadLetter();
    const filter = { binding_id: a.id };
    const dry = await api("POST", "/v1/dlq/replay", { filter, dry_run: true });
    expect(dry.status).toBe(200);
    expect(dry.body).toEqual({ dry_run: true, count: 1, items: [a.entry.id] });
    await handler.script(a.hook, { responses: [], otherwise: { status: 200 } });
    const run = await api("POST", "/v1/dlq/replay", { filter });
    expect(run.status).toBe(202);
    expect(run.body).toMatchObject({ dry_run: false, count: 1, items: [a.entry.id] });
    await eventually(async () =>
      (await api("GET", `/v1/dlq/${a.entry.id}`)).body.state === "resolved" ? true : undefined,
    );
    expect((await api("GET", `/v1/dlq/${b.entry.id}`)).body.state).toBe("pending");
    expect((await api("POST", "/v1/dlq/replay", { filter: { error_class: "nope" } })).status).toBe(400);
  });
});
