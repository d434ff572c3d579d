import { exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { api, BASE, unique } from "../../support/api";
import { expectError, postHook } from "./support";

const GITHUB = { provider: "github", verify: { style: "github", secret: "s3cret-github-value" } };

describe("sources API", () => {
  it("creates (201), reads, updates (200) and never returns secrets", async () => {
    const name = unique("src");
    const created = await api("PUT", `/v1/sources/${name}`, GITHUB);
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      name,
      provider: "github",
      url: `${BASE}/hooks/${name}`,
      verify: { style: "github", tolerance_s: null, secret_count: 1 },
      tenant_id: null,
      dedupe: { window_s: 7 * 86_400 },
    });
    expect(created.body.verify).not.toHaveProperty("secret");
    expect(created.body.verify).not.toHaveProperty("secrets");
    expect(JSON.stringify(created.body)).not.toContain("s3cret-github-value");

    const got = await api("GET", `/v1/sources/${name}`);
    expect(got.status).toBe(200);
    expect(got.body).toEqual(created.body);

    const updated = await api("PUT", `/v1/sources/${name}`, {
      verify: { style: "stripe", secrets: ["whsec_old", "whsec_new"], tolerance_s: 120 },
      tenant_id: "acme",
      dedupe: { window_s: 3600 },
    });
    expect(updated.status).toBe(200);
    expect(updated.body).toMatchObject({
      name,
      provider: "stripe",
      verify: { style: "stripe", tolerance_s: 120, secret_count: 2 },
      tenant_id: "acme",
      dedupe: { window_s: 3600 },
      created_at: created.body.created_at,
    });
    expect(JSON.stringify(updated.body)).not.toMatch(/whsec_/);
    const again = await api("GET", `/v1/sources/${name}`);
    expect(again.body).toEqual(updated.body);
  });

  it("defaults the provider and tolerance per style and lower-cases the hmac header", async () => {
    const cases = [
      {
        verify: { style: "standard", secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" },
        provider: "webhook",
        tol: 300,
      },
      { verify: { style: "hmac", secret: "x", header: "X-Acme-Signature" }, provider: "webhook", tol: null },
      { verify: { style: "none" }, provider: "webhook", tol: null },
      { verify: { style: "slack", secret: "x" }, provider: "slack", tol: 300 },
      { verify: { style: "linear", secret: "x" }, provider: "linear", tol: 60 },
      { verify: { style: "notion", secret: "x" }, provider: "notion", tol: null },
      { verify: { style: "hmac", secret: "x" }, provider: "webhook", tol: null },
    ];
    for (const c of cases) {
      const res = await api("PUT", `/v1/sources/${unique("def")}`, { verify: c.verify });
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      expect(res.body.provider).toBe(c.provider);
      expect(res.body.verify.tolerance_s).toBe(c.tol);
      expect(res.body.verify.secret_count).toBe(c.verify.style === "none" ? 0 : 1);
    }
    const custom = await api("PUT", `/v1/sources/${unique("hdr")}`, {
      provider: "acme",
      verify: { style: "hmac", secret: "x", header: "X-Acme-Signature" },
    });
    expect(custom.body).toMatchObject({ provider: "acme", verify: { header: "x-acme-signature" } });
  });

  it("lists sources by name with cursor paging", async () => {
    const names = [unique("list-a"), unique("list-b"), unique("list-c")];
    for (const name of names) expect((await api("PUT", `/v1/sources/${name}`, GITHUB)).status).toBe(201);

    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const res = await api("GET", `/v1/sources?limit=2${cursor ? `&cursor=${cursor}` : ""}`);
      expect(res.status).toBe(200);
      expect(res.body.items.length).toBeLessThanOrEqual(2);
      for (const item of res.body.items) {
        expect(item.verify).not.toHaveProperty("secrets");
        expect(typeof item.verify.secret_count).toBe("number");
        seen.push(item.name);
      }
      cursor = res.body.next_cursor;
      pages += 1;
    } while (cursor && pages < 100);
    expect(pages).toBeGreaterThanOrEqual(2);
    expect(new Set(seen).size).toBe(seen.length);
    expect([...seen].sort()).toEqual(seen);
    for (const name of names) expect(seen).toContain(name);

    expectError(await api("GET", "/v1/sources?cursor=not-a-cursor"), 400);
    expectError(await api("GET", "/v1/sources?limit=0"), 400);
    expectError(await api("GET", "/v1/sources?limit=501"), 400);
  });

  it("deletes (204); the source and its intake endpoint are then gone (404)", async () => {
    const name = unique("del");
    expect((await api("PUT", `/v1/sources/${name}`, { verify: { style: "none" } })).status).toBe(201);
    expect((await postHook(name, "{}", { "content-type": "application/json" })).status).toBe(202);
    const deleted = await api("DELETE", `/v1/sources/${name}`);
    expect(deleted.status).toBe(204);
    expectError(await api("GET", `/v1/sources/${name}`), 404, "not_found");
    expectError(await api("DELETE", `/v1/sources/${name}`), 404, "not_found");
    expectError(await postHook(name, "{}", { "content-type": "application/json" }), 404, "not_found");
  });

  it("answers exactly one 201 to concurrent PUTs of a new name, the rest 200", async () => {
    const name = unique("race");
    const answers = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        api("PUT", `/v1/sources/${name}`, { verify: { style: "github", secret: `s-${i}` } }),
      ),
    );
    const statuses = answers.map((a) => a.status).sort();
    expect(statuses.filter((s) => s === 201)).toHaveLength(1);
    expect(statuses.filter((s) => s === 200)).toHaveLength(9);
    const createdAt = new Set(answers.map((a) => a.body.created_at));
    expect(createdAt.size).toBe(1);
  });

  it("answers 404 for an unknown source", async () => {
    expectError(await api("GET", `/v1/sources/${unique("missing")}`), 404, "not_found");
  });

  describe("validation", () => {
    const cases: { name: string; body: unknown; path: string; match?: RegExp }[] = [
      { name: "unknown top-level field", body: { ...GITHUB, extra: 1 }, path: "extra", match: /unknown field/ },
      {
        name: "unknown verify field",
        body: { verify: { style: "github", secret: "x", algo: "sha1" } },
        path: "verify.algo",
        match: /unknown field/,
      },
      { name: "missing verify", body: { provider: "github" }, path: "verify", match: /required/ },
      { name: "unknown style", body: { verify: { style: "md5", secret: "x" } }, path: "verify.style" },
      { name: "style none with a secret", body: { verify: { style: "none", secret: "x" } }, path: "verify" },
      { name: "style none with secrets", body: { verify: { style: "none", secrets: ["x"] } }, path: "verify" },
      { name: "signing style without a secret", body: { verify: { style: "github" } }, path: "verify" },
      { name: "signing style with empty secrets", body: { verify: { style: "stripe", secrets: [] } }, path: "verify" },
      { name: "empty secret", body: { verify: { style: "github", secret: "" } }, path: "verify.secret" },
      {
        name: "header on a non-hmac style",
        body: { verify: { style: "github", secret: "x", header: "X-Sig" } },
        path: "verify.header",
      },
      {
        name: "header that is not a header name",
        body: { verify: { style: "hmac", secret: "x", header: "x sig: 1" } },
        path: "verify.header",
      },
      {
        name: "tolerance zero",
        body: { verify: { style: "stripe", secret: "x", tolerance_s: 0 } },
        path: "verify.tolerance_s",
      },
      {
        name: "tolerance fractional",
        body: { verify: { style: "stripe", secret: "x", tolerance_s: 1.5 } },
        path: "verify.tolerance_s",
      },
      {
        name: "tolerance as a string",
        body: { verify: { style: "stripe", secret: "x", tolerance_s: "300" } },
        path: "verify.tolerance_s",
      },
      {
        name: "tolerance too large",
        body: { verify: { style: "stripe", secret: "x", tolerance_s: 10_000_000 } },
        path: "verify.tolerance_s",
      },
      {
        name: "standard secret that is not base64",
        body: { verify: { style: "standard", secret: "whsec_not base64!" } },
        path: "verify.secret",
      },
      {
        name: "standard secrets entry that is not base64",
        body: { verify: { style: "standard", secrets: ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "plain"] } },
        path: "verify.secrets.1",
      },
      { name: "bad provider", body: { provider: "Git Hub", verify: { style: "none" } }, path: "provider" },
      { name: "bad tenant", body: { tenant_id: "a/b", verify: { style: "none" } }, path: "tenant_id" },
      {
        name: "bad dedupe window",
        body: { dedupe: { window_s: 0 }, verify: { style: "none" } },
        path: "dedupe.window_s",
      },
      {
        name: "unknown dedupe field",
        body: { dedupe: { window_s: 5, mode: "x" }, verify: { style: "none" } },
        path: "dedupe.mode",
      },
      { name: "body is an array", body: [GITHUB], path: "" },
      { name: "body is a string", body: '"github"', path: "" },
      { name: "body is null", body: "null", path: "" },
    ];
    it.each(cases)("$name → 400 with problems", async ({ body, path, match }) => {
      const name = unique("bad");
      const res = await api("PUT", `/v1/sources/${name}`, body);
      const error = expectError(res, 400, "validation_failed");
      const problems = (error.details as { problems: { path: string; message: string }[] }).problems;
      expect(Array.isArray(problems)).toBe(true);
      expect(problems.map((p) => p.path)).toContain(path);
      if (match) expect(problems.find((p) => p.path === path)?.message).toMatch(match);
      // Nothing was written.
      expectError(await api("GET", `/v1/sources/${name}`), 404);
    });

    it("rejects a bad source name with 400 and problems", async () => {
      for (const bad of ["Upper", "-lead", "has.dot", "a".repeat(65)]) {
        const res = await api("PUT", `/v1/sources/${bad}`, GITHUB);
        const error = expectError(res, 400, "validation_failed");
        expect((error.details as { problems: unknown[] }).problems.length).toBeGreaterThan(0);
      }
    });

    it("rejects a body that is not JSON with 400", async () => {
      const res = await api("PUT", `/v1/sources/${unique("nj")}`, "{not json");
      expectError(res, 400, "bad_request");
      expectError(await api("PUT", `/v1/sources/${unique("nj")}`, "\xff\xfe"), 400, "bad_request");
    });

    it("rejects an empty body with 400", async () => {
      expectError(await api("PUT", `/v1/sources/${unique("empty")}`, undefined), 400);
    });

    it("rejects a non-JSON content type with 415", async () => {
      const res = await api("PUT", `/v1/sources/${unique("ct")}`, JSON.stringify(GITHUB), {
        "content-type": "text/plain",
      });
      expectError(res, 415, "unsupported_media_type");
    });

    it("rejects a body over 1 MiB with 413", async () => {
      const huge = JSON.stringify({ verify: { style: "github", secret: "x".repeat(1024 * 1024 + 10) } });
      expectError(await api("PUT", `/v1/sources/${unique("big")}`, huge), 413, "payload_too_large");
    });
  });

  describe("authentication", () => {
    it("requires a bearer token (401) and rejects a wrong one (401)", async () => {
      const name = unique("auth");
      const missing = await exports.default.fetch(`${BASE}/v1/sources/${name}`, {
        method: "PUT",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(GITHUB),
      });
      expect(missing.status).toBe(401);
      expect(await missing.json()).toMatchObject({ error: { code: "unauthorized" } });

      for (const authorization of ["Bearer wrong-token", "Basic dGVzdA==", "Bearer ", "test-admin-token"]) {
        const res = await api("GET", "/v1/sources", undefined, { authorization });
        expectError(res, 401, "unauthorized");
      }
      const list = await exports.default.fetch(`${BASE}/v1/sources`);
      expect(list.status).toBe(401);
      // Nothing was created by the unauthenticated PUT.
      expectError(await api("GET", `/v1/sources/${name}`), 404);
    });
  });
});
