/** Intake token leases: concurrent requests of one isolate share one limiter call per chunk. */
import { afterEach, describe, expect, it } from "vitest";
import { clearIntakeLeases, takeIntakeToken } from "../../../src/intake/intake-limiter";

function fakeLimiter(grants: number[]) {
  const calls: { source: string; want: number; tenant: string | null }[] = [];
  const env = {
    INTAKE_LIMITER: {
      getByName: () => ({
        acquire: async (source: string, want: number, tenant: string | null) => {
          calls.push({ source, want, tenant });
          await new Promise((r) => setTimeout(r, 5));
          return {
            granted: Math.min(want, grants.shift() ?? 0),
            retry_after_s: 2,
            limit: { bucket: "tenant", capacity: 2048, refill_per_s: 1024 },
          };
        },
      }),
    },
  } as unknown as Env;
  return { env, calls };
}

afterEach(() => clearIntakeLeases());

describe("takeIntakeToken", () => {
  it("serves concurrent requests from one leased chunk instead of one limiter call each", async () => {
    const { env, calls } = fakeLimiter([16, 16]);
    await Promise.all(Array.from({ length: 20 }, () => takeIntakeToken(env, "gh")));
    expect(calls).toHaveLength(2);
    expect(calls[0]).toEqual({ source: "gh", want: 16, tenant: null });
  });

  it("keeps tenants' leases apart and answers 503 with Retry-After when nothing is granted", async () => {
    const { env, calls } = fakeLimiter([16, 0, 0]);
    await takeIntakeToken(env, "gh", "t1");
    await expect(takeIntakeToken(env, "gh", "t2")).rejects.toMatchObject({
      code: "backpressure",
      headers: { "retry-after": "2" },
    });
    await takeIntakeToken(env, "gh", "t1");
    expect(calls.map((c) => c.tenant)).toEqual(["t1", "t2"]);
  });
});
