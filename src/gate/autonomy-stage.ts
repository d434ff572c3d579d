/**
 * SPEC 6 step 4 in the BindingGate: autonomy limits (SPEC 8). An `act_auto` binding out of decisions
 * for the hour or day asks a human instead of going on: the dispatch rests `waiting` on an approval
 * request (an approval row in D1, a `tier_transition` trust record). A reviewer's answer resumes it
 * from flow control without counting a decision, or ends it `failed`.
 */
import { APPROVAL_REVIEWERS, decisionLimitReached, decisionsBudgeted } from "../autonomy/decision-budget";
import type { DispatchStatus } from "../contracts/dispatch";
import type { DispatchDoc } from "../contracts/dispatch-doc";
import type { ApprovalAnswer } from "../contracts/gate-rpc";
import { loadEvent } from "../history/event-reader";
import { newApprovalId } from "../lib/ids";
import type { GateCore } from "./gate-core";

export class AutonomyStage {
  constructor(private readonly gate: GateCore) {}

  /** Step 4, then on to flow control. */
  enter(doc: DispatchDoc, now: number, event: unknown): DispatchStatus {
    const autonomy = this.gate.spec().autonomy;
    if (autonomy && doc.decision !== "approved" && decisionsBudgeted(this.gate.tierOf(doc), autonomy)) {
      const reason = decisionLimitReached(autonomy, this.gate.budgets.decisions(now));
      if (reason) return this.requireApproval(doc, reason, now);
    }
    return this.gate.steps.flowStage(doc, now, event);
  }

  private requireApproval(doc: DispatchDoc, reason: string, now: number): DispatchStatus {
    const gate = this.gate;
    const request = {
      approval_required: true as const,
      request_id: newApprovalId(now),
      reason,
      reviewers: [...APPROVAL_REVIEWERS],
    };
    const tier = gate.tierOf(doc);
    gate.patch(doc, { status: "waiting", held_reason: "approval", approval_id: request.request_id }, now);
    gate.log(doc, { op: "approval_required", at: now, request, tier });
    gate.outbox.addTrust(
      gate.trustInput(
        `tier_transition:${request.request_id}`,
        "autonomy.tier_transition",
        "approval_required",
        "act_with_approval",
        {
          from: tier,
          to: "act_with_approval",
          reason,
          request_id: request.request_id,
          dispatch_id: doc.dispatch_id,
          binding_key: gate.meta("binding_key"),
          event_id: doc.event_id,
        },
        now,
      ),
    );
    return "waiting";
  }

  /**
   * A reviewer's answer to an approval request: approve resumes the dispatch from flow control
   * (without counting a decision), deny ends it `failed`.
   */
  async decide(
    dispatchId: string,
    requestId: string,
    decision: { approved: boolean; reviewer: string | null; reason: string | null },
  ): Promise<ApprovalAnswer> {
    const gate = this.gate;
    const doc = gate.live.get(dispatchId);
    if (!doc || doc.approval_id !== requestId) return { state: "unknown" };
    if (doc.status !== "waiting" || doc.held_reason !== "approval") return { state: "not_pending", status: doc.status };
    const event = decision.approved ? await loadEvent(gate.env, doc.event_id) : null;
    // The answer may have changed while the event was read.
    if (doc.status !== "waiting" || doc.held_reason !== "approval") return { state: "not_pending", status: doc.status };
    const now = Date.now();
    gate.log(doc, { op: "approval_decided", at: now, request_id: requestId, ...decision });
    let status: DispatchStatus;
    if (decision.approved) {
      gate.patch(doc, { status: "pending", held_reason: null, decision: "approved" }, now);
      status = gate.steps.flowStage(doc, now, event);
    } else {
      const by = decision.reviewer ? ` by ${decision.reviewer}` : "";
      const error = `approval ${requestId} denied${by}${decision.reason ? `: ${decision.reason}` : ""}`;
      gate.patch(doc, { status: "failed", held_reason: null, terminal_at: now }, now);
      gate.log(doc, { op: "failed_before_attempt", at: now, attempt_count: 0, error });
      gate.steps.afterTerminal(doc, now, "failed", error);
      status = "failed";
    }
    await gate.steps.startReady(event);
    await gate.settle();
    return { state: "decided", status };
  }
}
