/**
 * The sliding windows a dispatch meets at `rate_limit` or `throttle` (SPEC 9.3, 9.4): one for a single
 * limit, one per entry of a stacked list (e.g. per user and per project), each with its own gate
 * (`…#<index>`), period and max. A dispatch passes only when every window has room, and then counts
 * against each; reading them first means a refusal counts against none.
 */
import type { FlowControlSpec, WindowLimit } from "../../contracts/binding-spec";
import { type FlowRun, PRUNE_SLACK } from "../flow-run";
import type { FlowPlan, LogPrimitive } from "../flow-store";

export interface Window {
  gate: string;
  period: number;
  max: number;
  /** The entry's place in a stacked list; null for a single limit. */
  index: number | null;
}

/** A window as read now: admissions inside it, and expired entries not yet pruned. */
export interface WindowState {
  window: Window;
  count: number;
  stale: number;
}

/** The limits of a primitive as a list (a single limit is a list of one). */
export function limitList(spec: WindowLimit | WindowLimit[] | undefined): WindowLimit[] {
  if (spec === undefined) return [];
  return Array.isArray(spec) ? spec : [spec];
}

/** The longest period of a primitive's limits: what retention must keep. */
export function longestPeriod(flow: FlowControlSpec, p: LogPrimitive): number | undefined {
  const periods = limitList(flow[p]).map((l) => l.period);
  return periods.length > 0 ? Math.max(...periods) : undefined;
}

/** The limit behind a window gate of a stacked list (`…#<index>`); the single limit otherwise. */
export function limitOfGate(flow: FlowControlSpec, p: LogPrimitive, gate: string): WindowLimit | null {
  const spec = flow[p];
  if (!Array.isArray(spec)) return spec ?? null;
  const index = /#(\d+)$/.exec(gate)?.[1];
  return index === undefined ? null : (spec[Number(index)] ?? null);
}

/** The windows behind `gate` for a dispatch planned with `plan`. */
export function windowsOf(flow: FlowControlSpec, p: LogPrimitive, plan: FlowPlan, gate: string): Window[] {
  const spec = flow[p];
  if (spec === undefined) return [];
  if (!Array.isArray(spec)) return [{ gate, period: spec.period, max: spec.max, index: null }];
  const gates = plan.windows?.[p] ?? [];
  return spec.flatMap((limit, index) => {
    const windowGate = gates[index];
    return windowGate === undefined ? [] : [{ gate: windowGate, period: limit.period, max: limit.max, index }];
  });
}

export function readWindows(run: FlowRun, p: LogPrimitive, windows: Window[]): WindowState[] {
  return windows.map((window) => ({ window, ...run.store.logWindow(p, window.gate, run.now - window.period) }));
}

/** The first window with no room left, if any. */
export const fullWindow = (states: WindowState[]) => states.find((s) => s.count >= s.window.max);

/** Deletes the expired entries of windows where enough have accumulated (amortised pruning). */
export function pruneStale(run: FlowRun, p: LogPrimitive, states: WindowState[]): void {
  for (const state of states) {
    if (state.stale < PRUNE_SLACK) continue;
    run.store.logPrune(p, state.window.gate, run.now - state.window.period);
    state.stale = 0;
  }
}

/** Counts one admission against every window. */
export function countAgainst(run: FlowRun, p: LogPrimitive, states: WindowState[]): void {
  pruneStale(run, p, states);
  for (const state of states) {
    run.store.logAdd(p, state.window.gate, run.now);
    state.count++;
  }
}

/** `{limit_index}` for an entry of a stacked list, nothing for a single limit. */
export const limitIndex = (w: Window): { limit_index?: number } => (w.index === null ? {} : { limit_index: w.index });
