import { describe, expect, it } from "vitest";
import { decisionLimitReached, decisionsBudgeted } from "../../../src/autonomy/decision-budget";
import { effectiveTier, tierMoveProblem } from "../../../src/autonomy/tiers";

describe("autonomy", () => {
  it("budgets decisions only for act_auto bindings with a limit", () => {
    const limited = { tier: "act_auto" as const, max_decisions_per_hour: 2 };
    expect(decisionsBudgeted("act_auto", limited)).toBe(true);
    expect(decisionsBudgeted("suggest", limited)).toBe(false);
    expect(decisionsBudgeted("act_auto", { tier: "act_auto" })).toBe(false);
    expect(decisionsBudgeted("act_auto", undefined)).toBe(false);
  });

  it("checks whether one more decision would exceed a limit, hour first", () => {
    const a = { tier: "act_auto" as const, max_decisions_per_hour: 2, max_decisions_per_day: 3 };
    expect(decisionLimitReached(a, { hour: 1, day: 1 })).toBeNull();
    expect(decisionLimitReached(a, { hour: 2, day: 3 })).toBe("hourly_decision_limit_reached");
    expect(decisionLimitReached(a, { hour: 0, day: 3 })).toBe("daily_decision_limit_reached");
    expect(decisionLimitReached({ tier: "act_auto", max_decisions_per_hour: 0 }, { hour: 0, day: 0 })).toBe(
      "hourly_decision_limit_reached",
    );
  });

  it("the latest promote/demote overrides the spec tier", () => {
    expect(effectiveTier(undefined, null)).toBe("act_auto");
    expect(effectiveTier("suggest", null)).toBe("suggest");
    expect(effectiveTier("suggest", "act_with_approval")).toBe("act_with_approval");
    expect(effectiveTier("suggest", "bogus")).toBe("suggest");
  });

  it("promotion raises and demotion lowers the tier", () => {
    expect(tierMoveProblem("promote", "suggest", "act_auto")).toBeNull();
    expect(tierMoveProblem("promote", "act_auto", "suggest")).toMatch(/not a higher tier/);
    expect(tierMoveProblem("demote", "act_auto", "shadow")).toBeNull();
    expect(tierMoveProblem("demote", "shadow", "shadow")).toMatch(/not a lower tier/);
  });
});
