import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it } from "vitest";
import { clearIntakeLeases, type IntakeLimiter } from "../../../src/intake/intake-limiter";
import { api } from "../../support/api";
import { createSource, eventsOfSource, expectError, postHook } from "./support";

const limiter = () => env.INTAKE_LIMITER.getByName("global");

/**
 * Pins a bucket at `tokens` with its refill clock `aheadMs` in the future, so no refill happens while the
 * test runs (at 1024 tokens/s an empty bucket would otherwise hold a token again after a millisecond).
 */
async function pinBucket(key: string, tokens: number, aheadMs = 60_000) {
  await runInDurableObject(limiter(), async (_instance: IntakeLimiter, state) => {
    state.storage.sql.exec(
      "INSERT INTO buckets (key, tokens, updated_at) VALUES (?, ?, ?) ON CONFLICT(key) DO UPDATE SET tokens = excluded.tokens, updated_at = excluded.updated_at",
      key,
      tokens,
      Date.now() + aheadMs,
    );
  });
  clearIntakeLeases();
}

async function bucketLevel(key: string): Promise<number | undefined> {
  return runInDurableObject(limiter(), async (_instance: IntakeLimiter, state) => {
    const row = state.storage.sql
      .exec<{ tokens: number }>("SELECT tokens FROM buckets WHERE key = ?", key)
      .toArray()[0];
    return row?.tokens;
  });
}

afterEach(async () => {
  await limiter().setTokens("_global", 4096);
  clearIntakeLeases();
});

describe("intake backpressure", () => {
  it("answers 503 with a whole-second Retry-After when the global bucket is empty, and stores nothing", async () => {
    const source = await createSource("bp", { verify: { style: "none" } });
    await pinBucket("_global", 0);
    const res = await postHook(source, '{"n":1}', { "content-type": "application/json" });
    const error = expectError(res, 503, "backpressure");
    const retryAfter = res.headers.get("retry-after");
    expect(retryAfter).toMatch(/^\d+$/);
    expect(Number(retryAfter)).toBeGreaterThanOrEqual(1);
    expect(error.details).toMatchObject({
      limit: "intake_global",
      capacity: 4096,
      refill_per_s: 1024,
      retry_after_s: Number(retryAfter),
    });
    expect(error.message).toBe(
      `the global intake is over its rate limit (4096 requests, refilled at 1024/s); retry in ${retryAfter} s`,
    );
    expect(await eventsOfSource(source)).toHaveLength(0);

    // A deeper deficit asks the sender to wait longer.
    await pinBucket("_global", -4096);
    const deep = await postHook(source, '{"n":2}', { "content-type": "application/json" });
    expectError(deep, 503, "backpressure");
    expect(Number(deep.headers.get("retry-after"))).toBeGreaterThanOrEqual(5);

    // Restored: accepted again.
    await limiter().setTokens("_global", 4096);
    clearIntakeLeases();
    expect((await postHook(source, '{"n":3}', { "content-type": "application/json" })).status).toBe(202);
  });

  it("limits per source: an empty source bucket rejects that source only", async () => {
    const hot = await createSource("hot", { verify: { style: "none" } });
    const cold = await createSource("cold", { verify: { style: "none" } });
    await pinBucket(`source:${hot}`, 0);
    const res = await postHook(hot, "{}", { "content-type": "application/json" });
    const error = expectError(res, 503, "backpressure");
    expect(error.details).toMatchObject({ limit: "intake_source", capacity: 1024 });
    expect(error.message).toMatch(new RegExp(`^source '${hot}' is over its rate limit`));
    expect(Number(res.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    expect((await postHook(cold, "{}", { "content-type": "application/json" })).status).toBe(202);
    await pinBucket(`source:${hot}`, 1024, 0);
  });

  it("spends tokens from the DO buckets as requests arrive", async () => {
    const source = await createSource("spend", { verify: { style: "none" } });
    await pinBucket("_global", 100);
    expect((await postHook(source, '{"spend":1}', { "content-type": "application/json" })).status).toBe(202);
    // One lease chunk was taken from both buckets at once.
    const global = await bucketLevel("_global");
    const perSource = await bucketLevel(`source:${source}`);
    expect(global).toBeLessThan(100);
    expect(global).toBeGreaterThanOrEqual(0);
    expect(perSource).toBeLessThan(1024);
  });

  it("limits per tenant: an empty tenant bucket rejects that tenant's sources and publishes only", async () => {
    const tenant = `bp-${Date.now().toString(36)}`;
    const mine = await createSource("tnt", { verify: { style: "none" }, tenant_id: tenant });
    const others = await createSource("tnt-other", { verify: { style: "none" }, tenant_id: `${tenant}-x` });
    await pinBucket(`tenant:${tenant}`, 0);
    const refused = expectError(
      await postHook(mine, "{}", { "content-type": "application/json" }),
      503,
      "backpressure",
    );
    expect(refused.details).toMatchObject({ limit: "intake_tenant", capacity: 2048 });
    expect(refused.message).toMatch(new RegExp(`^tenant '${tenant}' is over its rate limit`));
    expect((await postHook(others, "{}", { "content-type": "application/json" })).status).toBe(202);
    await pinBucket(`tenant:${tenant}`, 0);
    const publish = await api("POST", "/v1/events", { provider: "webhook", kind: "k", payload: {}, tenant_id: tenant });
    expect(publish.status).toBe(503);
    expect(publish.headers.get("retry-after")).toMatch(/^\d+$/);
    expect(await eventsOfSource(mine)).toHaveLength(0);
  });

  it("does not consume tokens for unknown sources", async () => {
    await pinBucket("_global", 0);
    const res = await postHook("no-such-source-bp", "{}", { "content-type": "application/json" });
    expectError(res, 404, "not_found");
  });

  it("counts refusals by the limit that applied, for /metrics", async () => {
    const refusals = async () =>
      Object.fromEntries((await limiter().refusals()).map((r: { bucket: string; n: number }) => [r.bucket, r.n]));
    const before = await refusals();
    const source = await createSource("bp-count", { verify: { style: "none" } });
    for (let i = 0; i < 2; i++) {
      await pinBucket(`source:${source}`, 0);
      expectError(await postHook(source, "{}", { "content-type": "application/json" }), 503, "backpressure");
    }
    const after = await refusals();
    expect((after.source ?? 0) - (before.source ?? 0)).toBe(2);
    const metrics = await (await import("cloudflare:workers")).exports.default.fetch("http://switchyard.test/metrics", {
      headers: { authorization: "Bearer test-admin-token" },
    });
    const text = await metrics.text();
    expect(text).toMatch(
      new RegExp(`switchyard_refusals_total\\{reason="intake_source",status="503"\\} ${after.source}`),
    );
    await pinBucket(`source:${source}`, 1024, 0);
  });
});
