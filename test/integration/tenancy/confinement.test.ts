/** SPEC 16: a tenant key sees and changes only its tenant's objects; others' are 404, never 403. */
import { describe, expect, it } from "vitest";
import { api, eventually, handler, unique, waitForDispatch } from "../../support/api";

async function tenantKey(tenant: string) {
  const res = await api("POST", `/v1/tenants/${tenant}/keys`, { name: "test" });
  expect(res.status).toBe(201);
  return { authorization: `Bearer ${res.body.key as string}` };
}

describe("tenant confinement", () => {
  it("confines every /v1 route to the key's tenant", async () => {
    const [ta, tb] = [unique("ta"), unique("tb")];
    const [a, b] = [await tenantKey(ta), await tenantKey(tb)];
    const hook = unique("h");
    await handler.script(hook, { responses: [], otherwise: { status: 200, body: { ok: true } } });
    const provider = unique("p").replace(/[^a-z0-9-]/g, "");
    const source = unique("src").replace(/[^a-z0-9-]/g, "");
    const binding = unique("bind");

    // A's objects take A's tenant, named or not; naming another tenant is refused.
    const src = await api("PUT", `/v1/sources/${source}`, { provider, verify: { style: "none" } }, a);
    expect(src.status, JSON.stringify(src.body)).toBe(201);
    expect(src.body.tenant_id).toBe(ta);
    const created = await api("PUT", `/v1/bindings/${binding}`, { provider, handler: handler.url(hook) }, a);
    expect(created.status).toBe(201);
    expect(created.body.spec.tenant_id).toBe(ta);
    const foreign = await api(
      "PUT",
      `/v1/bindings/${unique("x")}`,
      { provider, handler: handler.url(hook), tenant_id: tb },
      a,
    );
    expect(foreign.status).toBe(403);
    expect(foreign.body.error.message).toBe(`tenant_id must be '${ta}', the tenant of this API key`);
    expect((await api("POST", "/v1/events", { provider, kind: "k", payload: {}, tenant_id: tb }, a)).status).toBe(403);

    const published = await api("POST", "/v1/events", { provider, kind: "thing.happened", payload: { n: 1 } }, a);
    expect(published.status).toBe(202);
    const eventId = published.body.event_id as string;
    const traceId = published.body.trace_id as string;
    const bindingKey = created.body.binding_key as string;
    const done = await waitForDispatch(bindingKey, eventId, ["succeeded"]);
    expect(done.status).toBe("succeeded");

    // A sees its objects.
    expect((await api("GET", `/v1/events/${eventId}`, undefined, a)).status).toBe(200);
    expect((await api("GET", `/v1/bindings/${binding}`, undefined, a)).status).toBe(200);
    expect((await api("GET", `/v1/sources/${source}`, undefined, a)).status).toBe(200);
    const own = await eventually(async () => {
      const r = await api("GET", `/v1/records?event_id=${eventId}&topic=triggers.lifecycle`, undefined, a);
      return r.body.items.length >= 2 ? r.body.items : undefined;
    });
    expect(own.every((r: { topic: string }) => r.topic === `tenant.${ta}.triggers.lifecycle`)).toBe(true);

    // B sees none of them: 404 for each object, empty lists.
    const dispatchPath = `/v1/dispatches/${encodeURIComponent(bindingKey)}/${eventId}`;
    for (const path of [
      `/v1/events/${eventId}`,
      `/v1/bindings/${binding}`,
      `/v1/sources/${source}`,
      dispatchPath,
      `/v1/traces/${traceId}/graph`,
      `/v1/bindings/${binding}/signing-secret`,
      `/v1/trust/verify?binding_id=${binding}`,
    ]) {
      const res = await api("GET", path, undefined, b);
      expect(res.status, path).toBe(404);
    }
    for (const [method, path, body] of [
      ["POST", `${dispatchPath}/cancel`, {}],
      ["POST", `${dispatchPath}/complete`, { status: "succeeded" }],
      ["POST", `/v1/events/${eventId}/replay`, {}],
      ["POST", `/v1/bindings/${binding}/pause`, undefined],
      ["DELETE", `/v1/bindings/${binding}`, undefined],
      ["DELETE", `/v1/sources/${source}`, undefined],
      ["POST", "/v1/trust/demote", { binding_id: binding, tier: "shadow" }],
      ["POST", "/v1/events", { provider, kind: "k", payload: {}, target: { binding_id: binding } }],
    ] as const) {
      const res = await api(method, path, body, b);
      expect(res.status, `${method} ${path}`).toBe(404);
    }
    // Global names held by A cannot be taken over by B.
    expect((await api("PUT", `/v1/bindings/${binding}`, { provider, handler: handler.url(hook) }, b)).status).toBe(409);
    expect((await api("PUT", `/v1/sources/${source}`, { provider, verify: { style: "none" } }, b)).status).toBe(409);

    const lists = [
      "/v1/events?limit=500",
      "/v1/bindings?limit=500",
      "/v1/sources?limit=500",
      `/v1/dispatches?event_id=${eventId}`,
      `/v1/records?event_id=${eventId}`,
      `/v1/trust?binding_id=${binding}`,
      "/v1/dlq?limit=500",
      "/v1/approvals?limit=500",
    ];
    for (const path of lists) {
      const res = await api("GET", path, undefined, b);
      expect(res.status, path).toBe(200);
      expect(JSON.stringify(res.body), path).not.toContain(eventId);
      expect(JSON.stringify(res.body), path).not.toContain(binding);
    }
    const stats = await api("GET", "/v1/stats", undefined, b);
    expect(stats.body.bindings).toEqual([]);
    expect((await api("GET", "/v1/circuits", undefined, b)).body.items).toEqual([]);

    // The admin token sees everything.
    expect((await api("GET", `/v1/events/${eventId}`)).status).toBe(200);
    expect((await api("GET", `/v1/trust/verify?binding_id=${binding}`)).body.valid).toBe(true);
    // A's binding still works: B's attempts changed nothing.
    expect((await api("GET", `/v1/bindings/${binding}`, undefined, a)).body.paused).toBe(false);
  });

  it("a tenant's manifest reconciles only that tenant's bindings", async () => {
    const [ta, tb] = [unique("ta"), unique("tb")];
    const [a, b] = [await tenantKey(ta), await tenantKey(tb)];
    const provider = unique("p").replace(/[^a-z0-9-]/g, "");
    const bBinding = unique("b-own");
    expect(
      (await api("PUT", `/v1/bindings/${bBinding}`, { provider, handler: "https://example.com/h" }, b)).status,
    ).toBe(201);
    const applied = await api(
      "POST",
      "/v1/bindings:apply",
      { bindings: [{ id: unique("a-own"), provider, handler: "https://example.com/h" }] },
      a,
    );
    expect(applied.status).toBe(200);
    expect(applied.body.drained).toEqual([]);
    const still = await api("GET", `/v1/bindings/${bBinding}`, undefined, b);
    expect(still.body.versions[0].state).toBe("active");
  });
});
