/**
 * Autonomy tiers (SPEC 8), lowest to highest. The effective tier of a binding is its spec's tier,
 * overridden by the latest trust promote/demote; promotion must raise it and demotion lower it.
 */
import { z } from "zod";

export const TIERS = ["shadow", "suggest", "act_with_approval", "act_auto"] as const;
export const tierSchema = z.enum(TIERS);
export type Tier = z.infer<typeof tierSchema>;

/** The tier a binding has when its spec names none. */
export const DEFAULT_TIER: Tier = "act_auto";

export function effectiveTier(specTier: Tier | undefined, override: string | null | undefined): Tier {
  const parsed = tierSchema.safeParse(override);
  return parsed.success ? parsed.data : (specTier ?? DEFAULT_TIER);
}

/** Why a promote/demote from `from` to `to` is refused, or null when it is a valid move. */
export function tierMoveProblem(direction: "promote" | "demote", from: Tier, to: Tier): string | null {
  const delta = TIERS.indexOf(to) - TIERS.indexOf(from);
  if (direction === "promote" && delta <= 0) return `cannot promote from ${from} to ${to}: ${to} is not a higher tier`;
  if (direction === "demote" && delta >= 0) return `cannot demote from ${from} to ${to}: ${to} is not a lower tier`;
  return null;
}
