/** SPEC 15/16 tenant API keys: admin-managed, shown once, stored hashed, revocable. */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { api, unique } from "../../support/api";

const as = (key: string) => ({ authorization: `Bearer ${key}` });

describe("tenant API keys", () => {
  it("creates a key shown once, lists it without the secret, authenticates with it, and revokes it", async () => {
    const tenant = unique("t");
    const created = await api("POST", `/v1/tenants/${tenant}/keys`, { name: "ci" });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ name: "ci", tenant_id: tenant });
    const { id, key } = created.body as { id: string; key: string };
    expect(key).toMatch(/^key_[0-9a-f-]{36}\.[A-Za-z0-9_-]{43}$/);
    expect(key.startsWith(`${id}.`)).toBe(true);

    // Stored hashed: the secret is nowhere in D1.
    const row = await env.DB.prepare("SELECT * FROM tenant_keys WHERE id = ?").bind(id).first<Record<string, string>>();
    expect(JSON.stringify(row)).not.toContain(key.split(".")[1]);
    expect(row?.key_hash).toMatch(/^[0-9a-f]{64}$/);

    const listed = await api("GET", `/v1/tenants/${tenant}/keys`);
    expect(listed.status).toBe(200);
    expect(listed.body.items).toEqual([
      { id, name: "ci", tenant_id: tenant, created_at: expect.any(String), revoked_at: null },
    ]);
    expect(JSON.stringify(listed.body)).not.toContain(key);

    // The key works on /v1 but cannot manage keys.
    expect((await api("GET", "/v1/events", undefined, as(key))).status).toBe(200);
    const forbidden = await api("POST", `/v1/tenants/${tenant}/keys`, { name: "x" }, as(key));
    expect(forbidden.status).toBe(403);
    expect(forbidden.body.error.message).toBe("managing tenant keys needs the admin token");

    // A wrong secret, a malformed key and an unknown id are all just invalid.
    expect((await api("GET", "/v1/events", undefined, as(`${id}.${"A".repeat(43)}`))).status).toBe(401);
    expect((await api("GET", "/v1/events", undefined, as("key_nope"))).status).toBe(401);

    expect((await api("DELETE", `/v1/tenants/${tenant}/keys/${id}`)).status).toBe(204);
    const revoked = await api("GET", "/v1/events", undefined, as(key));
    expect(revoked.status).toBe(401);
    expect(revoked.body.error.message).toBe("invalid bearer token");
    expect((await api("GET", `/v1/tenants/${tenant}/keys`)).body.items[0].revoked_at).toEqual(expect.any(String));
  });

  it("rejects bad input with 4xx", async () => {
    expect((await api("POST", "/v1/tenants/bad tenant!/keys", { name: "x" })).status).toBe(400);
    expect((await api("POST", "/v1/tenants/t1/keys", { name: "" })).status).toBe(400);
    expect((await api("POST", "/v1/tenants/t1/keys", { name: "x", extra: 1 })).status).toBe(400);
    expect((await api("POST", "/v1/tenants/t1/keys", "not json")).status).toBe(400);
    expect((await api("DELETE", "/v1/tenants/t1/keys/key_missing")).status).toBe(404);
    // Another tenant's key id is not found under this tenant.
    const other = await api("POST", `/v1/tenants/${unique("t")}/keys`, { name: "x" });
    expect((await api("DELETE", `/v1/tenants/t1/keys/${other.body.id}`)).status).toBe(404);
  });
});
