/**
 * At-most-once invocation per (dispatch, attempt) when a dispatch is admitted again (a restarted
 * EventLog routes what it had not finished), and retry waits and leases that survive a Durable
 * Object being evicted or dying mid-attempt.
 */
import { abortAllDurableObjects, evictDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { loadRoutingTable } from "../../../src/db/bindings-repo";
import { admitRequestOf } from "../../../src/dispatch/routing-table";
import { loadEvent } from "../../../src/history/event-reader";
import { gateReads } from "../../../src/history/stubs";
import { api, eventually, handler, waitForDispatch } from "../../support/api";
import { publish, scriptedBinding } from "../../support/dispatch";

const TERMINAL = ["succeeded", "skipped", "waiting", "dlq", "failed", "cancelled"];

/** The admit a (restarted) EventLog sends for an original dispatch. */
async function admitAgain(bindingKey: string, eventId: string, recovering: boolean) {
  const table = await loadRoutingTable(env.DB);
  const binding = table.candidates.find((c) => c.bindingKey === bindingKey);
  const event = await loadEvent(env, eventId);
  if (!binding || !event) throw new Error("binding or event not found");
  return env.BINDING_GATE.getByName(bindingKey).admit(
    admitRequestOf(event, binding, table.controls.get(binding.id), recovering),
  );
}

describe("admits sent again", () => {
  it("never invoke the handler twice for the same (dispatch, attempt)", async () => {
    const b = await scriptedBinding({ responses: [{ status: 200, body: { ok: true }, delay_ms: 300 }] });
    const { event_id } = await publish(b.provider);
    await eventually(async () =>
      (await api("GET", `/v1/dispatches/${encodeURIComponent(b.bindingKey)}/${event_id}`)).status === 200
        ? true
        : undefined,
    );
    // While attempt 1 is in flight, and again once the dispatch is final and in its History window.
    const during = await Promise.all([
      admitAgain(b.bindingKey, event_id, true),
      admitAgain(b.bindingKey, event_id, false),
    ]);
    expect(during.map((a) => a.created)).toEqual([false, false]);
    const d = await waitForDispatch(b.bindingKey, event_id, TERMINAL);
    expect(d).toMatchObject({ status: "succeeded", attempt_count: 1 });
    await eventually(async () =>
      (await gateReads(env, b.bindingKey).get([`${b.bindingKey}|${event_id}`])).length === 0 ? true : undefined,
    );
    expect(await admitAgain(b.bindingKey, event_id, true)).toEqual({ status: "succeeded", created: false });
    await new Promise((r) => setTimeout(r, 300));
    expect(await handler.calls(b.hook)).toHaveLength(1);
  });
});

describe("Durable Object eviction and restarts", () => {
  it("a retry scheduled before eviction still runs after it", async () => {
    const b = await scriptedBinding(
      { responses: [{ status: 500 }, { status: 200, body: { second: true } }] },
      {
        retry: { max_attempts: 3, policy: { linear: { delay_ms: 1_000 } } },
      },
    );
    const { event_id } = await publish(b.provider);
    await waitForDispatch(b.bindingKey, event_id, ["retry_scheduled"]);
    await evictDurableObject(env.BINDING_GATE.getByName(b.bindingKey));
    const d = await waitForDispatch(b.bindingKey, event_id, TERMINAL);
    expect(d).toMatchObject({ status: "succeeded", attempt_count: 2, result: { second: true } });
    expect(await handler.calls(b.hook)).toHaveLength(2);
  });

  it("an attempt that dies with its gate is declared lost and the next attempt runs", async () => {
    const b = await scriptedBinding(
      {
        responses: [
          { status: 200, body: { late: true }, delay_ms: 1_500 },
          { status: 200, body: { second: true } },
        ],
      },
      { timeout_ms: 10_000, retry: { max_attempts: 3, policy: { linear: { delay_ms: 10 } } } },
    );
    const { event_id } = await publish(b.provider);
    await waitForDispatch(b.bindingKey, event_id, ["running"]);
    // Every Durable Object dies at once, mid-attempt (a crash or a deploy).
    await abortAllDurableObjects();
    const d = await waitForDispatch(b.bindingKey, event_id, TERMINAL);
    expect(d).toMatchObject({ status: "succeeded", attempt_count: 2, result: { second: true } });
    expect(d.attempts[0]).toMatchObject({
      attempt: 1,
      outcome: "failed",
      error_msg: "attempt outcome unknown: lease expired",
    });
    // Attempt 1 was delivered once, attempt 2 once.
    const calls = await handler.calls(b.hook);
    expect(calls.map((c) => c.headers["x-switchyard-attempt"])).toEqual(["1", "2"]);
  });
});
