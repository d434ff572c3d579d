/**
 * Throttle (SPEC 9.4): at most `max` admissions per sliding `period` per gate, the rest wait in strict
 * FIFO order (a new arrival never overtakes waiters, even when a slot is free). Only the head holds a
 * timer, at the time the windows free for it; the others report an `eta`. A stacked list queues per
 * combination of key values (the gate names every window) and admits a waiter once every window has
 * a slot; the admission counts against each and is audited on each window's gate.
 */
import { type FlowRun, type Walker, waitOutcome, walkerOf } from "../flow-run";
import type { FlowWait } from "../flow-store";
import type { FlowOutcome } from "../flow-types";
import {
  countAgainst,
  fullWindow,
  limitIndex,
  pruneStale,
  readWindows,
  type Window,
  type WindowState,
  windowsOf,
} from "./windows";

/** Null when the dispatch takes a slot now; a wait otherwise. */
export function throttleArrive(run: FlowRun, w: Walker, gate: string): FlowOutcome | null {
  const windows = windowsOf(run.flow, "throttle", w.plan, gate);
  // Waiters whose slot is already free go first (FIFO); a new arrival never overtakes them.
  if (run.store.waitAt("throttle", gate, 0)) drainThrottle(run, gate, null);
  if (!run.store.waitAt("throttle", gate, 0)) {
    const states = readWindows(run, "throttle", windows);
    if (!fullWindow(states)) {
      acquire(run, w.id, states, 0);
      return null;
    }
  }
  const position = run.store.waitCount("throttle", gate);
  let until: number | null = null;
  let eta: number;
  if (position === 0) {
    until = slotAt(run, windows);
    eta = until;
  } else {
    eta = Math.max(...windows.map((window) => etaAt(run, window, gate, position)));
  }
  run.addWait(w, "throttle", gate, until, eta);
  const limits = windows.length === 1 && windows[0]?.index === null ? { max: windows[0].max } : {};
  run.emit("throttle", gate, "throttle_wait", w.id, { position, until: eta, delay_ms: eta - run.now, ...limits });
  return { kind: "wait", primitive: "throttle", gate, until, eta };
}

/** The head's timer fired (or a wake): admitted waiters continue the chain. */
export function throttleResume(run: FlowRun, wait: FlowWait): FlowOutcome {
  if (drainThrottle(run, wait.gate, wait.dispatch_id)) return run.continueAfter(walkerOf(wait), "throttle");
  return waitOutcome(run.store.waitGet(wait.dispatch_id) ?? wait);
}

/**
 * Admits throttle waiters from the head while every window has room, then makes sure the head has a
 * timer at its slot. Returns true when `self` was admitted (the caller continues its chain).
 */
export function drainThrottle(run: FlowRun, gate: string, self: string | null): boolean {
  let head = run.store.waitAt("throttle", gate, 0);
  if (!head) return false;
  // Every waiter of a queue has the same key values, so the same windows.
  const windows = windowsOf(run.flow, "throttle", head.plan, gate);
  const states = readWindows(run, "throttle", windows);
  pruneStale(run, "throttle", states);
  let admittedSelf = false;
  while (head && !fullWindow(states)) {
    run.store.waitRemove(head.dispatch_id);
    acquire(run, head.dispatch_id, states, run.now - head.arrived_at);
    if (head.dispatch_id === self) {
      admittedSelf = true;
    } else {
      const outcome = run.continueAfter(walkerOf(head), "throttle");
      run.moved({ dispatch_id: head.dispatch_id, cause: "woken", outcome });
    }
    head = run.store.waitAt("throttle", gate, 0);
  }
  if (head) {
    const slot = slotAt(run, windows);
    if (head.due !== slot) {
      run.store.waitSetDue(head.dispatch_id, slot, slot);
      const outcome: FlowOutcome = { kind: "wait", primitive: "throttle", gate, until: slot, eta: slot };
      if (head.dispatch_id !== self) run.moved({ dispatch_id: head.dispatch_id, cause: "head_changed", outcome });
    }
  }
  return admittedSelf;
}

/** One admission: counted against every window and audited on each. */
function acquire(run: FlowRun, dispatchId: string, states: WindowState[], waited: number): void {
  countAgainst(run, "throttle", states);
  for (const { window, count } of states) {
    run.emit("throttle", window.gate, "throttle_acquired", dispatchId, {
      count,
      max: window.max,
      waited_ms: waited,
      ...limitIndex(window),
    });
  }
}

/** When every window next has room: for each, the entry whose expiry brings it below max, plus period. */
function slotAt(run: FlowRun, windows: Window[]): number {
  let slot = run.now;
  for (const { window, count } of readWindows(run, "throttle", windows)) {
    if (count < window.max) continue;
    const entry = run.store.logNth("throttle", window.gate, run.now - window.period, count - window.max);
    slot = Math.max(slot, entry === null ? run.now : entry + window.period);
  }
  return slot;
}

/**
 * FIFO estimate for the waiter at `position` (> 0) of queue `gate` in one window: the waiters ahead take
 * slots in order, so its slot frees when the max-th most recent of (window entries + earlier slots) expires.
 */
function etaAt(run: FlowRun, window: Window, gate: string, position: number): number {
  const { period, max } = window;
  const now = run.now;
  const since = now - period;
  if (position < max) {
    const { count } = run.store.logWindow("throttle", window.gate, since);
    const idx = count + position - max;
    if (idx < 0) return now;
    const entry = run.store.logNth("throttle", window.gate, since, idx);
    return Math.max(now, (entry ?? now) + period);
  }
  const ahead = run.store.waitAt("throttle", gate, position - max);
  return Math.max(now, (ahead?.eta ?? now) + period);
}
