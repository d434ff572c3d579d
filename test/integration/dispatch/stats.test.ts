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
});
