/**
 * Rate limit (SPEC 9.3): at most `max` admissions per sliding `period` per gate; an arrival over the
 * limit ends `rate_limited`. Admissions are a sliding log, pruned once enough entries expired. With a
 * stacked list every window must have room; the skip names the full one (`limit_index`) and counts
 * against none, an admission counts against each and is audited on each window's gate.
 */
import type { FlowRun, Walker } from "../flow-run";
import type { FlowOutcome } from "../flow-types";
import { countAgainst, fullWindow, limitIndex, readWindows, windowsOf } from "./windows";

/** Null when the dispatch passes (and counts against every window). */
export function rateLimit(run: FlowRun, w: Walker, gate: string): FlowOutcome | null {
  const states = readWindows(run, "rate_limit", windowsOf(run.flow, "rate_limit", w.plan, gate));
  const full = fullWindow(states);
  if (full) {
    const { window } = full;
    run.emit("rate_limit", window.gate, "rate_limit_blocked", w.id, {
      count: full.count,
      max: window.max,
      period_ms: window.period,
      ...limitIndex(window),
    });
    return {
      kind: "skip",
      reason: "rate_limited",
      primitive: "rate_limit",
      gate: window.gate,
      error: null,
      ...limitIndex(window),
    };
  }
  countAgainst(run, "rate_limit", states);
  for (const { window, count } of states) {
    run.emit("rate_limit", window.gate, "rate_limit_allowed", w.id, {
      count,
      max: window.max,
      period_ms: window.period,
      ...limitIndex(window),
    });
  }
  return null;
}
