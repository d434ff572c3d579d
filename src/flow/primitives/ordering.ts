/**
 * Ordering (SPEC 9.7): one dispatch at a time per key value, in `received_at` order, across retries,
 * retry waits, `waiting` and circuit holds: the line's lease is held until the dispatch is final.
 * Waiters queue by their event's `received_at` (ties in arrival order). The head starts when nobody
 * holds the line, no failure blocks it, and every earlier event has been routed (the watermark the
 * gate passes in) or `reorder_window` has passed since it was received; only the head holds a timer,
 * at that deadline. An event that starts after a later one did is audited `ordering.late`. With
 * `on_failure: "block"` a predecessor that ended `dlq` or `failed` holds the line until `unblock`.
 */
import { ORDERING_REORDER_WINDOW_DEFAULT_MS } from "../../contracts/binding-spec";
import { type FlowRun, type Walker, walkerOf } from "../flow-run";
import type { FlowWait } from "../flow-store";
import type { FlowOutcome, OrderingStart } from "../flow-types";

const isBlocked = (run: FlowRun, gate: string) => Boolean(run.store.lineGet(gate)?.blocked_by);

/** A wait in a line, marked when a failure holds the line. */
function lineWait(wait: FlowWait, blocked: boolean): FlowOutcome {
  const outcome: FlowOutcome = { kind: "wait", primitive: "ordering", gate: wait.gate, until: wait.due, eta: wait.eta };
  return blocked ? { ...outcome, blocked: true } : outcome;
}

/** Tells every waiter of a line that the line is now held (or free again). */
function markLine(run: FlowRun, gate: string, blocked: boolean): void {
  for (const wait of run.store.waitList("ordering", gate)) {
    run.moved({
      dispatch_id: wait.dispatch_id,
      cause: blocked ? "line_blocked" : "line_unblocked",
      outcome: lineWait(wait, blocked),
    });
  }
}

const windowOf = (run: FlowRun) => run.flow.ordering?.reorder_window ?? ORDERING_REORDER_WINDOW_DEFAULT_MS;

/** The key value of a line's gate (`<binding_key>:<key>`; binding keys hold no colon). */
const keyOf = (gate: string) => gate.slice(gate.indexOf(":") + 1);

/** Null when the dispatch starts now (`w.ordering` then names its place); a wait otherwise. */
export function orderingArrive(run: FlowRun, w: Walker, gate: string): FlowOutcome | null {
  run.addWait(w, "ordering", gate, null, null);
  const started = drainOrdering(run, gate, w.id);
  if (started) {
    w.ordering = started;
    return null;
  }
  const wait = run.store.waitGet(w.id);
  if (!wait) throw new Error(`ordering wait of ${w.id} vanished`);
  const blocked = isBlocked(run, gate);
  run.emit("ordering", gate, "ordering_wait", w.id, {
    position: run.store.waitPosition(wait),
    received_at: wait.rank,
    ...(wait.due === null ? {} : { until: wait.due }),
    ...(blocked ? { blocked_by: run.store.lineGet(gate)?.blocked_by } : {}),
  });
  return lineWait(wait, blocked);
}

/** Its timer fired, or the line moved: it starts and continues the chain, or waits on. */
export function orderingResume(run: FlowRun, wait: FlowWait): FlowOutcome {
  const started = drainOrdering(run, wait.gate, wait.dispatch_id);
  if (started) return run.continueAfter({ ...walkerOf(wait), ordering: started }, "ordering");
  const current = run.store.waitGet(wait.dispatch_id) ?? wait;
  // A spent timer that did not start it (the line is held, or an earlier event now heads it): no timer
  // until the line moves on and gives the head a new deadline.
  const blocked = isBlocked(run, wait.gate);
  if (current.due !== null && current.due <= run.now) {
    run.store.waitSetDue(current.dispatch_id, null, current.eta);
    return lineWait({ ...current, due: null }, blocked);
  }
  return lineWait(current, blocked);
}

/**
 * Starts the line's head if it may start; otherwise makes sure the head has a timer at its reorder
 * deadline. Returns the start of `self` when it was the one started (the caller continues its chain);
 * another head started here continues its chain as a move.
 */
export function drainOrdering(run: FlowRun, gate: string, self: string | null): OrderingStart | null {
  if (run.store.leaseCount("ordering", gate) > 0) return null;
  const line = run.store.lineGet(gate);
  if (line?.blocked_by) return null;
  const head = run.store.waitAt("ordering", gate, 0);
  if (!head) return null;
  const deadline = head.rank + windowOf(run);
  const routed = run.routedThrough();
  if (run.now < deadline && (routed === null || head.rank > routed)) {
    // With a watermark to watch, look again soon; the deadline bounds the wait either way.
    const due = run.watermarkPollMs === null ? deadline : Math.min(deadline, run.now + run.watermarkPollMs);
    if (head.due !== due) {
      run.store.waitSetDue(head.dispatch_id, due, deadline);
      if (head.dispatch_id !== self) {
        const outcome: FlowOutcome = { kind: "wait", primitive: "ordering", gate, until: due, eta: deadline };
        run.moved({ dispatch_id: head.dispatch_id, cause: "head_changed", outcome });
      }
    }
    return null;
  }
  run.store.waitRemove(head.dispatch_id);
  run.store.leaseAdd("ordering", gate, head.dispatch_id, run.now);
  const seq = (line?.seq ?? 0) + 1;
  const lastRank = line?.last_rank ?? head.rank;
  run.store.lineSet(gate, { seq, last_rank: Math.max(lastRank, head.rank), blocked_by: null });
  if (line && head.rank < line.last_rank) {
    run.emit("ordering", gate, "ordering.late", head.dispatch_id, {
      seq,
      received_at: head.rank,
      after_received_at: line.last_rank,
    });
  }
  run.emit("ordering", gate, "ordering_started", head.dispatch_id, { seq, waited_ms: run.now - head.arrived_at });
  const started: OrderingStart = { key: keyOf(gate), seq };
  if (head.dispatch_id === self) return started;
  const outcome = run.continueAfter({ ...walkerOf(head), ordering: started }, "ordering");
  run.moved({ dispatch_id: head.dispatch_id, cause: "woken", outcome });
  return null;
}

/**
 * The line's holder ended. `failed` (it ended `dlq` or `failed`) blocks the line under
 * `on_failure: "block"`; otherwise the next in line may start.
 */
export function orderingFinished(run: FlowRun, gate: string, dispatchId: string, failed: boolean): void {
  if (failed && run.flow.ordering?.on_failure === "block") {
    const line = run.store.lineGet(gate) ?? { seq: 0, last_rank: 0, blocked_by: null };
    run.store.lineSet(gate, { ...line, blocked_by: dispatchId });
    run.emit("ordering", gate, "ordering_blocked", dispatchId, { seq: line.seq });
    markLine(run, gate, true);
    return;
  }
  drainOrdering(run, gate, null);
}

/** The failure blocking a line was resolved or replayed: the line goes on. */
export function orderingUnblock(run: FlowRun, dispatchId: string): void {
  const gate = run.store.lineBlockedBy(dispatchId);
  if (gate === null) return;
  const line = run.store.lineGet(gate);
  if (line) run.store.lineSet(gate, { ...line, blocked_by: null });
  run.emit("ordering", gate, "ordering_unblocked", dispatchId, {});
  drainOrdering(run, gate, null);
  markLine(run, gate, false);
}
