/**
 * At-most-once invocation per (dispatch, attempt) under redelivered queue messages, and retry
 * waits and leases that survive Durable Object eviction.
 */
import {
  createExecutionContext,
  createMessageBatch,
  evictDurableObject,
  getQueueResult,
  runInDurableObject,
} from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { DispatchMessage } from "../../../src/contracts/messages";
import { dispatchIdOf } from "../../../src/dispatch/dispatch-id";
import type { BindingGate } from "../../../src/flow/binding-gate";
import worker from "../../../src/index";
import { api, eventually, handler, waitForDispatch } from "../../support/api";
import { publish, scriptedBinding } from "../../support/dispatch";

const TERMINAL = ["succeeded", "skipped", "waiting", "dlq", "failed", "cancelled"];

function dispatchBatch(messages: DispatchMessage[]) {
  return createMessageBatch(
    "switchyard-dispatch",
    messages.map((body, i) => ({
      id: `redelivered-${i}-${crypto.randomUUID()}`,
      timestamp: new Date(),
      attempts: 2,
      body,
    })),
  );
}

/** Runs the real consumer on a hand-made batch, as the queue would on a redelivery. */
async function runDispatchBatch(messages: unknown[]) {
  const batch = dispatchBatch(messages as DispatchMessage[]);
  const ctx = createExecutionContext();
  await worker.queue(batch, env, ctx);
  return getQueueResult(batch, ctx);
}

describe("redelivered dispatch messages", () => {
  it("never invoke the handler twice for the same (dispatch, attempt)", async () => {
    const b = await scriptedBinding({ responses: [{ status: 200, body: { ok: true }, delay_ms: 300 }] });
    const { event_id } = await publish(b.provider);
    const message: DispatchMessage = {
      v: 1,
      binding_key: b.bindingKey,
      dispatch_id: dispatchIdOf(b.bindingKey, event_id),
      attempt: 1,
    };
    // Deliver attempt 1 three more times while the real delivery is (or has been) in flight.
    await eventually(async () =>
      (await api("GET", `/v1/dispatches/${encodeURIComponent(b.bindingKey)}/${event_id}`)).status === 200
        ? true
        : undefined,
    );
    await Promise.all([runDispatchBatch([message, message]), runDispatchBatch([message])]);
    const d = await waitForDispatch(b.bindingKey, event_id, TERMINAL);
    expect(d).toMatchObject({ status: "succeeded", attempt_count: 1 });
    await runDispatchBatch([message]);
    expect(await handler.calls(b.hook)).toHaveLength(1);
  });

  it("ignore a message for an attempt that is not due yet", async () => {
    const b = await scriptedBinding(
      { responses: [{ status: 500 }, { status: 200 }] },
      {
        retry: { max_attempts: 3, policy: { linear: { delay_ms: 1_500 } } },
      },
    );
    const { event_id } = await publish(b.provider);
    await waitForDispatch(b.bindingKey, event_id, ["retry_scheduled"]);
    // Attempt 3 cannot run before attempt 2.
    await runDispatchBatch([
      { v: 1, binding_key: b.bindingKey, dispatch_id: dispatchIdOf(b.bindingKey, event_id), attempt: 3 },
    ]);
    expect(await handler.calls(b.hook)).toHaveLength(1);
    expect(await waitForDispatch(b.bindingKey, event_id, TERMINAL)).toMatchObject({
      status: "succeeded",
      attempt_count: 2,
    });
  });

  it("acknowledge malformed messages without retrying them", async () => {
    const result = await runDispatchBatch([{ nope: true }]);
    expect(result.explicitAcks).toHaveLength(1);
    expect(result.retryMessages).toEqual([]);
  });
});

describe("Durable Object eviction", () => {
  it("a retry scheduled before eviction still runs after it", async () => {
    const b = await scriptedBinding(
      { responses: [{ status: 500 }, { status: 200, body: { second: true } }] },
      {
        retry: { max_attempts: 3, policy: { linear: { delay_ms: 1_000 } } },
      },
    );
    const { event_id } = await publish(b.provider);
    await waitForDispatch(b.bindingKey, event_id, ["retry_scheduled"]);
    const stub = env.BINDING_GATE.getByName(b.bindingKey);
    await evictDurableObject(stub);
    const d = await waitForDispatch(b.bindingKey, event_id, TERMINAL);
    expect(d).toMatchObject({ status: "succeeded", attempt_count: 2, result: { second: true } });
    expect(await handler.calls(b.hook)).toHaveLength(2);
  });

  it("an attempt whose result never arrives is declared lost after its lease and retried", async () => {
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
    const stub = env.BINDING_GATE.getByName(b.bindingKey) as DurableObjectStub<BindingGate>;
    // Bring the lease deadline forward, as if the consumer running attempt 1 had died long ago.
    await runInDurableObject(stub, (_instance, state) => {
      state.storage.sql.exec("UPDATE timers SET due_at = ? WHERE kind = 'lease'", Date.now() - 1);
    });
    await runInDurableObject(stub, async (instance) => {
      await (instance as BindingGate).alarm();
    });
    const d = await waitForDispatch(b.bindingKey, event_id, TERMINAL);
    expect(d).toMatchObject({ status: "succeeded", attempt_count: 2, result: { second: true } });
    expect(d.attempts[0]).toMatchObject({
      attempt: 1,
      outcome: "failed",
      error_msg: "attempt outcome unknown: lease expired",
    });
    // The late answer of attempt 1 arrives after the lease expired and changes nothing.
    await new Promise((r) => setTimeout(r, 1_600));
    const after = await api("GET", `/v1/dispatches/${encodeURIComponent(b.bindingKey)}/${event_id}`);
    expect(after.body).toMatchObject({ status: "succeeded", attempt_count: 2, result: { second: true } });
  });
});
