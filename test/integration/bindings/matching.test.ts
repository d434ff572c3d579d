import { describe, expect, it } from "vitest";
import { api, eventually, handler, unique, waitForDispatch } from "../../support/api";

// biome-ignore lint/suspicious/noExplicitAny: API bodies are asserted field by field
type Json = any;

const TERMINAL = ["succeeded", "failed", "dlq", "skipped", "cancelled", "waiting"];

async function put(id: string, spec: Record<string, unknown>) {
  const res = await api("PUT", `/v1/bindings/${id}`, spec);
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body.binding_key as string;
}

async function publish(body: Record<string, unknown>) {
  const res = await api("POST", "/v1/events", body);
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  return res.body.event_id as string;
}

/** Waits for the expected dispatches to finish, then checks no other binding got one. */
async function dispatchedKeys(eventId: string, expected: string[]): Promise<Json[]> {
  for (const key of expected) expect((await waitForDispatch(key, eventId, TERMINAL)).status).toBe("succeeded");
  // Routing creates every dispatch of an event together; give stragglers a moment before checking.
  await new Promise((r) => setTimeout(r, 300));
  const res = await api("GET", `/v1/events/${eventId}`);
  expect(res.status).toBe(200);
  return res.body.dispatches;
}

describe("matching through the API (SPEC 5.3, 4.7)", () => {
  it("dispatches an event to matching active bindings only, listed by binding id then version", async () => {
    const provider = unique("match");
    const other = unique("other");
    const hook = unique("h");
    await handler.script(hook, { responses: [], otherwise: { status: 200, body: { ok: true } } });
    const url = handler.url(hook);
    const base = unique("m");
    // Created in an order that differs from the listing order.
    const allKinds = await put(`${base}-c-all`, { provider, handler: url });
    const opened = await put(`${base}-a-opened`, { provider, events: ["ticket.opened"], handler: url });
    await put(`${base}-b-closed`, { provider, events: ["ticket.closed"], handler: url });
    await put(`${base}-d-other-provider`, { provider: other, handler: url });
    const tenantA = await put(`${base}-e-tenant-a`, { provider, handler: url, tenant_id: "tenant-a" });
    await put(`${base}-f-tenant-b`, { provider, handler: url, tenant_id: "tenant-b" });
    await put(`${base}-0-versioned`, { provider, handler: url, events: ["nope"] });
    const versioned = await put(`${base}-0-versioned`, { provider, handler: url });
    expect(versioned).toBe(`${base}-0-versioned@v2`);
    await put(`${base}-g-deleted`, { provider, handler: url });
    expect((await api("DELETE", `/v1/bindings/${base}-g-deleted`)).status).toBe(204);

    // No tenant: untenanted bindings whose filter is empty or lists the kind.
    const plain = await publish({ provider, kind: "ticket.opened", payload: { n: 1 } });
    const plainDispatches = await dispatchedKeys(plain, [versioned, opened, allKinds]);
    expect(plainDispatches.map((d: Json) => d.binding_key)).toEqual([versioned, opened, allKinds]);
    for (const d of plainDispatches) {
      expect(d).toMatchObject({ event_id: plain, status: "succeeded", handler_kind: "https", target_uri: url });
      expect(d.trigger_id).toBe(d.binding_key.slice(0, d.binding_key.lastIndexOf("@v")));
    }

    // Tenant a: its own binding too, never tenant b's.
    const tenant = await publish({ provider, kind: "ticket.opened", payload: { n: 2 }, tenant_id: "tenant-a" });
    const tenantDispatches = await dispatchedKeys(tenant, [versioned, opened, allKinds, tenantA]);
    expect(tenantDispatches.map((d: Json) => d.binding_key)).toEqual([versioned, opened, allKinds, tenantA]);

    // Another tenant: only the untenanted ones.
    const tenantC = await publish({ provider, kind: "ticket.opened", payload: { n: 3 }, tenant_id: "tenant-c" });
    expect((await dispatchedKeys(tenantC, [versioned, opened, allKinds])).map((d: Json) => d.binding_key)).toEqual([
      versioned,
      opened,
      allKinds,
    ]);

    // A kind nobody filters for reaches only the empty filters.
    const push = await publish({ provider, kind: "ticket.pushed", payload: {} });
    expect((await dispatchedKeys(push, [versioned, allKinds])).map((d: Json) => d.binding_key)).toEqual([
      versioned,
      allKinds,
    ]);

    // A provider with no bindings is accepted and dispatches nothing.
    const nobody = await publish({ provider: unique("nobody"), kind: "x", payload: {} });
    expect(await dispatchedKeys(nobody, [])).toEqual([]);
  });

  it("routes a targeted publish to exactly that binding, skipping its events filter", async () => {
    const provider = unique("target");
    const hook = unique("h");
    await handler.script(hook, { responses: [], otherwise: { status: 200, body: { ok: true } } });
    const url = handler.url(hook);
    const base = unique("t");
    const closedOnly = await put(`${base}-closed`, { provider, events: ["ticket.closed"], handler: url });
    await put(`${base}-all`, { provider, handler: url });

    const eventId = await publish({
      provider,
      kind: "ticket.opened",
      payload: {},
      target: { binding_id: `${base}-closed` },
    });
    expect((await dispatchedKeys(eventId, [closedOnly])).map((d: Json) => d.binding_key)).toEqual([closedOnly]);

    // A targeted version, after a new version drained it, still reaches only that version.
    const v2 = await put(`${base}-closed`, { provider, events: ["ticket.closed"], handler: url, timeout_ms: 5000 });
    const toV2 = await publish({
      provider,
      kind: "other",
      payload: {},
      target: { binding_id: `${base}-closed`, version: 2 },
    });
    expect((await dispatchedKeys(toV2, [v2])).map((d: Json) => d.binding_key)).toEqual([v2]);

    // Targets that cannot take the event are refused up front.
    const missing = await api("POST", "/v1/events", {
      provider,
      kind: "x",
      payload: {},
      target: { binding_id: unique("missing") },
    });
    expect(missing.status).toBe(404);
    const noVersion = await api("POST", "/v1/events", {
      provider,
      kind: "x",
      payload: {},
      target: { binding_id: `${base}-closed`, version: 9 },
    });
    expect(noVersion.status).toBe(404);
  });

  it("never lets one tenant's targeted event reach another tenant's binding", async () => {
    const provider = unique("tenanttarget");
    const hook = unique("h");
    await handler.script(hook, { responses: [], otherwise: { status: 200, body: { ok: true } } });
    const id = unique("scoped");
    const key = await put(id, { provider, handler: handler.url(hook), tenant_id: "tenant-a" });
    const foreign = await api("POST", "/v1/events", {
      provider,
      kind: "x",
      payload: {},
      tenant_id: "tenant-b",
      target: { binding_id: id },
    });
    // Either refused up front or accepted with no dispatch; never delivered.
    expect([202, 404]).toContain(foreign.status);
    const own = await publish({ provider, kind: "x", payload: {}, tenant_id: "tenant-a", target: { binding_id: id } });
    expect((await dispatchedKeys(own, [key])).map((d: Json) => d.binding_key)).toEqual([key]);
    if (foreign.status === 202)
      expect((await api("GET", `/v1/events/${foreign.body.event_id}`)).body.dispatches).toEqual([]);
    expect(await handler.calls(hook)).toHaveLength(1);
  });

  it("routes a cron tick with cron_id to that binding", async () => {
    const hook = unique("h");
    await handler.script(hook, { responses: [], otherwise: { status: 200, body: { ok: true } } });
    const id = unique("nightly");
    const key = await put(id, { provider: "cron", events: ["never"], handler: handler.url(hook) });
    const otherCron = await put(unique("hourly"), { provider: "cron", events: ["never"], handler: handler.url(hook) });
    const eventId = await publish({ provider: "cron", kind: "tick", payload: { cron_id: id } });
    const dispatches = await dispatchedKeys(eventId, [key]);
    expect(dispatches.map((d: Json) => d.binding_key)).toEqual([key]);
    expect(dispatches.map((d: Json) => d.binding_key)).not.toContain(otherCron);
  });

  it("routes an event that matches more than 100 bindings", async () => {
    const provider = unique("fanout");
    const hook = unique("h");
    await handler.script(hook, { responses: [], otherwise: { status: 200, body: { ok: true } } });
    const base = unique("fan");
    const keys: string[] = [];
    for (let i = 0; i < 110; i++) {
      keys.push(await put(`${base}-${String(i).padStart(3, "0")}`, { provider, handler: handler.url(hook) }));
    }
    const eventId = await publish({ provider, kind: "burst", payload: {} });
    const dispatches = await eventually(async () => {
      const res = await api("GET", `/v1/events/${eventId}`);
      const list: Json[] = res.body.dispatches;
      return list.length === keys.length && list.every((d) => d.status === "succeeded") ? list : undefined;
    }, 30_000);
    expect(dispatches.map((d) => d.binding_key)).toEqual(keys);
    expect(await handler.calls(hook)).toHaveLength(keys.length);
  }, 60_000);
});
