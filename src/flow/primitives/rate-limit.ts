/**
 * Rate limit (SPEC 9.3): at most `max` admissions per sliding `period` per gate; an arrival over the
 * limit ends `rate_limited`. Admissions are a sliding log, pruned once enough entries expired.
 */
import type { FlowControlSpec } from "../../contracts/binding-spec";
import { type FlowRun, PRUNE_SLACK, type Walker } from "../flow-run";
import type { FlowOutcome } from "../flow-types";

/** Null when the dispatch passes (and counts against the window). */
export function rateLimit(run: FlowRun, w: Walker, gate: string): FlowOutcome | null {
  const { period, max } = run.flow.rate_limit as NonNullable<FlowControlSpec["rate_limit"]>;
  const since = run.now - period;
  const { count, stale } = run.store.logWindow("rate_limit", gate, since);
  if (count >= max) {
    run.emit("rate_limit", gate, "rate_limit_blocked", w.id, { count, max, period_ms: period });
    return { kind: "skip", reason: "rate_limited", primitive: "rate_limit", gate, error: null };
  }
  if (stale >= PRUNE_SLACK) run.store.logPrune("rate_limit", gate, since);
  run.store.logAdd("rate_limit", gate, run.now);
  run.emit("rate_limit", gate, "rate_limit_allowed", w.id, { count: count + 1, max, period_ms: period });
  return null;
}
