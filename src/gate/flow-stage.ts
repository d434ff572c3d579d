/**
 * SPEC 6 step 5 in the BindingGate: flow control (SPEC 9) and the pause check after it. The decisions
 * are made by the pure `FlowControl` engine over the gate's SQLite (`SqlFlowStore`); this stage
 * applies them to the dispatch documents: admit (then held while paused, else ready for attempt 1),
 * skip, wait (a `flow` timer), and the moves a decision makes on other dispatches (a freed slot, a
 * flushed batch) with their audit records. A daily sweep prunes state of idle keys.
 */
import { decisionsBudgeted } from "../autonomy/decision-budget";
import type { DispatchStatus } from "../contracts/dispatch";
import type { DispatchDoc } from "../contracts/dispatch-doc";
import type { TriggerEvent } from "../contracts/events";
import { FlowControl } from "../flow/flow-control";
import type { FlowDecision, FlowEffects, FlowOutcome } from "../flow/flow-types";
import { SqlFlowStore } from "../flow/sql-flow-store";
import type { GateCore } from "./gate-core";
import { readRoutingWatermark } from "./routing-watermark-reader";

/**
 * Flow-control hygiene runs this often while the binding has flow control: expired sliding-log
 * entries of idle keys (never pruned otherwise), and leases or waits of dispatches no longer live.
 */
const FLOW_SWEEP_EVERY_MS = 86_400_000;

/** How often a waiting ordering head re-reads the routing watermark (SPEC 9.7). */
const WATERMARK_POLL_MS = 250;

export class FlowStage {
  private engine: FlowControl | null | undefined;
  /** Ordering's routing watermark as last read (null: not read, or unreadable). */
  private watermark: number | null = null;

  constructor(private readonly gate: GateCore) {}

  /** The binding's flow-control engine, or null when it has none. */
  flow(): FlowControl | null {
    if (this.engine === undefined) {
      // Before the first admit stores the spec there is nothing to decide: answer null uncached.
      if (!this.gate.meta("spec")) return null;
      const spec = this.gate.spec();
      this.engine = spec.flow_control
        ? new FlowControl({
            bindingKey: this.gate.meta("binding_key") ?? "",
            flow: spec.flow_control,
            store: new SqlFlowStore(this.gate.sql),
            routedThrough: () => this.watermark,
            watermarkPollMs: WATERMARK_POLL_MS,
          })
        : null;
    }
    return this.engine;
  }

  /** Step 5: flow control, or straight past it. */
  enter(doc: DispatchDoc, now: number, event: unknown): DispatchStatus {
    const flow = this.flow();
    if (!flow) return this.afterFlow(doc, now, event);
    if (this.gate.meta("flow_sweep_at") === null) this.gate.setMeta("flow_sweep_at", String(now + FLOW_SWEEP_EVERY_MS));
    return this.apply(
      doc,
      flow.admit({
        dispatchId: doc.dispatch_id,
        eventId: doc.event_id,
        event,
        now,
        replay: doc.replay_of_event_id !== null,
      }),
      now,
    );
  }

  /** Past flow control: held while the binding is paused, else ready for attempt 1. */
  afterFlow(doc: DispatchDoc, now: number, event: unknown = null): DispatchStatus {
    const gate = this.gate;
    // SPEC 8: an autonomous decision is counted once, when flow control admits the dispatch.
    if (doc.decision === null && decisionsBudgeted(gate.tierOf(doc), gate.spec().autonomy)) {
      gate.budgets.countDecision(now);
      gate.patch(doc, { decision: "counted" }, now);
    }
    if (gate.meta("paused") === "1") {
      gate.patch(doc, { status: "held", held_reason: "paused" }, now);
      gate.log(doc, { op: "status", at: now, status: "held", result: { held: true, reason: "binding paused" } });
      return "held";
    }
    const leavingHold = doc.status === "held";
    gate.patch(doc, { status: "admitted", held_reason: null }, now);
    gate.log(
      doc,
      leavingHold
        ? { op: "status", at: now, status: "admitted", result: null }
        : { op: "status", at: now, status: "admitted" },
    );
    const carried =
      event && typeof event === "object" && (event as { id?: unknown }).id === doc.event_id
        ? (event as TriggerEvent)
        : null;
    gate.markReady(doc.dispatch_id, carried);
    return "admitted";
  }

  /** A `flow` timer fired: the engine decides what the wait becomes. */
  onTimer(doc: DispatchDoc, now: number): void {
    const flow = this.flow();
    if (flow) this.apply(doc, flow.onTimer(doc.dispatch_id, now), now);
  }

  /**
   * A dispatch ended (or rests `waiting`): its leases and waits end, which may admit the next waiters.
   * A `waiting` one keeps its place in its ordering line; one that ended `dlq` or `failed` may block it.
   */
  release(dispatchId: string, now: number, status: DispatchStatus): void {
    const flow = this.flow();
    const ending = { final: status !== "waiting", failed: status === "dlq" || status === "failed" };
    if (flow) this.applyEffects(flow.release(dispatchId, now, ending), now);
  }

  /**
   * Reads ordering's routing watermark before a decision that may need it. A failed read leaves the
   * last value: a line then waits for its `reorder_window` at worst.
   */
  async refreshWatermark(ordering: boolean, now: number): Promise<void> {
    if (!ordering) return;
    try {
      this.watermark = await readRoutingWatermark(this.gate.env, now);
    } catch (error) {
      console.error(JSON.stringify({ msg: "routing watermark unreadable", error: String(error) }));
    }
  }

  /** The watermark moved: ordering heads that may start now do. */
  wake(now: number): void {
    const flow = this.flow();
    if (flow) this.applyEffects(flow.wake(now), now);
  }

  /** The failure that holds an ordering line was resolved or replayed: the line goes on. */
  unblock(dispatchId: string, now: number): void {
    const flow = this.flow();
    if (flow) this.applyEffects(flow.unblock(dispatchId, now), now);
  }

  /** The daily hygiene pass; stops scheduling itself once the binding has no flow control. */
  sweep(now: number): void {
    const flow = this.flow();
    if (!flow) {
      this.gate.deleteMeta("flow_sweep_at");
      return;
    }
    this.applyEffects(
      flow.sweep(now, (id) => this.gate.isLive(id)),
      now,
    );
    this.gate.setMeta("flow_sweep_at", String(now + FLOW_SWEEP_EVERY_MS));
  }

  /** Applies a flow decision: other dispatches it moved, its audit records, then the caller's outcome. */
  private apply(doc: DispatchDoc, decision: FlowDecision, now: number): DispatchStatus {
    this.applyEffects(decision, now);
    return this.applyOutcome(doc, decision, now);
  }

  private applyEffects(effects: FlowEffects, now: number): void {
    const gate = this.gate;
    for (const transition of effects.others) {
      const other = gate.live.get(transition.dispatch_id);
      if (other && gate.isLive(other.dispatch_id)) this.applyOutcome(other, transition.outcome, now);
    }
    for (const entry of effects.audit) {
      const subject = gate.live.get(entry.dispatch_id);
      if (subject)
        gate.log(subject, { op: "audit", at: now, topic: entry.topic, kind: entry.kind, payload: entry.payload });
    }
  }

  private applyOutcome(doc: DispatchDoc, outcome: FlowOutcome, now: number): DispatchStatus {
    const gate = this.gate;
    switch (outcome.kind) {
      case "admit": {
        if (doc.timer?.kind === "flow") gate.clearTimer(doc, now);
        if (outcome.batch) gate.patch(doc, { batch_event_ids: outcome.batch.members.map((m) => m.event_id) }, now);
        if (outcome.ordering) gate.patch(doc, { ordering: outcome.ordering }, now);
        return this.afterFlow(doc, now);
      }
      case "skip": {
        if (doc.timer?.kind === "flow") gate.clearTimer(doc, now);
        const detail = {
          skipped: true,
          flow_control: outcome.reason,
          ...(outcome.limit_index === undefined ? {} : { limit_index: outcome.limit_index }),
          ...(outcome.error ? { error: outcome.error } : {}),
        };
        gate.patch(doc, { status: "skipped", held_reason: null, terminal_at: now }, now);
        gate.log(doc, { op: "skipped", at: now, stage: "flow_control", detail });
        gate.steps.afterTerminal(doc, now, "skipped", outcome.reason);
        return "skipped";
      }
      case "wait": {
        if (outcome.until !== null) gate.setTimer(doc, "flow", outcome.until, 0, now);
        else if (doc.timer?.kind === "flow") gate.clearTimer(doc, now);
        const reason = outcome.blocked ? "ordering_blocked" : "flow";
        if (doc.status !== "held" || doc.held_reason !== reason) {
          const detail = {
            held: true,
            flow_control: outcome.primitive,
            gate: outcome.gate,
            until: outcome.eta,
            ...(outcome.blocked ? { blocked: true } : {}),
          };
          gate.patch(doc, { status: "held", held_reason: reason }, now);
          gate.log(doc, { op: "status", at: now, status: "held", result: detail });
        }
        return "held";
      }
      case "none":
        if (doc.timer?.kind === "flow") gate.clearTimer(doc, now);
        return doc.status;
    }
  }
}
