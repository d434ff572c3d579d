/** SPEC 5.4 `POST /v1/bindings:preview` through the real API: stored events, no side effects. */
import { describe, expect, it } from "vitest";
import { api, unique } from "../../support/api";

const handler = "https://hooks.example.com/in";

async function publish(provider: string, kind: string, payload: unknown, extra: Record<string, unknown> = {}) {
  const res = await api("POST", "/v1/events", { provider, kind, payload, ...extra });
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  return res.body.event_id as string;
}

describe("POST /v1/bindings:preview", () => {
  it("answers what a spec would do with stored events, in received_at order, and writes nothing", async () => {
    const provider = unique("preview")
      .toLowerCase()
      .replaceAll(/[^a-z0-9_-]/g, "-");
    const since = new Date(Date.now() - 1).toISOString();
    const ids: string[] = [];
    for (const [kind, customer] of [
      ["order.created", "acme"],
      ["order.created", "acme"],
      ["order.created", "acme"],
      ["order.refunded", "acme"],
      ["order.created", "beta"],
    ] as const) {
      ids.push(await publish(provider, kind, { customer, total: customer === "beta" ? 0 : 10 }));
    }
    const spec = {
      provider,
      events: ["order.created"],
      when: "event.payload.total > 0",
      handler,
      flow_control: { rate_limit: { key: "event.payload.customer", period: "1h", max: 2 } },
    };
    const res = await api("POST", "/v1/bindings:preview", { spec, since, limit: 1000 });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    const mine = res.body.items.filter((i: { event_id: string }) => ids.includes(i.event_id));
    expect(mine.map((i: { event_id: string }) => i.event_id)).toEqual(ids);
    expect(mine.map((i: { outcome: string; reason?: string }) => [i.outcome, i.reason ?? null])).toEqual([
      ["dispatch", null],
      ["dispatch", null],
      ["skipped", "rate_limited"],
      ["no_match", null],
      ["skipped", "predicate returned false"],
    ]);
    expect(mine[2]).toMatchObject({ stage: "flow_control", kind: "order.created" });
    expect(res.body.evaluated).toBe(res.body.items.length);
    expect(res.body.summary.skipped_by_reason.rate_limited).toBeGreaterThanOrEqual(1);

    // By id, the same decisions; nothing was dispatched, recorded or stored for the spec.
    const byId = await api("POST", "/v1/bindings:preview", { spec, event_ids: [...ids].reverse() });
    expect(byId.status).toBe(200);
    expect(byId.body.items.map((i: { event_id: string }) => i.event_id)).toEqual(ids);
    expect(byId.body.summary).toMatchObject({ dispatch: 2, skipped: 2, no_match: 1 });
    for (const id of ids) {
      const event = await api("GET", `/v1/events/${id}`);
      expect(event.body.dispatches).toEqual([]);
    }
    const records = await api("GET", `/v1/records?event_id=${ids[0]}`);
    // Only intake's own record: the preview wrote none.
    expect(records.body.items.map((r: { kind: string }) => r.kind)).toEqual(["event_accepted"]);

    // `until` bounds the range: before the first event nothing of ours is scanned.
    const early = await api("POST", "/v1/bindings:preview", { spec, since: "2000-01-01T00:00:00Z", until: since });
    expect(early.status).toBe(200);
    expect(early.body.items.filter((i: { event_id: string }) => ids.includes(i.event_id))).toEqual([]);
  });

  it("rejects an invalid spec with the answer PUT /v1/bindings/{id} gives, and other mistakes precisely", async () => {
    const bad = { provider: "github", handler: "ftp://nope", flow_control: { rate_limit: [] } };
    const preview = await api("POST", "/v1/bindings:preview", { spec: bad });
    const put = await api("PUT", `/v1/bindings/${unique("preview-bad")}`, bad);
    expect(preview.status).toBe(400);
    expect(preview.body).toEqual(put.body);

    const missing = await api("POST", "/v1/bindings:preview", {
      spec: { provider: "github", handler },
      event_ids: ["evt_nope"],
    });
    expect(missing.status).toBe(404);
    expect(missing.body.error.message).toContain("evt_nope");

    const order = await api("POST", "/v1/bindings:preview", {
      spec: { provider: "github", handler },
      since: "2026-01-02T00:00:00Z",
      until: "2026-01-01T00:00:00Z",
    });
    expect(order.status).toBe(400);
    expect(order.body.error.message).toMatch(/since .* must be before until/);

    const limit = await api("POST", "/v1/bindings:preview", { spec: { provider: "github", handler }, limit: 1001 });
    expect(limit.status).toBe(400);
    expect(limit.body.error.details.problems).toEqual([{ path: "limit", message: expect.stringContaining("1000") }]);
  });

  it("a tenant key previews only its tenant's events", async () => {
    const tenant = unique("tp")
      .replaceAll(/[^A-Za-z0-9_-]/g, "-")
      .slice(0, 40);
    const created = await api("POST", `/v1/tenants/${tenant}/keys`, { name: "preview" });
    expect(created.status).toBe(201);
    const key = { authorization: `Bearer ${created.body.key}` };
    const provider = `tp-${Date.now().toString(36)}`;
    const own = await publish(provider, "k", {}, { tenant_id: tenant });
    const other = await publish(provider, "k", {});
    const spec = { provider, handler };
    const res = await api("POST", "/v1/bindings:preview", { spec, event_ids: [own] }, key);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.items).toMatchObject([{ event_id: own, outcome: "dispatch" }]);
    expect((await api("POST", "/v1/bindings:preview", { spec, event_ids: [other] }, key)).status).toBe(404);
  });
});
