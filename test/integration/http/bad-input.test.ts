/**
 * Regression examples for client input that once broke a route (found by the property tests under
 * test/fuzz): each answers a 4xx error envelope and writes nothing.
 */
import { exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { api, BASE, unique, waitForDispatch } from "../../support/api";
import { bindingTo, publish } from "../../support/dispatch";

function expectEnvelope(res: { status: number; body: unknown }, status: number) {
  expect(res.status, JSON.stringify(res.body)).toBe(status);
  expect(res.body).toMatchObject({ error: { code: expect.any(String), message: expect.stringMatching(/\S/) } });
}

describe("dispatch addresses with a literal or broken percent sign", () => {
  it.each([
    ["a bare percent sign", "%25@v1"],
    ["a percent sign not followed by hex", "a%25zz@v1"],
  ])("%s in the binding key answers 404, not 500", async (_name, key) => {
    for (const [method, suffix, body] of [
      ["GET", "", undefined],
      ["POST", "/cancel", {}],
      ["POST", "/complete", { status: "succeeded" }],
    ] as const) {
      expectEnvelope(await api(method, `/v1/dispatches/${key}/evt_x${suffix}`, body), 404);
    }
  });

  it("still finds a dispatch addressed with `@` raw or as %40", async () => {
    const binding = await bindingTo("worker://bad-input-jobs");
    const { event_id } = await publish(binding.provider);
    await waitForDispatch(binding.bindingKey, event_id, ["succeeded"]);
    const raw = await api("GET", `/v1/dispatches/${binding.bindingKey}/${event_id}`);
    const encoded = await api("GET", `/v1/dispatches/${binding.bindingKey.replace("@", "%40")}/${event_id}`);
    expect(raw.status).toBe(200);
    expect(encoded.body).toEqual(raw.body);
  });
});

describe("webhook bodies up to the 1 MiB intake limit are stored whole (SPEC 1.1)", () => {
  const post = (source: string, body: Uint8Array) =>
    exports.default.fetch(`${BASE}/hooks/${source}`, {
      method: "POST",
      headers: { "content-type": "application/octet-stream" },
      body,
    });

  it("a 1 MB body of control bytes (sixfold when JSON-escaped) is accepted and reads back whole", async () => {
    const source = unique("big-ctl");
    expect((await api("PUT", `/v1/sources/${source}`, { verify: { style: "none" } })).status).toBe(201);
    const bytes = new Uint8Array(1_000_000).fill(0x01);
    const res = await post(source, bytes);
    expect(res.status, await res.clone().text()).toBe(202);
    const { event_id } = (await res.json()) as { event_id: string };
    const { event } = (await api("GET", `/v1/events/${event_id}`)).body;
    expect(event.raw_body).toBe(base64(bytes));
    expect(event.payload.raw_base64).toBe(base64(bytes));
  });

  it("a binary body keeps its raw copy next to its parsed forms", async () => {
    const source = unique("big-bin");
    expect((await api("PUT", `/v1/sources/${source}`, { verify: { style: "none" } })).status).toBe(201);
    // 512 KiB, half invalid UTF-8: raw_utf8 ≈ 1 MB, raw_base64 ≈ 0.7 MB and the raw body 0.7 MB.
    const bytes = new Uint8Array(512 * 1024).fill(0x61);
    bytes.fill(0xff, 0, 256 * 1024);
    const res = await post(source, bytes);
    expect(res.status, await res.clone().text()).toBe(202);
    const { event_id } = (await res.json()) as { event_id: string };
    const { event } = (await api("GET", `/v1/events/${event_id}`)).body;
    expect(event.raw_body).toBe(base64(bytes));
    expect(event.payload.raw_base64).toBe(base64(bytes));
  });
});

function base64(bytes: Uint8Array): string {
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary);
}

describe("trust listing cursors", () => {
  const cursor = (key: unknown[]) =>
    btoa(JSON.stringify(key)).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");

  it.each([[["x"]], [[1.5]], [[-1]], [[1e300]]])("a cursor of %j is a 400, not an empty page", async (key) => {
    expectEnvelope(await api("GET", `/v1/trust?cursor=${cursor(key)}`), 400);
  });

  it("a cursor with a record seq pages on", async () => {
    const res = await api("GET", `/v1/trust?cursor=${cursor([0])}`);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ items: expect.any(Array) });
  });
});

describe("text with unpaired surrogates (valid JSON, not storable as text)", () => {
  it.each([
    ["kind", { provider: "p-lone", kind: "a\ud800", payload: {} }],
    ["dedupe_key", { provider: "p-lone", kind: "k", payload: {}, dedupe_key: "d\udc00" }],
  ])("a published %s is a 400 naming the field, and nothing is stored", async (field, event) => {
    const before = (await api("GET", "/v1/events?provider=p-lone")).body.items.length;
    const res = await api("POST", "/v1/events", JSON.stringify(event));
    expectEnvelope(res, 400);
    expect(res.body.error.message).toContain(field);
    expect((await api("GET", "/v1/events?provider=p-lone")).body.items).toHaveLength(before);
  });

  it("an approval decision's reviewer or reason is a 400", async () => {
    for (const body of [{ reviewer: "r\ud800" }, { reason: "\udfff" }]) {
      const res = await api("POST", "/v1/approvals/apr_missing/approve", JSON.stringify(body));
      expectEnvelope(res, 400);
    }
  });

  it("a webhook kind is stored with U+FFFD, as it reads back", async () => {
    const source = unique("lone-kind");
    expect((await api("PUT", `/v1/sources/${source}`, { verify: { style: "none" } })).status).toBe(201);
    const res = await exports.default.fetch(`${BASE}/hooks/${source}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: '{"type":"order\\ud800"}',
    });
    expect(res.status).toBe(202);
    const { event_id } = (await res.json()) as { event_id: string };
    const { event } = (await api("GET", `/v1/events/${event_id}`)).body;
    expect(event.kind).toBe("order\ufffd");
    expect(event.payload).toEqual({ type: "order\ud800" });
  });
});

describe("JSON objects with an own __proto__ key", () => {
  it("a published payload keeps the key", async () => {
    const res = await api(
      "POST",
      "/v1/events",
      '{"provider":"p-proto","kind":"k","payload":{"a":{"__proto__":{"x":1}}}}',
    );
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    const { event } = (await api("GET", `/v1/events/${res.body.event_id}`)).body;
    expect(JSON.stringify(event.payload)).toBe('{"a":{"__proto__":{"x":1}}}');
  });

  it("a published header named __proto__ is a 400 rather than silently dropped", async () => {
    const res = await api(
      "POST",
      "/v1/events",
      '{"provider":"p-proto","kind":"k","payload":{},"headers":{"__proto__":"x"}}',
    );
    expectEnvelope(res, 400);
    expect(res.body.error.message).toContain("__proto__");
  });
});

describe("dispatch cancel and complete text with unpaired surrogates", () => {
  it.each([
    ["cancel", { reason: "r\ud800" }],
    ["cancel", { requested_by: "\udc00" }],
    ["complete", { status: "failed", error: "e\ud800" }],
  ])("%s %j is a 400 before the dispatch is looked up", async (action, body) => {
    const res = await api("POST", `/v1/dispatches/nope@v1/evt_x/${action}`, JSON.stringify(body));
    expectEnvelope(res, 400);
  });
});

describe("tenant key names with unpaired surrogates", () => {
  it("are a 400 and create no key", async () => {
    const res = await api("POST", "/v1/tenants/t-lone/keys", JSON.stringify({ name: "ci\ud800" }));
    expectEnvelope(res, 400);
    expect((await api("GET", "/v1/tenants/t-lone/keys")).body.items).toEqual([]);
  });
});
