/**
 * Throttle (SPEC 9.4): at most `max` admissions per sliding `period` per gate, the rest wait in strict
 * FIFO order (a new arrival never overtakes waiters, even when a slot is free). Only the head holds a
 * timer, at the time the window frees for it; the others report an `eta`.
 */
import type { FlowControlSpec } from "../../contracts/binding-spec";
import { type FlowRun, PRUNE_SLACK, type Walker, waitOutcome, walkerOf } from "../flow-run";
import type { FlowWait } from "../flow-store";
import type { FlowOutcome } from "../flow-types";

const settings = (run: FlowRun) => run.flow.throttle as NonNullable<FlowControlSpec["throttle"]>;

/** Null when the dispatch takes a slot now; a wait otherwise. */
export function throttleArrive(run: FlowRun, w: Walker, gate: string): FlowOutcome | null {
  const { period, max } = settings(run);
  const since = run.now - period;
  // Waiters whose slot is already free go first (FIFO); a new arrival never overtakes them.
  if (run.store.waitAt("throttle", gate, 0)) drainThrottle(run, gate, null);
  if (!run.store.waitAt("throttle", gate, 0)) {
    const { count, stale } = run.store.logWindow("throttle", gate, since);
    if (count < max) {
      if (stale >= PRUNE_SLACK) run.store.logPrune("throttle", gate, since);
      run.store.logAdd("throttle", gate, run.now);
      run.emit("throttle", gate, "throttle_acquired", w.id, { count: count + 1, max, waited_ms: 0 });
      return null;
    }
  }
  const position = run.store.waitCount("throttle", gate);
  let until: number | null = null;
  let eta: number;
  if (position === 0) {
    until = slotAt(run, gate);
    eta = until;
  } else {
    eta = etaAt(run, gate, position);
  }
  run.addWait(w, "throttle", gate, until, eta);
  run.emit("throttle", gate, "throttle_wait", w.id, { position, until: eta, delay_ms: eta - run.now, max });
  return { kind: "wait", primitive: "throttle", gate, until, eta };
}

/** The head's timer fired (or a wake): admitted waiters continue the chain. */
export function throttleResume(run: FlowRun, wait: FlowWait): FlowOutcome {
  if (drainThrottle(run, wait.gate, wait.dispatch_id)) return run.continueAfter(walkerOf(wait), "throttle");
  return waitOutcome(run.store.waitGet(wait.dispatch_id) ?? wait);
}

/**
 * Admits throttle waiters from the head while the window has room, then makes sure the head has a
 * timer at its slot. Returns true when `self` was admitted (the caller continues its chain).
 */
export function drainThrottle(run: FlowRun, gate: string, self: string | null): boolean {
  const { period, max } = settings(run);
  const since = run.now - period;
  let head = run.store.waitAt("throttle", gate, 0);
  if (!head) return false;
  let admittedSelf = false;
  const window = run.store.logWindow("throttle", gate, since);
  if (window.stale >= PRUNE_SLACK) run.store.logPrune("throttle", gate, since);
  let count = window.count;
  while (head && count < max) {
    run.store.waitRemove(head.dispatch_id);
    run.store.logAdd("throttle", gate, run.now);
    count++;
    run.emit("throttle", gate, "throttle_acquired", head.dispatch_id, {
      count,
      max,
      waited_ms: run.now - head.arrived_at,
    });
    if (head.dispatch_id === self) {
      admittedSelf = true;
    } else {
      const outcome = run.continueAfter(walkerOf(head), "throttle");
      run.moved({ dispatch_id: head.dispatch_id, cause: "woken", outcome });
    }
    head = run.store.waitAt("throttle", gate, 0);
  }
  if (head) {
    const slot = slotAt(run, gate);
    if (head.due !== slot) {
      run.store.waitSetDue(head.dispatch_id, slot, slot);
      const outcome: FlowOutcome = { kind: "wait", primitive: "throttle", gate, until: slot, eta: slot };
      if (head.dispatch_id !== self) run.moved({ dispatch_id: head.dispatch_id, cause: "head_changed", outcome });
    }
  }
  return admittedSelf;
}

/** When the window next has room: the entry whose expiry brings the count below max, plus period. */
function slotAt(run: FlowRun, gate: string): number {
  const { period, max } = settings(run);
  const since = run.now - period;
  const { count } = run.store.logWindow("throttle", gate, since);
  if (count < max) return run.now;
  const entry = run.store.logNth("throttle", gate, since, count - max);
  return entry === null ? run.now : entry + period;
}

/**
 * FIFO estimate for the waiter at `position` (> 0): the waiters ahead take slots in order, so its slot
 * frees when the max-th most recent of (window entries + earlier slots) expires.
 */
function etaAt(run: FlowRun, gate: string, position: number): number {
  const { period, max } = settings(run);
  const now = run.now;
  const since = now - period;
  if (position < max) {
    const { count } = run.store.logWindow("throttle", gate, since);
    const idx = count + position - max;
    if (idx < 0) return now;
    const entry = run.store.logNth("throttle", gate, since, idx);
    return Math.max(now, (entry ?? now) + period);
  }
  const ahead = run.store.waitAt("throttle", gate, position - max);
  return Math.max(now, (ahead?.eta ?? now) + period);
}
