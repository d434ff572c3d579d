/**
 * What the BindingGate answers about its live dispatches, as pure functions of the documents: the
 * `/v1/stats` snapshot, and which events and History windows retention must keep for them (SPEC 1.1).
 */
import { isTerminal } from "../contracts/dispatch";
import type { DispatchDoc } from "../contracts/dispatch-doc";
import type { FlowControl } from "../flow/flow-control";
import { dispatchKeyTime, uuidv7Time } from "../lib/partitions";

export type GateSnapshot = {
  in_flight: number;
  scheduled_retries: number;
  held: number;
  paused: boolean;
  by_status: Record<string, number>;
  gates: ReturnType<FlowControl["snapshot"]>["gates"];
};

/** Dispatch counts by status plus every flow-control gate in use. */
export function gateSnapshot(docs: DispatchDoc[], paused: boolean, flow: FlowControl | null, now: number) {
  const byStatus: Record<string, number> = {};
  for (const d of docs) byStatus[d.status] = (byStatus[d.status] ?? 0) + 1;
  const snapshot: GateSnapshot = {
    in_flight: docs.filter((d) => !isTerminal(d.status)).length,
    scheduled_retries: byStatus.retry_scheduled ?? 0,
    held: byStatus.held ?? 0,
    paused,
    by_status: byStatus,
    gates: flow?.snapshot(now).gates ?? [],
  };
  return snapshot;
}

/**
 * Event ids the dispatches still need (their own and their batch's), plus `carried` (the events a
 * waiting debounce burst or batch will deliver), within `scope`.
 */
export function neededEventIds(
  docs: DispatchDoc[],
  scope: { from: number; to: number } | { ids: string[] },
  carried: string[] = [],
) {
  const wanted = "ids" in scope ? new Set(scope.ids) : null;
  const inScope = (id: string) => {
    if (wanted) return wanted.has(id);
    const at = uuidv7Time(id) ?? 0;
    return "from" in scope && at >= scope.from && at < scope.to;
  };
  const out = new Set<string>();
  for (const doc of docs) {
    for (const id of [doc.event_id, ...(doc.batch_event_ids ?? [])]) if (inScope(id)) out.add(id);
  }
  for (const id of carried) if (inScope(id)) out.add(id);
  return [...out];
}

/** How many dispatches were created in `[from, to)` (their History window must wait for them). */
export function createdIn(docs: DispatchDoc[], scope: { from: number; to: number }): number {
  let n = 0;
  for (const doc of docs) {
    const k = dispatchKeyTime(doc.dispatch_id);
    if (k >= scope.from && k < scope.to) n++;
  }
  return n;
}
