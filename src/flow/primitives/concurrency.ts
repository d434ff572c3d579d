/**
 * Concurrency with priority (SPEC 9.6): at most `max` leases per gate, held across retries until the
 * dispatch ends. Waiters queue by (priority rank, arrival); only the head may take a free slot, so a
 * freed slot goes to the highest-ranked, longest-waiting dispatch.
 */
import type { FlowControlSpec } from "../../contracts/binding-spec";
import { type FlowRun, type Walker, waitOutcome, walkerOf } from "../flow-run";
import type { FlowWait } from "../flow-store";
import type { FlowOutcome } from "../flow-types";

const maxOf = (run: FlowRun) => (run.flow.concurrency as NonNullable<FlowControlSpec["concurrency"]>).max;

/** Null when the dispatch holds a slot now; a wait otherwise. */
export function concurrencyArrive(run: FlowRun, w: Walker, gate: string): FlowOutcome | null {
  const max = maxOf(run);
  const extra = w.rankError ? { rank_error: w.rankError } : {};
  // A free slot with nobody queued: take it in one statement.
  if (
    run.store.leaseTryAcquire({
      primitive: "concurrency",
      gate,
      dispatch_id: w.id,
      at: run.now,
      max,
      unless_waiters: true,
    })
  ) {
    run.emit("concurrency", gate, "concurrency_acquired", w.id, { max, rank: w.plan.rank, waited_ms: 0, ...extra });
    return null;
  }
  const wait = run.addWait(w, "concurrency", gate, null, null);
  if (drainConcurrency(run, gate, w.id)) return null;
  run.emit("concurrency", gate, "concurrency_wait", w.id, {
    rank: w.plan.rank,
    position: run.store.waitPosition(wait),
    active: run.store.leaseCount("concurrency", gate),
    max,
    ...extra,
  });
  return { kind: "wait", primitive: "concurrency", gate, until: null, eta: null };
}

export function concurrencyResume(run: FlowRun, wait: FlowWait): FlowOutcome {
  if (drainConcurrency(run, wait.gate, wait.dispatch_id)) return run.continueAfter(walkerOf(wait), "concurrency");
  return waitOutcome(wait);
}

/** Hands free slots to the head waiters in (rank, arrival) order. True when `self` got one. */
export function drainConcurrency(run: FlowRun, gate: string, self: string | null): boolean {
  const max = maxOf(run);
  let head = run.store.waitAt("concurrency", gate, 0);
  if (!head) return false;
  let active = run.store.leaseCount("concurrency", gate);
  let admittedSelf = false;
  for (; head && active < max; head = run.store.waitAt("concurrency", gate, 0)) {
    run.store.waitRemove(head.dispatch_id);
    run.store.leaseAdd("concurrency", gate, head.dispatch_id, run.now);
    active++;
    run.emit("concurrency", gate, "concurrency_acquired", head.dispatch_id, {
      max,
      rank: head.rank,
      waited_ms: run.now - head.arrived_at,
    });
    if (head.dispatch_id === self) {
      admittedSelf = true;
    } else {
      const outcome = run.continueAfter(walkerOf(head), "concurrency");
      run.moved({ dispatch_id: head.dispatch_id, cause: "woken", outcome });
    }
  }
  return admittedSelf;
}
