import { describe, expect, it } from "vitest";
import { api, eventually, unique } from "../../support/api";

const HANDLER = "https://hooks.example.com/in";

// biome-ignore lint/suspicious/noExplicitAny: API bodies are asserted field by field
type Json = any;

async function put(id: string, spec: unknown) {
  return api("PUT", `/v1/bindings/${id}`, spec);
}

async function versions(id: string): Promise<Json[]> {
  const res = await api("GET", `/v1/bindings/${id}`);
  expect(res.status).toBe(200);
  return res.body.versions;
}

async function stateOf(id: string, version: number): Promise<string | undefined> {
  return (await versions(id)).find((v: Json) => v.version === version)?.state;
}

async function waitForState(id: string, version: number, state: string) {
  return eventually(async () => ((await stateOf(id, version)) === state ? true : undefined));
}

/** The state_transition records of one binding version, oldest first, as "from→to". */
async function transitions(bindingKey: string): Promise<string[]> {
  const res = await api(
    "GET",
    `/v1/records?topic=triggers.lifecycle&kind=state_transition&binding_key=${encodeURIComponent(bindingKey)}`,
  );
  expect(res.status).toBe(200);
  return res.body.items.map((r: Json) => {
    expect(r.binding_key).toBe(bindingKey);
    return `${r.payload.from}→${r.payload.to}`;
  });
}

describe("binding versions (SPEC 5.2, 19)", () => {
  it("creates version 1 with defaults applied → 201", async () => {
    const id = unique("create");
    const before = Date.now();
    const res = await put(id, { provider: "github", events: ["issues.opened"], handler: HANDLER });
    expect(res.status).toBe(201);
    expect(res.body).toEqual({
      id,
      version: 1,
      binding_key: `${id}@v1`,
      state: "active",
      spec: {
        provider: "github",
        events: ["issues.opened"],
        handler: HANDLER,
        allow_cleartext: false,
        timeout_ms: 30_000,
        retry: { max_attempts: 7, policy: "svix" },
        dispatch_priority: "normal",
        tenant_id: null,
      },
      created_at: expect.any(String),
    });
    expect(Date.parse(res.body.created_at)).toBeGreaterThanOrEqual(before - 1000);

    const got = await api("GET", `/v1/bindings/${id}`);
    expect(got.status).toBe(200);
    expect(got.body).toEqual({
      id,
      paused: false,
      versions: [
        {
          version: 1,
          binding_key: `${id}@v1`,
          state: "active",
          spec: res.body.spec,
          created_at: res.body.created_at,
        },
      ],
    });
  });

  it("normalises durations so equivalent spellings are the same spec", async () => {
    const id = unique("durations");
    const first = await put(id, {
      provider: "github",
      handler: HANDLER,
      timeout_ms: "5s",
      retry: { max_attempts: 0, policy: { linear: { delay_ms: "1m" } } },
    });
    expect(first.status).toBe(201);
    expect(first.body.spec.timeout_ms).toBe(5000);
    expect(first.body.spec.retry).toEqual({ max_attempts: 7, policy: { linear: { delay_ms: 60_000 } } });
    const same = await put(id, {
      retry: { policy: { linear: { delay_ms: 60_000 } }, max_attempts: 7 },
      timeout_ms: 5000,
      handler: HANDLER,
      provider: "github",
    });
    expect(same.status).toBe(200);
    expect(same.body.version).toBe(1);
  });

  it("answers an identical spec with 200 and the same version, whatever the key order or explicit defaults", async () => {
    const id = unique("same");
    const created = await put(id, {
      provider: "github",
      events: ["issues.opened"],
      handler: HANDLER,
      flow_control: { concurrency: { max: 2 } },
    });
    expect(created.status).toBe(201);
    for (const spec of [
      { provider: "github", events: ["issues.opened"], handler: HANDLER, flow_control: { concurrency: { max: 2 } } },
      { flow_control: { concurrency: { max: 2 } }, handler: HANDLER, events: ["issues.opened"], provider: "github" },
      {
        provider: "github",
        events: ["issues.opened"],
        handler: HANDLER,
        flow_control: { concurrency: { max: 2 } },
        retry: { max_attempts: 7, policy: "svix" },
        allow_cleartext: false,
        timeout_ms: 30_000,
        dispatch_priority: "normal",
        tenant_id: null,
      },
      {
        provider: "github",
        events: ["issues.opened"],
        handler: HANDLER,
        flow_control: { concurrency: { max: 2 } },
        retry: { policy: "svix", max_attempts: 7 },
      },
    ]) {
      const res = await put(id, spec);
      expect(res.status, JSON.stringify(spec)).toBe(200);
      expect(res.body).toEqual(created.body);
    }
    expect(await versions(id)).toHaveLength(1);
    expect(await transitions(`${id}@v1`)).toEqual(["null→active"]);
  });

  it("creates version 2 for a changed spec; v1 drains then terminates with lifecycle records", async () => {
    const id = unique("change");
    const v1 = await put(id, { provider: "github", handler: HANDLER });
    expect(v1.status).toBe(201);
    const v2 = await put(id, { provider: "github", handler: HANDLER, events: ["issues.closed"] });
    expect(v2.status).toBe(201);
    expect(v2.body).toMatchObject({ id, version: 2, binding_key: `${id}@v2`, state: "active" });
    expect(v2.body.spec.events).toEqual(["issues.closed"]);

    // v1 had nothing in flight, so termination follows promptly.
    await waitForState(id, 1, "terminated");
    const all = await versions(id);
    expect(all.map((v: Json) => [v.binding_key, v.state])).toEqual([
      [`${id}@v1`, "terminated"],
      [`${id}@v2`, "active"],
    ]);
    // Terminated versions stay readable with their spec.
    expect(all[0].spec).toEqual(v1.body.spec);
    expect(all[0].created_at).toBe(v1.body.created_at);

    expect(await transitions(`${id}@v1`)).toEqual(["null→active", "active→draining", "draining→terminated"]);
    expect(await transitions(`${id}@v2`)).toEqual(["null→active"]);

    const records = await api("GET", `/v1/records?topic=triggers.lifecycle&kind=state_transition`);
    const mine = records.body.items.filter((r: Json) => r.payload.binding_id === id);
    expect(mine.map((r: Json) => r.payload)).toEqual([
      { binding_id: id, version: 1, binding_key: `${id}@v1`, from: null, to: "active" },
      { binding_id: id, version: 2, binding_key: `${id}@v2`, from: null, to: "active" },
      { binding_id: id, version: 1, binding_key: `${id}@v1`, from: "active", to: "draining" },
      { binding_id: id, version: 1, binding_key: `${id}@v1`, from: "draining", to: "terminated" },
    ]);

    // Re-sending the new spec is unchanged; going back to the old spec is a new version, not a revival.
    expect((await put(id, { provider: "github", handler: HANDLER, events: ["issues.closed"] })).status).toBe(200);
    const v3 = await put(id, { provider: "github", handler: HANDLER });
    expect(v3.status).toBe(201);
    expect(v3.body.version).toBe(3);
    await waitForState(id, 2, "terminated");
    expect((await versions(id)).map((v: Json) => v.state)).toEqual(["terminated", "terminated", "active"]);
  });

  it("writes tenant-scoped lifecycle records for a tenant binding", async () => {
    const id = unique("tenant");
    expect((await put(id, { provider: "github", handler: HANDLER, tenant_id: "acme" })).status).toBe(201);
    const res = await api(
      "GET",
      `/v1/records?topic=tenant.acme.triggers.lifecycle&kind=state_transition&binding_key=${encodeURIComponent(`${id}@v1`)}`,
    );
    expect(res.body.items.map((r: Json) => [r.tenant_id, r.payload.to])).toEqual([["acme", "active"]]);

    expect((await put(id, { provider: "github", handler: HANDLER, tenant_id: "acme", timeout_ms: 1000 })).status).toBe(
      201,
    );
    await waitForState(id, 1, "terminated");
    const after = await api(
      "GET",
      `/v1/records?topic=tenant.acme.triggers.lifecycle&kind=state_transition&binding_key=${encodeURIComponent(`${id}@v1`)}`,
    );
    expect(after.body.items.map((r: Json) => [r.tenant_id, r.payload.to])).toEqual([
      ["acme", "active"],
      ["acme", "draining"],
      ["acme", "terminated"],
    ]);
  });

  it("keeps one version when the same new spec is PUT concurrently", async () => {
    const id = unique("race");
    const spec = { provider: "github", handler: HANDLER };
    const results = await Promise.all(Array.from({ length: 8 }, () => put(id, spec)));
    const statuses = results.map((r) => r.status).sort();
    expect(statuses).toEqual([200, 200, 200, 200, 200, 200, 200, 201]);
    for (const r of results) expect(r.body.binding_key).toBe(`${id}@v1`);
    expect(await versions(id)).toHaveLength(1);
  });

  it("DELETE drains every version → 204; versions stay readable and terminate", async () => {
    const id = unique("delete");
    await put(id, { provider: "github", handler: HANDLER });
    await put(id, { provider: "github", handler: HANDLER, timeout_ms: 1000 });
    const del = await api("DELETE", `/v1/bindings/${id}`);
    expect(del.status).toBe(204);
    expect(del.body).toBeNull();
    await waitForState(id, 2, "terminated");
    await waitForState(id, 1, "terminated");
    expect(await transitions(`${id}@v2`)).toEqual(["null→active", "active→draining", "draining→terminated"]);

    // Deleting again is harmless; the binding still exists as history.
    expect((await api("DELETE", `/v1/bindings/${id}`)).status).toBe(204);
    expect((await api("GET", `/v1/bindings/${id}`)).status).toBe(200);

    // PUT after DELETE brings the binding back as a new version.
    const again = await put(id, { provider: "github", handler: HANDLER });
    expect(again.status).toBe(201);
    expect(again.body).toMatchObject({ version: 3, state: "active" });
  });

  it("DELETE of an unknown binding → 404", async () => {
    const res = await api("DELETE", `/v1/bindings/${unique("nobody")}`);
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe("not_found");
  });

  it("GET /v1/bindings lists ids with their versions, paged by cursor", async () => {
    const prefix = unique("list");
    const ids = [`${prefix}-c`, `${prefix}-a`, `${prefix}-b`];
    for (const id of ids) expect((await put(id, { provider: "github", handler: HANDLER })).status).toBe(201);
    expect((await put(`${prefix}-a`, { provider: "github", handler: HANDLER, events: ["x"] })).status).toBe(201);

    const seen: Json[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const res: Json = await api("GET", `/v1/bindings?limit=2${cursor ? `&cursor=${cursor}` : ""}`);
      expect(res.status).toBe(200);
      expect(res.body.items.length).toBeLessThanOrEqual(2);
      seen.push(...res.body.items);
      cursor = res.body.next_cursor;
      pages += 1;
    } while (cursor && pages < 100);
    expect(cursor).toBeNull();
    const allIds = seen.map((b) => b.id);
    expect(new Set(allIds).size).toBe(allIds.length);
    expect(allIds).toEqual([...allIds].sort());

    const mine = seen.filter((b) => b.id.startsWith(prefix));
    expect(mine.map((b) => b.id)).toEqual([`${prefix}-a`, `${prefix}-b`, `${prefix}-c`]);
    expect(mine[0].versions.map((v: Json) => v.binding_key)).toEqual([`${prefix}-a@v1`, `${prefix}-a@v2`]);
    expect(mine[0].versions[1]).toMatchObject({ version: 2, state: "active", spec: { events: ["x"] } });
    expect(mine[1]).toMatchObject({ paused: false, versions: [{ version: 1, binding_key: `${prefix}-b@v1` }] });

    const first = await api("GET", "/v1/bindings?limit=500");
    expect(first.body.next_cursor).toBeNull();
    expect(first.body.items.map((b: Json) => b.id)).toEqual(allIds);
  });
});
