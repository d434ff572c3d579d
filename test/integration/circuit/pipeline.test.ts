/** The destination circuit breaker on the real dispatch path (SPEC 10). */
import { describe, expect, it } from "vitest";
import { api, eventually, handler, unique, waitForDispatch } from "../../support/api";
import { bindingTo, publish } from "../../support/dispatch";

const TERMINAL = ["succeeded", "skipped", "waiting", "dlq", "failed", "cancelled"];

describe("destination circuit", () => {
  it("opens at the threshold across two bindings sharing a destination, then fast-fails new dispatches", async () => {
    const hook = unique("shared");
    await handler.script(hook, { responses: [], otherwise: { status: 500, body: { error: "boom" } } });
    const url = handler.url(hook);
    const settings = {
      circuit: { threshold: 2, cooldown_ms: "1h" },
      retry: { max_attempts: 5, policy: { linear: { delay_ms: 10 } } },
    };
    const a = await bindingTo(url, settings);
    const b = await bindingTo(url, settings);
    const dest = `https:${url}`;

    const first = await publish(a.provider);
    const da = await waitForDispatch(a.bindingKey, first.event_id, TERMINAL);
    expect(da).toMatchObject({
      status: "dlq",
      attempt_count: 2,
      error: `destination circuit opened for ${dest} after 2 consecutive failures: boom`,
    });

    const second = await publish(b.provider);
    const db = await waitForDispatch(b.bindingKey, second.event_id, TERMINAL);
    expect(db.status).toBe("dlq");
    expect(db.attempt_count).toBe(0);
    expect(db.error).toMatch(
      new RegExp(`^destination circuit open for ${dest.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")}; retry after \\d+s$`),
    );
    expect(await handler.calls(hook)).toHaveLength(2);

    const dlq = await api("GET", `/v1/dlq?binding_key=${encodeURIComponent(b.bindingKey)}`);
    expect(dlq.body.items[0]).toMatchObject({ reason: "circuit_open", attempt_count: 0 });

    const circuits = await api("GET", "/v1/circuits");
    const item = circuits.body.items.find((i: { destination: string }) => i.destination === dest);
    expect(item).toMatchObject({ state: "open", failures: 2 });
    expect(item.opened_at).toBeTruthy();
    expect(item.next_probe_at).toBeTruthy();
    const metrics = await api("GET", "/metrics");
    expect(metrics.body).toContain(`switchyard_circuit_transitions_total{destination="${dest}",to="open"} 1`);
  });

  it("a gate that skips checks on a clean circuit still resets failures another binding counted", async () => {
    const hook = unique("clean");
    await handler.script(hook, { responses: [{ status: 200 }, { status: 500 }, { status: 200 }, { status: 500 }] });
    const url = handler.url(hook);
    const settings = { circuit: { threshold: 2, cooldown_ms: "1h" }, retry: { max_attempts: 1 } };
    const a = await bindingTo(url, settings);
    const b = await bindingTo(url, settings);
    const dest = `https:${url}`;
    const run = async (binding: { provider: string; bindingKey: string }, status: string) => {
      const e = await publish(binding.provider);
      expect(await waitForDispatch(binding.bindingKey, e.event_id, TERMINAL)).toMatchObject({ status });
    };
    // A's success leaves its gate trusting the clean circuit; B's failure makes the Destination take
    // that back, so A's next success is reported and resets the count: two failures, never in a row.
    await run(a, "succeeded");
    await run(b, "dlq");
    await run(a, "succeeded");
    await run(b, "dlq");
    const circuits = await api("GET", "/v1/circuits");
    expect(circuits.body.items.find((i: { destination: string }) => i.destination === dest)).toMatchObject({
      state: "closed",
      failures: 1,
    });
    expect(await handler.calls(hook)).toHaveLength(4);
  });

  it("hold mode parks dispatches while open and releases each once after a successful probe", async () => {
    const hook = unique("hold");
    await handler.script(hook, { responses: [{ status: 500 }], otherwise: { status: 200, body: { ok: true } } });
    const b = await bindingTo(handler.url(hook), {
      circuit: { threshold: 1, cooldown_ms: 800, mode: "hold" },
      retry: { max_attempts: 3, policy: { linear: { delay_ms: 10 } } },
    });
    const first = await publish(b.provider);
    // The failure that opens the circuit dead-letters its own dispatch.
    expect(await waitForDispatch(b.bindingKey, first.event_id, TERMINAL)).toMatchObject({
      status: "dlq",
      attempt_count: 1,
    });

    const parked = [await publish(b.provider), await publish(b.provider), await publish(b.provider)];
    for (const p of parked) await waitForDispatch(b.bindingKey, p.event_id, ["held"]);
    expect(await handler.calls(hook)).toHaveLength(1);

    for (const p of parked) {
      const d = await waitForDispatch(b.bindingKey, p.event_id, TERMINAL, 15_000);
      expect(d).toMatchObject({ status: "succeeded", attempt_count: 1 });
    }
    await eventually(async () => ((await handler.calls(hook)).length === 4 ? true : undefined));
    await new Promise((r) => setTimeout(r, 300));
    expect(await handler.calls(hook)).toHaveLength(4);
    const circuits = await api("GET", "/v1/circuits");
    expect(
      circuits.body.items.find((i: { destination: string }) => i.destination === `https:${handler.url(hook)}`),
    ).toMatchObject({
      state: "closed",
      failures: 0,
    });
  });
});
