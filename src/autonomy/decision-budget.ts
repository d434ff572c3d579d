/**
 * `act_auto` decision budgets (SPEC 8): at most `max_decisions_per_hour/day` autonomous decisions per
 * UTC calendar hour/day. A dispatch is checked before flow control and counted only once flow control
 * admits it. Pure: counts and time are passed in.
 */
import type { AutonomySpec } from "../contracts/binding-spec";
import type { Tier } from "./tiers";

export type DecisionLimitReason = "hourly_decision_limit_reached" | "daily_decision_limit_reached";

/** Whether decisions of this binding are budgeted at all. */
export function decisionsBudgeted(tier: Tier, autonomy: AutonomySpec | undefined): boolean {
  return (
    tier === "act_auto" &&
    autonomy !== undefined &&
    (autonomy.max_decisions_per_hour !== undefined || autonomy.max_decisions_per_day !== undefined)
  );
}

/** Which limit one more decision would exceed (the hour is checked first), or null. */
export function decisionLimitReached(
  autonomy: AutonomySpec,
  counted: { hour: number; day: number },
): DecisionLimitReason | null {
  if (autonomy.max_decisions_per_hour !== undefined && counted.hour + 1 > autonomy.max_decisions_per_hour) {
    return "hourly_decision_limit_reached";
  }
  if (autonomy.max_decisions_per_day !== undefined && counted.day + 1 > autonomy.max_decisions_per_day) {
    return "daily_decision_limit_reached";
  }
  return null;
}

/** The reviewers an approval request names. */
export const APPROVAL_REVIEWERS = ["operator"] as const;
