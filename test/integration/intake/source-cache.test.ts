/** The per-isolate source cache of `POST /hooks/:source`: invalidated here at once, elsewhere after its TTL. */

import { env } from "cloudflare:workers";
import { sign as githubSign } from "@octokit/webhooks-methods";
import { afterEach, describe, expect, it } from "vitest";
import { clearSourceCache, intakeSource, SOURCE_CACHE_TTL_MS } from "../../../src/intake/source-cache";
import { secretKeysOf } from "../../../src/lib/secret-box";
import { api, unique } from "../../support/api";
import { createSource, expectError, postHook } from "./support";

const keys = secretKeysOf(env);

async function deliver(source: string, secret: string) {
  const body = JSON.stringify({ action: "opened", n: crypto.randomUUID() });
  return postHook(source, body, {
    "content-type": "application/json",
    "x-github-event": "issues",
    "x-github-delivery": crypto.randomUUID(),
    "x-hub-signature-256": await githubSign(secret, body),
  });
}

/** `env.DB` counting the statements prepared through it. */
function countingDb() {
  let prepared = 0;
  const db = new Proxy(env.DB, {
    get(target, prop) {
      if (prop === "prepare") prepared++;
      const value = Reflect.get(target, prop, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  return { db, prepared: () => prepared };
}

afterEach(() => clearSourceCache());

describe("intake source cache", () => {
  it("applies a change or deletion made through /v1/sources at once in this isolate", async () => {
    const source = await createSource("cache", { verify: { style: "github", secret: "old-secret-1" } });
    expect((await deliver(source, "old-secret-1")).status).toBe(202);

    const rotated = await api("PUT", `/v1/sources/${source}`, { verify: { style: "github", secret: "new-secret-2" } });
    expect(rotated.status).toBe(200);
    expect((await deliver(source, "new-secret-2")).status).toBe(202);
    expectError(await deliver(source, "old-secret-1"), 401, "signature_invalid");

    expect((await api("DELETE", `/v1/sources/${source}`)).status).toBe(204);
    expectError(await deliver(source, "new-secret-2"), 404, "not_found");
  });

  it("forgets an unknown name once it is created here", async () => {
    const source = unique("cache-new");
    expectError(await deliver(source, "s3cret"), 404, "not_found");
    const created = await api("PUT", `/v1/sources/${source}`, { verify: { style: "github", secret: "s3cret" } });
    expect(created.status).toBe(201);
    expect((await deliver(source, "s3cret")).status).toBe(202);
  });

  it("serves a change made by another isolate once the entry is older than the TTL", async () => {
    const source = await createSource("cache-ttl", { verify: { style: "github", secret: "first" } });
    const t0 = Date.now();
    expect((await intakeSource(env.DB, source, keys, t0))?.secrets).toEqual(["first"]);
    // Another isolate's write: straight to D1, so this isolate's entry is not dropped.
    await env.DB.prepare("UPDATE sources SET secrets = ?1, tenant_id = ?2 WHERE name = ?3")
      .bind(JSON.stringify(["second"]), "acme", source)
      .run();
    const stale = await intakeSource(env.DB, source, keys, t0 + SOURCE_CACHE_TTL_MS - 1);
    expect(stale?.secrets).toEqual(["first"]);
    expect(stale?.row.tenantId).toBeNull();
    const fresh = await intakeSource(env.DB, source, keys, t0 + SOURCE_CACHE_TTL_MS);
    expect(fresh?.secrets).toEqual(["second"]);
    expect(fresh?.row.tenantId).toBe("acme");
  });

  it("reads D1 once per miss and not again while the entry is fresh", async () => {
    const source = await createSource("cache-read", { verify: { style: "github", secret: "one" } });
    const { db, prepared } = countingDb();
    const now = Date.now();
    expect((await intakeSource(db, source, keys, now))?.row.name).toBe(source);
    expect(prepared()).toBe(1);
    const found = await Promise.all(Array.from({ length: 10 }, () => intakeSource(db, source, keys, now + 1000)));
    expect(found.every((s) => s?.row.name === source)).toBe(true);
    expect(prepared()).toBe(1);
    expect(await intakeSource(db, unique("cache-none"), keys, now)).toBeNull();
    expect(await intakeSource(db, source, keys, now + SOURCE_CACHE_TTL_MS)).not.toBeNull();
    expect(prepared()).toBe(3);
  });
});
