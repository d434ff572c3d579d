/**
 * Batch (SPEC 9.1): arrivals for one gate join a group led by the first; the group flushes when it
 * reaches `size` or at the leader's deadline (`timeout` after it arrived). The leader continues the
 * chain carrying every member's event; the others end `batch_merged`. An arrival after a deadline the
 * alarm missed flushes that group first and opens a new one.
 */
import type { FlowControlSpec } from "../../contracts/binding-spec";
import { type FlowRun, type Walker, waitOutcome, walkerOf } from "../flow-run";
import type { FlowWait } from "../flow-store";
import type { FlowBatch, FlowOutcome } from "../flow-types";

export function batchArrive(run: FlowRun, w: Walker, gate: string): FlowOutcome {
  const cfg = run.flow.batch as NonNullable<FlowControlSpec["batch"]>;
  let leader = run.store.waitAt("batch", gate, 0);
  if (leader && leader.due !== null && run.now >= leader.due) {
    // The deadline passed before this arrival (late alarm): that group is complete without it.
    flushBatch(run, gate, "deadline", null);
    leader = null;
  }
  if (!leader) {
    const deadline = run.now + cfg.timeout;
    run.addWait(w, "batch", gate, deadline, deadline);
    run.emit("batch", gate, "batch_enqueued", w.id, { leader: w.id, members: 1, size: cfg.size, deadline });
    if (cfg.size <= 1) return flushBatch(run, gate, "size", w.id) ?? { kind: "none" };
    return { kind: "wait", primitive: "batch", gate, until: deadline, eta: deadline };
  }
  run.addWait(w, "batch", gate, null, leader.due);
  const members = run.store.waitCount("batch", gate);
  run.emit("batch", gate, "batch_enqueued", w.id, {
    leader: leader.dispatch_id,
    members,
    size: cfg.size,
    deadline: leader.due,
  });
  if (members >= cfg.size) return flushBatch(run, gate, "size", w.id) ?? { kind: "none" };
  return { kind: "wait", primitive: "batch", gate, until: null, eta: leader.due };
}

/** The leader's deadline timer. */
export function batchTimer(run: FlowRun, wait: FlowWait): FlowOutcome {
  const leader = run.store.waitAt("batch", wait.gate, 0);
  if (!leader || leader.dispatch_id !== wait.dispatch_id) {
    return { kind: "wait", primitive: "batch", gate: wait.gate, until: null, eta: leader?.due ?? null };
  }
  if (wait.due !== null && run.now < wait.due) return waitOutcome(wait);
  return flushBatch(run, wait.gate, "deadline", wait.dispatch_id) ?? { kind: "none" };
}

/** Closes the group: the leader continues with the batch, followers end `batch_merged`. */
function flushBatch(run: FlowRun, gate: string, reason: "size" | "deadline", self: string | null): FlowOutcome | null {
  const members = run.store.waitList("batch", gate);
  const leader = members[0];
  if (!leader) return null;
  for (const m of members) run.store.waitRemove(m.dispatch_id);
  const batch: FlowBatch = {
    gate,
    members: members.map((m) => ({ dispatch_id: m.dispatch_id, event_id: m.event_id })),
  };
  run.emit("batch", gate, "batch_dispatched", leader.dispatch_id, {
    leader: leader.dispatch_id,
    count: members.length,
    members: batch.members.map((m) => m.dispatch_id),
    reason,
  });
  let mine: FlowOutcome | null = null;
  for (const m of members) {
    let outcome: FlowOutcome;
    if (m === leader) {
      outcome = run.continueAfter(walkerOf(m), "batch", batch);
    } else {
      run.emit("batch", gate, "batch_merged", m.dispatch_id, { leader: leader.dispatch_id });
      outcome = { kind: "skip", reason: "batch_merged", primitive: "batch", gate, error: null };
    }
    if (m.dispatch_id === self) mine = outcome;
    else run.moved({ dispatch_id: m.dispatch_id, cause: "batch_flushed", outcome });
  }
  return mine;
}

/** A leader that left hands its deadline to the next member, who now leads. */
export function promoteBatchLeader(run: FlowRun, left: FlowWait, payload: Record<string, unknown>): void {
  const next = run.store.waitAt("batch", left.gate, 0);
  if (!next) return;
  run.store.waitSetDue(next.dispatch_id, left.due, left.due);
  payload.promoted = next.dispatch_id;
  run.moved({
    dispatch_id: next.dispatch_id,
    cause: "leader_promoted",
    outcome: { kind: "wait", primitive: "batch", gate: left.gate, until: left.due, eta: left.due },
  });
}
