import { exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { api, BASE, handler, unique } from "../../support/api";
import { expectError } from "./support";

/** A provider name no binding in this file listens to, so published events dispatch nothing. */
const provider = () => unique("pub").toLowerCase();

/** Every event id in the store (newest first), following cursors. */
async function allEventIds(filter = ""): Promise<string[]> {
  const ids: string[] = [];
  let cursor: string | null = null;
  for (let i = 0; i < 100; i++) {
    const res = await api("GET", `/v1/events?limit=500${filter}${cursor ? `&cursor=${cursor}` : ""}`);
    expect(res.status).toBe(200);
    ids.push(...res.body.items.map((e: { id: string }) => e.id));
    cursor = res.body.next_cursor;
    if (!cursor) break;
  }
  return ids;
}

describe("POST /v1/events", () => {
  it("publishes one event (202) and stores it as given", async () => {
    const p = provider();
    const res = await api("POST", "/v1/events", {
      provider: p,
      kind: "order.created",
      payload: { order: 1, note: "ü" },
      headers: { "X-Origin": "billing" },
      occurred_at: "2024-05-01T10:00:00+02:00",
      trace_id: "trace_caller-1",
      tenant_id: "acme",
    });
    expect(res.status).toBe(202);
    expect(res.body).toEqual({
      status: "accepted",
      event_id: expect.stringMatching(/^evt_/),
      trace_id: "trace_caller-1",
    });
    const got = await api("GET", `/v1/events/${res.body.event_id}`);
    expect(got.status).toBe(200);
    expect(got.body.event).toMatchObject({
      id: res.body.event_id,
      provider: p,
      kind: "order.created",
      payload: { order: 1, note: "ü" },
      headers: { "x-origin": "billing" },
      trace_id: "trace_caller-1",
      tenant_id: "acme",
      signature_status: { state: "unsigned" },
    });
    expect(Date.parse(got.body.event.occurred_at)).toBe(Date.parse("2024-05-01T08:00:00Z"));
    expect(got.body.dispatches).toEqual([]);
  });

  it("assigns a fresh trace id when none is given and accepts null/array/scalar payloads", async () => {
    const p = provider();
    for (const payload of [null, [1, 2], "text", 0, false]) {
      const res = await api("POST", "/v1/events", { provider: p, kind: "k", payload });
      expect(res.status, JSON.stringify(res.body)).toBe(202);
      expect(res.body.trace_id).toMatch(/^trace_/);
      const got = await api("GET", `/v1/events/${res.body.event_id}`);
      expect(got.body.event.payload).toEqual(payload);
    }
  });

  it("publishes an array (202) with answers in input order, listed newest first", async () => {
    const p = provider();
    const input = Array.from({ length: 5 }, (_, i) => ({ provider: p, kind: `k${i}`, payload: { i } }));
    const res = await api("POST", "/v1/events", input);
    expect(res.status).toBe(202);
    expect(res.body.items).toHaveLength(5);
    for (const [i, item] of res.body.items.entries()) {
      expect(item).toEqual({ status: "accepted", event_id: expect.any(String), trace_id: expect.any(String) });
      const got = await api("GET", `/v1/events/${item.event_id}`);
      expect(got.body.event.kind).toBe(`k${i}`);
    }
    // Newest first: the last item of the array was accepted last.
    const listed = await api("GET", `/v1/events?provider=${p}`);
    expect(listed.body.items.map((e: { kind: string }) => e.kind)).toEqual(["k4", "k3", "k2", "k1", "k0"]);
  });

  it("rejects more than 100 items and an empty array with 400", async () => {
    const p = provider();
    const before = (await allEventIds()).length;
    const many = Array.from({ length: 101 }, (_, i) => ({ provider: p, kind: "k", payload: { i } }));
    expectError(await api("POST", "/v1/events", many), 400);
    expectError(await api("POST", "/v1/events", []), 400);
    const hundred = await api(
      "POST",
      "/v1/events",
      Array.from({ length: 100 }, (_, i) => ({ provider: p, kind: "k", payload: { i } })),
    );
    expect(hundred.status).toBe(202);
    expect(hundred.body.items).toHaveLength(100);
    expect((await allEventIds()).length).toBe(before + 100);
  });

  it("rejects an array with one invalid item (400, path names the item) and writes nothing", async () => {
    const p = provider();
    const before = await allEventIds();
    const res = await api("POST", "/v1/events", [
      { provider: p, kind: "ok", payload: {} },
      { provider: p, kind: "ok2", payload: {} },
      { provider: p, kind: "", payload: {} },
    ]);
    const error = expectError(res, 400, "validation_failed");
    expect(error.message).toContain("[2]");
    expect((error.details as { problems: { path: string }[] }).problems.map((x) => x.path)).toContain("kind");
    expect(await allEventIds()).toEqual(before);

    // A bad target in the last item also leaves nothing written.
    const target = await api("POST", "/v1/events", [
      { provider: p, kind: "ok", payload: {} },
      { provider: p, kind: "ok", payload: {}, target: { binding_id: unique("missing") } },
    ]);
    expectError(target, 404, "not_found");
    expect(await allEventIds()).toEqual(before);
  });

  describe("validation", () => {
    const cases: { name: string; body: unknown; path: string }[] = [
      { name: "missing provider", body: { kind: "k", payload: {} }, path: "provider" },
      { name: "bad provider", body: { provider: "Bad Provider", kind: "k", payload: {} }, path: "provider" },
      { name: "missing kind", body: { provider: "p", payload: {} }, path: "kind" },
      { name: "missing payload", body: { provider: "p", kind: "k" }, path: "payload" },
      { name: "unknown field", body: { provider: "p", kind: "k", payload: {}, extra: 1 }, path: "extra" },
      {
        name: "bad occurred_at",
        body: { provider: "p", kind: "k", payload: {}, occurred_at: "yesterday" },
        path: "occurred_at",
      },
      {
        name: "bad trace_id",
        body: { provider: "p", kind: "k", payload: {}, trace_id: "has space" },
        path: "trace_id",
      },
      { name: "bad tenant_id", body: { provider: "p", kind: "k", payload: {}, tenant_id: "a/b" }, path: "tenant_id" },
      {
        name: "header value not a string",
        body: { provider: "p", kind: "k", payload: {}, headers: { a: 1 } },
        path: "headers.a",
      },
      {
        name: "bad target",
        body: { provider: "p", kind: "k", payload: {}, target: { binding_id: "" } },
        path: "target.binding_id",
      },
      {
        name: "target version 0",
        body: { provider: "p", kind: "k", payload: {}, target: { binding_id: "b", version: 0 } },
        path: "target.version",
      },
      {
        name: "unknown target field",
        body: { provider: "p", kind: "k", payload: {}, target: { binding_id: "b", x: 1 } },
        path: "target.x",
      },
    ];
    it.each(cases)("$name → 400", async ({ body, path }) => {
      const res = await api("POST", "/v1/events", body);
      const error = expectError(res, 400, "validation_failed");
      expect((error.details as { problems: { path: string }[] }).problems.map((p) => p.path)).toContain(path);
    });

    it("rejects non-JSON (400), wrong content type (415), missing bearer (401)", async () => {
      expectError(await api("POST", "/v1/events", "{nope"), 400, "bad_request");
      expectError(await api("POST", "/v1/events", '"scalar"'), 400);
      expectError(
        await api("POST", "/v1/events", JSON.stringify({ provider: "p", kind: "k", payload: {} }), {
          "content-type": "text/plain",
        }),
        415,
      );
      const res = await exports.default.fetch(`${BASE}/v1/events`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ provider: "p", kind: "k", payload: {} }),
      });
      expect(res.status).toBe(401);
      const big = JSON.stringify({ provider: "p", kind: "k", payload: { pad: "x".repeat(1024 * 1024) } });
      expectError(await api("POST", "/v1/events", big), 413);
      expectError(
        await api(
          "POST",
          "/v1/events",
          { provider: "p", kind: "k", payload: {} },
          { "idempotency-key": "x".repeat(513) },
        ),
        400,
      );
    });

    it("rejects a payload nested deeper than 128 levels with 400, not 500", async () => {
      const nested = (n: number) => `${"[".repeat(n)}${"]".repeat(n)}`;
      for (const depth of [129, 50_000]) {
        const res = await api("POST", "/v1/events", `{"provider":"p","kind":"k","payload":${nested(depth)}}`);
        const error = expectError(res, 400, "validation_failed");
        expect((error.details as { problems: { path: string }[] }).problems.map((p) => p.path)).toEqual(["payload"]);
        const inArray = await api("POST", "/v1/events", `[{"provider":"p","kind":"k","payload":${nested(depth)}}]`);
        expectError(inArray, 400, "validation_failed");
      }
      const ok = await api("POST", "/v1/events", `{"provider":"${provider()}","kind":"k","payload":${nested(128)}}`);
      expect(ok.status).toBe(202);
    });
  });

  describe("dedupe", () => {
    it("answers a repeated dedupe_key with 200 duplicate", async () => {
      const p = provider();
      const key = unique("dk");
      const first = await api("POST", "/v1/events", { provider: p, kind: "k", payload: { n: 1 }, dedupe_key: key });
      expect(first.status).toBe(202);
      const again = await api("POST", "/v1/events", { provider: p, kind: "k", payload: { n: 2 }, dedupe_key: key });
      expect(again.status).toBe(200);
      expect(again.body).toEqual({ status: "duplicate", event_id: first.body.event_id });
      const got = await api("GET", `/v1/events/${first.body.event_id}`);
      expect(got.body.event.dedupe_key).toBe(key);
      // Another tenant has its own scope.
      const other = await api("POST", "/v1/events", {
        provider: p,
        kind: "k",
        payload: {},
        dedupe_key: key,
        tenant_id: "other",
      });
      expect(other.status).toBe(202);
      expect((await allEventIds(`&provider=${p}`)).length).toBe(2);
      // A tenant named "_" does not share the scope of events without a tenant.
      const underscore = await api("POST", "/v1/events", {
        provider: p,
        kind: "k",
        payload: {},
        dedupe_key: key,
        tenant_id: "_",
      });
      expect(underscore.status).toBe(202);
      expect(underscore.body.event_id).not.toBe(first.body.event_id);
    });

    it("answers a repeated Idempotency-Key with 200 duplicate", async () => {
      const p = provider();
      const key = unique("idem");
      const body = { provider: p, kind: "k", payload: {} };
      const first = await api("POST", "/v1/events", body, { "idempotency-key": key });
      expect(first.status).toBe(202);
      const again = await api("POST", "/v1/events", body, { "idempotency-key": key });
      expect(again.status).toBe(200);
      expect(again.body).toEqual({ status: "duplicate", event_id: first.body.event_id });
      // Without a key, the same body is a new event each time.
      expect((await api("POST", "/v1/events", body)).status).toBe(202);
      expect((await api("POST", "/v1/events", body)).status).toBe(202);
      expect((await allEventIds(`&provider=${p}`)).length).toBe(3);
    });

    it("answers per item for arrays: a repeated key inside one array and a repeated array", async () => {
      const p = provider();
      const key = unique("arr");
      const res = await api("POST", "/v1/events", [
        { provider: p, kind: "a", payload: {}, dedupe_key: key },
        { provider: p, kind: "b", payload: {}, dedupe_key: key },
        { provider: p, kind: "c", payload: {} },
      ]);
      expect(res.status).toBe(202);
      const [a, b, c] = res.body.items;
      expect(a.status).toBe("accepted");
      expect(b).toEqual({ status: "duplicate", event_id: a.event_id });
      expect(c.status).toBe("accepted");

      const idem = unique("arr-idem");
      const batch = [
        { provider: p, kind: "x", payload: {} },
        { provider: p, kind: "y", payload: {} },
      ];
      const one = await api("POST", "/v1/events", batch, { "idempotency-key": idem });
      const two = await api("POST", "/v1/events", batch, { "idempotency-key": idem });
      expect(one.body.items.map((i: { status: string }) => i.status)).toEqual(["accepted", "accepted"]);
      expect(two.body.items).toEqual(
        one.body.items.map((i: { event_id: string }) => ({ status: "duplicate", event_id: i.event_id })),
      );
    });
  });

  describe("target", () => {
    it("answers 404 for an unknown binding or version", async () => {
      const p = provider();
      const res = await api("POST", "/v1/events", {
        provider: p,
        kind: "k",
        payload: {},
        target: { binding_id: unique("nobind") },
      });
      expectError(res, 404, "not_found");
      expect(await allEventIds(`&provider=${p}`)).toEqual([]);
    });

    it("routes to an existing binding (202)", async () => {
      const hook = unique("target");
      await handler.script(hook, { responses: [], otherwise: { status: 200, body: { ok: true } } });
      const bindingId = unique("tb");
      const bindingProvider = provider();
      const put = await api("PUT", `/v1/bindings/${bindingId}`, {
        provider: bindingProvider,
        events: ["only.this"],
        handler: handler.url(hook),
      });
      expect(put.status, JSON.stringify(put.body)).toBe(201);
      const res = await api("POST", "/v1/events", {
        provider: provider(),
        kind: "anything",
        payload: {},
        target: { binding_id: bindingId },
      });
      expect(res.status).toBe(202);
      expect(res.body.status).toBe("accepted");
      const versioned = await api("POST", "/v1/events", {
        provider: provider(),
        kind: "anything",
        payload: {},
        target: { binding_id: bindingId, version: 1 },
      });
      expect(versioned.status).toBe(202);
      const missingVersion = await api("POST", "/v1/events", {
        provider: provider(),
        kind: "anything",
        payload: {},
        target: { binding_id: bindingId, version: 9 },
      });
      expectError(missingVersion, 404, "not_found");
    });
  });
});

describe("GET /v1/events", () => {
  it("lists newest first with cursor paging and filters", async () => {
    const p = provider();
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const res = await api("POST", "/v1/events", {
        provider: p,
        kind: i % 2 === 0 ? "even" : "odd",
        payload: { i },
        trace_id: `trace_list-${p}-${i}`,
      });
      expect(res.status).toBe(202);
      ids.push(res.body.event_id);
    }
    const newestFirst = [...ids].reverse();

    const pages: string[][] = [];
    let cursor: string | null = null;
    do {
      const res = await api("GET", `/v1/events?provider=${p}&limit=2${cursor ? `&cursor=${cursor}` : ""}`);
      expect(res.status).toBe(200);
      pages.push(res.body.items.map((e: { id: string }) => e.id));
      cursor = res.body.next_cursor;
    } while (cursor);
    expect(pages.map((x) => x.length)).toEqual([2, 2, 1]);
    expect(pages.flat()).toEqual(newestFirst);

    const even = await api("GET", `/v1/events?provider=${p}&kind=even`);
    expect(even.body.items.map((e: { id: string }) => e.id)).toEqual([ids[4], ids[2], ids[0]]);
    expect(even.body.next_cursor).toBeNull();
    const byTrace = await api("GET", `/v1/events?trace_id=trace_list-${p}-3`);
    expect(byTrace.body.items.map((e: { id: string }) => e.id)).toEqual([ids[3]]);
    const none = await api("GET", `/v1/events?provider=${p}&kind=nothing`);
    expect(none.body).toEqual({ items: [], next_cursor: null });

    expectError(await api("GET", "/v1/events?cursor=%%%"), 400);
    expectError(await api("GET", "/v1/events?limit=abc"), 400);
    expectError(await api("GET", "/v1/events?limit=1000"), 400);
  });

  it("never answers 500 to odd list, detail and publish requests", async () => {
    const cursorOf = (value: unknown) => btoa(JSON.stringify(value)).replaceAll("=", "");
    const requests: [string, string, unknown?][] = [
      ["GET", `/v1/events/${"x".repeat(5000)}`],
      ["GET", `/v1/events?cursor=${cursorOf([{}])}`],
      ["GET", `/v1/events?cursor=${cursorOf([1])}`],
      ["GET", `/v1/events?cursor=${cursorOf(["a", "b"])}`],
      ["GET", `/v1/events?provider=${"p".repeat(100)}`],
      ["GET", "/v1/events?limit=-1"],
      ["GET", `/v1/sources?cursor=${cursorOf([1])}`],
      ["GET", `/v1/sources/${"a".repeat(5000)}`],
      ["DELETE", "/v1/sources/UPPER"],
      ["POST", "/v1/events", [1, 2]],
      ["POST", "/v1/events", [null]],
      ["POST", "/v1/events", '{"provider":"p","kind":"k","payload":"\\ud800"}'],
      ["POST", "/v1/events", { provider: "p", kind: "k", payload: {}, headers: { "": "x" } }],
      ["POST", "/v1/events", { provider: "p", kind: "k", payload: {}, occurred_at: "2024-02-30T00:00:00Z" }],
      ["POST", "/v1/events", { provider: "p", kind: "k", payload: {}, target: { binding_id: "b", version: 1e20 } }],
      ["PUT", "/v1/events", { provider: "p" }],
      ["POST", "/v1/events/evt_x", {}],
    ];
    for (const [method, path, body] of requests) {
      const res = await api(method, path, body);
      expect(res.status, `${method} ${path.slice(0, 60)} → ${JSON.stringify(res.body).slice(0, 200)}`).toBeLessThan(
        500,
      );
      if (res.status >= 400) expect(res.body).toHaveProperty("error.code");
    }
    // A cursor that is not a source name is refused rather than silently restarting the listing.
    expectError(await api("GET", `/v1/sources?cursor=${cursorOf([1])}`), 400, "bad_request");
  });

  it("answers 404 for an unknown event id", async () => {
    expectError(await api("GET", "/v1/events/evt_00000000-0000-7000-8000-000000000000"), 404, "not_found");
    expectError(await api("GET", "/v1/events/whatever"), 404, "not_found");
  });
});
