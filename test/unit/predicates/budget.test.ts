import { describe, expect, it } from "vitest";
import { dayBucket, expectedCost, hourBucket, onExhausted, preflight, retryAt } from "../../../src/predicates/budget";

const now = Date.UTC(2026, 10, 26, 9, 41, 7);

describe("classifier budgets", () => {
  it("buckets by UTC calendar hour and day", () => {
    expect(hourBucket(now)).toBe("2026-11-26T09");
    expect(dayBucket(now)).toBe("2026-11-26");
    expect(dayBucket(Date.UTC(2026, 11, 31, 23, 59, 59, 999))).toBe("2026-12-31");
  });

  it("expects the mean of the last ≤100 non-zero costs, else max_cost_usd, else 0", () => {
    expect(expectedCost([], undefined)).toBe(0);
    expect(expectedCost([], 0.5)).toBe(0.5);
    expect(expectedCost([0, 0.1, 0, 0.3], 0.5)).toBeCloseTo(0.2);
    const many = [...Array.from({ length: 50 }, () => 1), ...Array.from({ length: 100 }, () => 2)];
    expect(expectedCost(many, undefined)).toBe(2);
  });

  it("preflight: strictly greater than the limit, hour checked first", () => {
    expect(preflight({ daily_cost_usd: 1 }, { hour: 0.5, day: 0.5 }, 0.5)).toBeNull();
    expect(preflight({ daily_cost_usd: 1 }, { hour: 0.5, day: 0.5 }, 0.51)).toBe("daily_budget_exceeded");
    expect(preflight({ hourly_cost_usd: 0.2, daily_cost_usd: 0.1 }, { hour: 0.2, day: 0.2 }, 0.1)).toBe(
      "hourly_budget_exceeded",
    );
    expect(preflight({ hourly_cost_usd: 0 }, { hour: 0, day: 0 }, 0)).toBeNull();
    expect(preflight({}, { hour: 100, day: 100 }, 100)).toBeNull();
  });

  it("retry_later waits for the next UTC hour when an hourly limit is set, else the next UTC midnight", () => {
    expect(new Date(retryAt({ hourly_cost_usd: 1 }, now)).toISOString()).toBe("2026-11-26T10:00:00.000Z");
    expect(new Date(retryAt({}, now)).toISOString()).toBe("2026-11-27T00:00:00.000Z");
    expect(new Date(retryAt({}, Date.UTC(2026, 11, 31, 23, 0))).toISOString()).toBe("2027-01-01T00:00:00.000Z");
  });

  it("maps each exhaustion strategy to its outcome", () => {
    const reason = "daily_budget_exceeded" as const;
    expect(onExhausted({ on_exhausted: "skip" }, reason, now)).toEqual({ kind: "skip", reason });
    expect(onExhausted({ on_exhausted: "warn" }, reason, now)).toEqual({ kind: "proceed", reason });
    expect(onExhausted({ on_exhausted: "fail" }, reason, now)).toEqual({
      kind: "dlq",
      reason,
      error: "trigger budget exhausted: daily_budget_exceeded",
    });
    expect(onExhausted({ on_exhausted: "retry_later", hourly_cost_usd: 1 }, reason, now)).toEqual({
      kind: "defer",
      reason,
      retry_at: Date.UTC(2026, 10, 26, 10),
    });
  });
});
