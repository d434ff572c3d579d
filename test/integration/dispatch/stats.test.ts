import { describe, expect, it } from "vitest";
import { api, waitForDispatch } from "../../support/api";
import { publish, scriptedBinding } from "../../support/dispatch";

describe("GET /v1/stats", () => {
  it("reports live dispatches, retries, DLQ depth and per-binding gate state", async () => {
    const held = await scriptedBinding({ responses: [{ status: 200 }] });
    await api("POST", `/v1/bindings/${held.id}/pause`);
    const a = await publish(held.provider);
    await waitForDispatch(held.bindingKey, a.event_id, ["held"]);

    const retrying = await scriptedBinding(
      { responses: [], otherwise: { status: 500 } },
      {
        retry: { max_attempts: 3, policy: { linear: { delay_ms: "1h" } } },
      },
    );
    const b = await publish(retrying.provider);
    await waitForDispatch(retrying.bindingKey, b.event_id, ["retry_scheduled"]);

    const dead = await scriptedBinding({ responses: [], otherwise: { status: 500 } }, { retry: { max_attempts: 1 } });
    const d = await publish(dead.provider);
    await waitForDispatch(dead.bindingKey, d.event_id, ["dlq"]);

    const stats = await api("GET", "/v1/stats");
    expect(stats.status).toBe(200);
    expect(stats.body).toMatchObject({ in_flight: 2, scheduled_retries: 1, held: 1, dlq_depth: 1 });
    const byKey = Object.fromEntries(stats.body.bindings.map((x: { binding_key: string }) => [x.binding_key, x]));
    expect(byKey[held.bindingKey]).toMatchObject({ paused: true, held: 1, in_flight: 1 });
    expect(byKey[retrying.bindingKey]).toMatchObject({ scheduled_retries: 1, in_flight: 1 });
    expect(byKey[dead.bindingKey]).toMatchObject({ in_flight: 0 });
  });

  it("pages the per-binding gate states by binding key and filters them by binding", async () => {
    const a = await scriptedBinding({ responses: [{ status: 200 }] });
    const b = await scriptedBinding({ responses: [{ status: 200 }] });
    const keys: string[] = [];
    let cursor: string | null = null;
    do {
      const res = await api("GET", `/v1/stats?limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
      expect(res.status).toBe(200);
      expect(res.body.bindings.length).toBeLessThanOrEqual(2);
      keys.push(...res.body.bindings.map((x: { binding_key: string }) => x.binding_key));
      cursor = res.body.next_cursor;
    } while (cursor);
    expect(keys).toEqual([...keys].sort());
    expect(keys).toEqual(expect.arrayContaining([a.bindingKey, b.bindingKey]));
    const one = await api("GET", `/v1/stats?binding_id=${a.id}`);
    expect(one.body.bindings.map((x: { binding_key: string }) => x.binding_key)).toEqual([a.bindingKey]);
    expect((await api("GET", "/v1/stats?limit=0")).status).toBe(400);
  });
});
