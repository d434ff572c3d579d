/** Singleton (SPEC 9.5): one dispatch per gate at a time; an arrival while one holds it ends `singleton_active`. */

import type { FlowRun, Walker } from "../flow-run";
import type { FlowOutcome } from "../flow-types";

/** Null when the dispatch holds (or already held) the gate's lease. */
export function singleton(run: FlowRun, w: Walker, gate: string): FlowOutcome | null {
  if (
    run.store.leaseTryAcquire({
      primitive: "singleton",
      gate,
      dispatch_id: w.id,
      at: run.now,
      max: 1,
      unless_waiters: false,
    })
  ) {
    run.emit("singleton", gate, "singleton_acquired", w.id, {});
    return null;
  }
  const holder = run.store.leaseHolders("singleton", gate)[0] ?? null;
  if (holder === w.id) return null;
  run.emit("singleton", gate, "singleton_skipped", w.id, { holder });
  return { kind: "skip", reason: "singleton_active", primitive: "singleton", gate, error: null };
}
