/**
 * How dispatches end in the BindingGate (SPEC 6, 13): the bookkeeping every terminal transition
 * shares (trust record, hand-over to History, freed flow-control slots), cancellation at any point
 * (SPEC 13.1: at once when nothing runs, by aborting a running attempt otherwise), and the caller's
 * verdict on a `waiting` dispatch.
 */
import { type DispatchStatus, isTerminal } from "../contracts/dispatch";
import type { DispatchDoc } from "../contracts/dispatch-doc";
import type { CancelAnswer, CompleteAnswer } from "../contracts/gate-rpc";
import { dispatchIdOf } from "../dispatch/dispatch-id";
import type { GateCore } from "./gate-core";

/** SPEC 13.1 error texts. */
export const cancelError = {
  beforeAttempt: (n: number) => `trigger cancel request cancelled dispatch before attempt ${n}`,
  retryWait: "trigger cancel request cancelled retry wait",
  handler: "trigger cancel request cancelled handler",
  waiting: (heldReason: string | null) =>
    `trigger cancel request cancelled ${
      heldReason === "approval" ? "approval wait" : heldReason === "deferred" ? "budget deferral" : "waiting dispatch"
    }`,
};

/** What ending a dispatch touches in the other stages. */
export interface EndingLinks {
  /** Frees the dispatch's flow-control leases and waits (a `waiting` one keeps its ordering place). */
  releaseFlow(dispatchId: string, now: number, status: DispatchStatus): void;
  /** A failure that holds an ordering line is settled: the line goes on. */
  unblockOrdering(dispatchId: string, now: number): void;
  /** Aborts a running attempt. */
  abortAttempt(dispatchId: string, attempt: number): void;
  /** Cancels the A2A task a waiting dispatch follows, if any. */
  cancelFollowedTask(doc: DispatchDoc): void;
}

export class Endings {
  constructor(
    private readonly gate: GateCore,
    private readonly links: EndingLinks,
  ) {}

  /**
   * Bookkeeping every terminal transition shares: leases and waits end (freed slots admit the next
   * waiters), a trust record, and for a final status the hand-over to History. `durable` writes the
   * final state here as well, for outcomes an RPC caller is told about.
   */
  afterTerminal(doc: DispatchDoc, now: number, status: DispatchStatus, error: string | null = null, durable = true) {
    const gate = this.gate;
    const trust = gate.finalTrust(doc, status, now, error);
    if (status === "waiting") {
      gate.outbox.addTrust(trust);
    } else {
      if (doc.timer) gate.patch(doc, { timer: null }, now);
      gate.timers.set(doc.dispatch_id, null);
      gate.live.finalize(doc, durable);
      gate.outbox.add(doc, trust);
    }
    this.links.releaseFlow(doc.dispatch_id, now, status);
    // A successful replay settles the failure of the dispatch it replays (SPEC 9.7 `on_failure: "block"`).
    if (status === "succeeded" && doc.replay_of_event_id !== null) {
      this.links.unblockOrdering(dispatchIdOf(doc.binding_key, doc.replay_of_event_id), now);
    }
  }

  /** Ends a dispatch as `cancelled` now. */
  cancelNow(doc: DispatchDoc, error: string, now: number, durable = true): DispatchStatus {
    this.gate.patch(
      doc,
      { status: "cancelled", attempt_running: false, cancel_requested: true, terminal_at: now, timer: null },
      now,
    );
    this.gate.log(doc, { op: "cancelled", at: now, attempt_count: doc.attempt, error });
    this.afterTerminal(doc, now, "cancelled", error, durable);
    return "cancelled";
  }

  /**
   * Cancels a dispatch: at once when no attempt is running (before the first attempt, during a retry
   * wait, while held or waiting), otherwise by aborting the running attempt, which then ends `cancelled`.
   */
  async cancel(
    dispatchId: string,
    request: { requested_by: string | null; reason: string | null },
  ): Promise<CancelAnswer> {
    const gate = this.gate;
    const doc = gate.live.get(dispatchId);
    if (!doc || gate.live.isFinal(dispatchId))
      return doc ? { state: "terminal", status: doc.status } : { state: "unknown" };
    if (isTerminal(doc.status) && doc.status !== "waiting") return { state: "terminal", status: doc.status };
    const now = Date.now();
    gate.log(doc, {
      op: "cancel_requested",
      at: now,
      requested_by: request.requested_by,
      reason: request.reason,
      status: doc.status,
    });
    let answer: CancelAnswer;
    if (doc.status === "waiting") {
      // A resting dispatch (handler waiting, approval, budget deferral, followed A2A task) ends now.
      this.links.cancelFollowedTask(doc);
      const error = cancelError.waiting(doc.held_reason);
      answer = { state: "cancelled", status: this.cancelNow(doc, error, now) as "cancelled" };
    } else if (doc.attempt_running) {
      gate.patch(doc, { cancel_requested: true }, now);
      this.links.abortAttempt(dispatchId, doc.attempt);
      answer = { state: "cancel_requested", status: doc.status };
    } else {
      const error =
        doc.status === "retry_scheduled" ? cancelError.retryWait : cancelError.beforeAttempt(doc.attempt + 1);
      answer = { state: "cancelled", status: this.cancelNow(doc, error, now) as "cancelled" };
      await gate.steps.startReady();
    }
    await gate.settle();
    return answer;
  }

  /** Finishes a `waiting` dispatch with the caller's verdict. */
  async complete(
    dispatchId: string,
    verdict: { status: "succeeded" | "failed"; result?: unknown; error?: string | null },
  ): Promise<CompleteAnswer> {
    const gate = this.gate;
    const doc = gate.live.get(dispatchId);
    if (!doc) return { state: "unknown" };
    if (doc.status !== "waiting" || gate.live.isFinal(dispatchId)) return { state: "not_waiting", status: doc.status };
    const now = Date.now();
    const error = verdict.status === "failed" ? (verdict.error ?? "completed as failed") : null;
    gate.patch(doc, { status: verdict.status, terminal_at: now, held_reason: null, timer: null }, now);
    gate.log(doc, {
      op: "completed",
      at: now,
      status: verdict.status,
      attempt_count: doc.attempt,
      result: verdict.result ?? null,
      error,
    });
    this.afterTerminal(doc, now, verdict.status, error);
    // Its end may let the next in its ordering line start.
    await gate.steps.startReady();
    await gate.settle();
    return { state: "completed", status: verdict.status };
  }
}
