/**
 * Debounce (SPEC 9.2): the latest arrival for a gate waits `period`; an earlier one it replaces ends
 * `debounced`. When its timer fires, the winner leaves the gate and continues the chain; a later
 * arrival starts a new round.
 */
import type { FlowControlSpec } from "../../contracts/binding-spec";
import { type FlowRun, type Walker, waitOutcome, walkerOf } from "../flow-run";
import type { FlowWait } from "../flow-store";
import type { FlowOutcome } from "../flow-types";

export function debounceArrive(run: FlowRun, w: Walker, gate: string): FlowOutcome {
  const period = (run.flow.debounce as NonNullable<FlowControlSpec["debounce"]>).period;
  const previous = run.store.waitAt("debounce", gate, 0);
  if (previous) {
    run.store.waitRemove(previous.dispatch_id);
    run.emit("debounce", gate, "debounce_superseded", previous.dispatch_id, { by: w.id });
    run.moved({
      dispatch_id: previous.dispatch_id,
      cause: "superseded",
      outcome: { kind: "skip", reason: "debounced", primitive: "debounce", gate, error: null },
    });
  }
  const until = run.now + period;
  run.addWait(w, "debounce", gate, until, until);
  run.emit("debounce", gate, "debounce_seen", w.id, { until, period_ms: period });
  return { kind: "wait", primitive: "debounce", gate, until, eta: until };
}

export function debounceTimer(run: FlowRun, wait: FlowWait): FlowOutcome {
  if (wait.due !== null && run.now < wait.due) return waitOutcome(wait);
  run.store.waitRemove(wait.dispatch_id);
  run.emit("debounce", wait.gate, "debounce_selected", wait.dispatch_id, {});
  return run.continueAfter(walkerOf(wait), "debounce");
}
