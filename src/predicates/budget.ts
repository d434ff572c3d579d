/**
 * Classifier cost budgets (SPEC 7): UTC calendar hour and day buckets, the preflight rule, and what
 * each exhaustion strategy makes of an exceeded budget. Pure: time and spend are passed in.
 */
import type { BudgetSpec } from "../contracts/binding-spec";

export type BudgetReason = "hourly_budget_exceeded" | "daily_budget_exceeded";

/** `2026-11-26T08` — the UTC calendar hour of `now`. */
export function hourBucket(now: number): string {
  return new Date(now).toISOString().slice(0, 13);
}

/** `2026-11-26` — the UTC calendar day of `now`. */
export function dayBucket(now: number): string {
  return new Date(now).toISOString().slice(0, 10);
}

/** How many recent non-zero costs the expected cost averages. */
export const EXPECTED_COST_WINDOW = 100;

/** Mean of the last ≤100 non-zero costs, else the per-evaluation ceiling, else 0. */
export function expectedCost(recentCosts: readonly number[], maxCostUsd: number | undefined): number {
  const nonZero = recentCosts.filter((c) => c > 0).slice(-EXPECTED_COST_WINDOW);
  if (nonZero.length > 0) return nonZero.reduce((a, b) => a + b, 0) / nonZero.length;
  return maxCostUsd ?? 0;
}

/**
 * The preflight check: which limit one more evaluation would break (`spent + expected > limit`,
 * strictly greater; the hourly limit is checked first), or null when the classifier may be called.
 */
export function preflight(
  limits: Pick<BudgetSpec, "hourly_cost_usd" | "daily_cost_usd">,
  spent: { hour: number; day: number },
  expected: number,
): BudgetReason | null {
  if (limits.hourly_cost_usd !== undefined && spent.hour + expected > limits.hourly_cost_usd) {
    return "hourly_budget_exceeded";
  }
  if (limits.daily_cost_usd !== undefined && spent.day + expected > limits.daily_cost_usd) {
    return "daily_budget_exceeded";
  }
  return null;
}

/** `retry_later`: the next UTC hour when an hourly limit is set, else the next UTC midnight. */
export function retryAt(limits: Pick<BudgetSpec, "hourly_cost_usd">, now: number): number {
  const d = new Date(now);
  if (limits.hourly_cost_usd !== undefined) {
    return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate(), d.getUTCHours() + 1);
  }
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate() + 1);
}

export type ExhaustedOutcome =
  | { kind: "skip"; reason: BudgetReason }
  | { kind: "proceed"; reason: BudgetReason }
  | { kind: "dlq"; reason: BudgetReason; error: string }
  | { kind: "defer"; reason: BudgetReason; retry_at: number };

/** What the binding's `on_exhausted` strategy does with an exceeded budget. */
export function onExhausted(budget: BudgetSpec, reason: BudgetReason, now: number): ExhaustedOutcome {
  switch (budget.on_exhausted) {
    case "skip":
      return { kind: "skip", reason };
    case "warn":
      return { kind: "proceed", reason };
    case "fail":
      return { kind: "dlq", reason, error: `trigger budget exhausted: ${reason}` };
    case "retry_later":
      return { kind: "defer", reason, retry_at: retryAt(budget, now) };
  }
}
