/** SPEC 9.7 ordering: one dispatch at a time per key, in received_at order, through the real gate. */
import { describe, expect, it } from "vitest";
import { api, eventually, handler, waitForDispatch } from "../../support/api";
import { publish } from "../../support/dispatch";
import {
  auditEventually,
  callsEventually,
  cancel,
  dispatch,
  dispatchIdOf,
  evictGate,
  flowBinding,
  gateStats,
  TERMINAL,
} from "./support";

/** Each handler call's event id, ordering place and arrival time. */
async function orderedCalls(hook: string, n: number) {
  await callsEventually(hook, n, 20_000);
  const calls = await handler.calls(hook);
  return calls.map((c) => {
    const envelope = JSON.parse(c.body);
    return {
      event_id: envelope.event.id as string,
      ordering: envelope.ordering as { key: string; seq: number } | undefined,
      at: c.at as number,
    };
  });
}

/**
 * A key blocked behind a failure (`on_failure: "block"`): the first dispatch dead-letters on its only
 * attempt, the second waits `held` behind it. Answers both events and the DLQ entry's id.
 */
async function blockedLine() {
  const b = await flowBinding(
    { ordering: { key: "event.payload.account", on_failure: "block" } },
    { responses: [{ status: 500 }], otherwise: { status: 200 } },
    { retry: { max_attempts: 1 } },
  );
  const first = await publish(b.provider, "thing.happened", { account: "acme", n: 1 });
  expect(await waitForDispatch(b.bindingKey, first.event_id, TERMINAL)).toMatchObject({ status: "dlq" });
  const second = await publish(b.provider, "thing.happened", { account: "acme", n: 2 });
  expect(await waitForDispatch(b.bindingKey, second.event_id, ["held"])).toMatchObject({ status: "held" });
  const entries = await eventually(async () => {
    const list = await api("GET", `/v1/dlq?binding_key=${encodeURIComponent(b.bindingKey)}`);
    return list.body.items.length > 0 ? list.body.items : undefined;
  });
  return { b, first, second, dlqId: entries[0].id as string };
}

describe("ordering", () => {
  it("runs a key's dispatches one at a time in received_at order, numbered, other keys alongside", async () => {
    // Reorder window far longer than the test: only the routing watermark can let heads start promptly.
    const b = await flowBinding(
      { ordering: { key: "event.payload.account", reorder_window: "60s" } },
      { responses: [], otherwise: { status: 200, delay_ms: 400 } },
    );
    const started = Date.now();
    const res = await api("POST", "/v1/events", [
      { provider: b.provider, kind: "thing.happened", payload: { account: "acme", n: 1 } },
      { provider: b.provider, kind: "thing.happened", payload: { account: "acme", n: 2 } },
      { provider: b.provider, kind: "thing.happened", payload: { account: "globex", n: 1 } },
      { provider: b.provider, kind: "thing.happened", payload: { account: "acme", n: 3 } },
    ]);
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    const ids: string[] = res.body.items.map((i: { event_id: string }) => i.event_id);
    for (const id of ids) {
      expect(await waitForDispatch(b.bindingKey, id, TERMINAL, 30_000)).toMatchObject({ status: "succeeded" });
    }
    expect(Date.now() - started).toBeLessThan(20_000);
    const calls = await orderedCalls(b.hook, 4);
    const acme = calls.filter((c) => c.ordering?.key === "acme");
    expect(acme.map((c) => c.event_id)).toEqual([ids[0], ids[1], ids[3]]);
    expect(acme.map((c) => c.ordering?.seq)).toEqual([1, 2, 3]);
    // One at a time: each call arrives after the previous one was answered (400 ms each).
    for (let i = 1; i < acme.length; i++) {
      expect((acme[i]?.at ?? 0) - (acme[i - 1]?.at ?? 0)).toBeGreaterThanOrEqual(390);
    }
    expect(calls.find((c) => c.event_id === ids[2])?.ordering).toEqual({ key: "globex", seq: 1 });
    const audit = await auditEventually("ordering", `${b.bindingKey}:acme`, 3);
    expect(audit.filter((r) => r.kind === "ordering_started").map((r) => r.event_id)).toEqual([ids[0], ids[1], ids[3]]);
  });

  it("block: a dead-lettered predecessor holds the key until its DLQ entry is resolved", async () => {
    const { b, first, second, dlqId } = await blockedLine();
    expect((await dispatch(b.bindingKey, second.event_id)).result).toMatchObject({
      flow_control: "ordering",
      blocked: true,
    });
    const gate = `${b.bindingKey}:acme`;
    expect(await gateStats(b.bindingKey, "ordering", gate)).toMatchObject({
      blocked_by: dispatchIdOf(b.bindingKey, first.event_id),
      waiting: 1,
      head: dispatchIdOf(b.bindingKey, second.event_id),
    });

    const resolved = await api("POST", `/v1/dlq/${dlqId}/resolve`, {});
    expect(resolved.status).toBe(200);
    expect(await waitForDispatch(b.bindingKey, second.event_id, TERMINAL)).toMatchObject({ status: "succeeded" });
    const calls = await orderedCalls(b.hook, 2);
    expect(calls.map((c) => c.ordering?.seq)).toEqual([1, 2]);
  });

  it("a cancelled waiter frees its place; a waiting dispatch keeps the line", async () => {
    const b = await flowBinding(
      { ordering: { key: "event.payload.account" } },
      {
        responses: [{ status: 200, headers: { "x-switchyard-outcome": "waiting" }, body: { message: "later" } }],
        otherwise: { status: 200 },
      },
    );
    const first = await publish(b.provider, "thing.happened", { account: "acme", n: 1 });
    expect(await waitForDispatch(b.bindingKey, first.event_id, TERMINAL)).toMatchObject({ status: "waiting" });
    const second = await publish(b.provider, "thing.happened", { account: "acme", n: 2 });
    const third = await publish(b.provider, "thing.happened", { account: "acme", n: 3 });
    await waitForDispatch(b.bindingKey, second.event_id, ["held"]);
    await waitForDispatch(b.bindingKey, third.event_id, ["held"]);
    expect((await cancel(b.bindingKey, second.event_id)).status).toBeLessThan(300);
    expect(await waitForDispatch(b.bindingKey, second.event_id, TERMINAL)).toMatchObject({ status: "cancelled" });
    // The waiting first still holds the line: completing it lets the third go.
    expect((await dispatch(b.bindingKey, third.event_id)).status).toBe("held");
    const done = await api("POST", `/v1/dispatches/${encodeURIComponent(b.bindingKey)}/${first.event_id}/complete`, {
      status: "succeeded",
      result: { ok: true },
    });
    expect(done.status, JSON.stringify(done.body)).toBe(200);
    expect(await waitForDispatch(b.bindingKey, third.event_id, TERMINAL)).toMatchObject({ status: "succeeded" });
  });

  it("keeps a line across the gate's eviction", async () => {
    const b = await flowBinding(
      { ordering: { key: "event.payload.account" } },
      { responses: [{ status: 200, delay_ms: 1_500 }], otherwise: { status: 200 } },
    );
    const first = await publish(b.provider, "thing.happened", { account: "acme", n: 1 });
    await waitForDispatch(b.bindingKey, first.event_id, ["running", ...TERMINAL]);
    const second = await publish(b.provider, "thing.happened", { account: "acme", n: 2 });
    await waitForDispatch(b.bindingKey, second.event_id, ["held"]);
    await evictGate(b.bindingKey);
    for (const e of [first, second]) {
      expect(await waitForDispatch(b.bindingKey, e.event_id, TERMINAL, 20_000)).toMatchObject({ status: "succeeded" });
    }
    const calls = await orderedCalls(b.hook, 2);
    expect(calls.map((c) => [c.event_id, c.ordering?.seq])).toEqual([
      [first.event_id, 1],
      [second.event_id, 2],
    ]);
  });

  it("block: a successful replay of the failed dispatch lets the line go on; the replay does not wait in line", async () => {
    const { b, second, dlqId } = await blockedLine();
    const replay = await api("POST", `/v1/dlq/${dlqId}/replay`, {});
    expect(replay.status, JSON.stringify(replay.body)).toBe(202);
    expect(await waitForDispatch(b.bindingKey, second.event_id, TERMINAL)).toMatchObject({ status: "succeeded" });
    const calls = await orderedCalls(b.hook, 3);
    // The original (failed), its replay (outside the line, no place), then the next in line.
    expect(calls.map((c) => c.ordering?.seq ?? null)).toEqual([1, null, 2]);
  });
});
