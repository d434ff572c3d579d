/**
 * A stand-in for BindingGate that applies FlowControl decisions exactly as the engine's header
 * prescribes (one flow timer per dispatch, transitions of other dispatches applied in order), so the
 * scenarios can drive time and read back what each dispatch would look like.
 */
import type { FlowControlSpec } from "../../src/contracts/binding-spec";
import { FlowControl } from "../../src/flow/flow-control";
import type { FlowStore } from "../../src/flow/flow-store";
import type { FlowAudit, FlowDecision, FlowEffects, FlowOutcome } from "../../src/flow/flow-types";

export const BINDING_KEY = "triage@v1";

export type State = string;

export class Harness {
  readonly engine: FlowControl;
  readonly store: FlowStore;
  now = 0;
  /** Per dispatch: "admitted", "skipped:<reason>", "wait:<primitive>[@until]", "done". */
  readonly states = new Map<string, State>();
  readonly timers = new Map<string, number>();
  readonly outcomes = new Map<string, FlowOutcome>();
  /** Dispatch ids in the order they were admitted, with the time. */
  readonly admitted: Array<{ id: string; at: number }> = [];
  readonly audit: FlowAudit[] = [];
  /** Ordering's routing watermark (ms) as the gate would pass it; null: unknown. */
  watermark: number | null = null;

  constructor(flow: FlowControlSpec | null, store: FlowStore, bindingKey = BINDING_KEY) {
    this.store = store;
    this.engine = new FlowControl({ bindingKey, flow, store, routedThrough: () => this.watermark });
  }

  /** A dispatch arrives at flow control at `at` (default: now); its event was received at `receivedAt` (default `at`). */
  arrive(id: string, payload: Record<string, unknown> = {}, at = this.now, receivedAt = at): FlowDecision {
    this.now = at;
    const decision = this.engine.admit({
      dispatchId: id,
      eventId: `evt_${id}`,
      event: { id: `evt_${id}`, received_at: new Date(receivedAt).toISOString(), payload },
      now: at,
    });
    this.effects(id, decision);
    this.apply(id, outcomeOf(decision));
    return decision;
  }

  /** A dispatch reaches a terminal status (`failed`: it ended dlq or failed), or `waiting` (`final: false`). */
  finish(id: string, at = this.now, ending = { final: true, failed: false }): FlowEffects {
    this.now = at;
    const effects = this.engine.release(id, at, ending);
    this.timers.delete(id);
    this.states.set(id, ending.final ? "done" : "waiting");
    this.effects(id, effects);
    return effects;
  }

  /** The failure `id` that blocks an ordering line was resolved. */
  unblock(id: string, at = this.now): FlowEffects {
    this.now = at;
    const effects = this.engine.unblock(id, at);
    this.effects(id, effects);
    return effects;
  }

  /** The routing watermark moved to `to`. */
  advanceWatermark(to: number, at = this.now): FlowEffects {
    this.now = at;
    this.watermark = to;
    const effects = this.engine.wake(at);
    this.effects("", effects);
    return effects;
  }

  /** Fires every flow timer due up to `to`, in due order, each at its own due time. */
  tick(to: number): void {
    for (;;) {
      let next: [string, number] | null = null;
      for (const entry of this.timers) if (entry[1] <= to && (!next || entry[1] < next[1])) next = entry;
      if (!next) break;
      const [id, due] = next;
      this.now = Math.max(this.now, due);
      this.timers.delete(id);
      const decision = this.engine.onTimer(id, this.now);
      this.effects(id, decision);
      this.apply(id, outcomeOf(decision));
    }
    this.now = Math.max(this.now, to);
  }

  state(id: string): State | undefined {
    return this.states.get(id);
  }

  /** States of the given ids (all known ids by default). */
  snapshotStates(ids?: string[]): Record<string, State | undefined> {
    const out: Record<string, State | undefined> = {};
    for (const id of ids ?? [...this.states.keys()]) out[id] = this.states.get(id);
    return out;
  }

  admittedOrder(): string[] {
    return this.admitted.map((a) => a.id);
  }

  auditKinds(id?: string): string[] {
    return this.audit.filter((a) => id === undefined || a.dispatch_id === id).map((a) => a.kind);
  }

  /** `others` in order (the caller then applies its own outcome); audit as given. */
  private effects(caller: string, effects: FlowEffects): void {
    for (const t of effects.others) {
      if (t.dispatch_id === caller) throw new Error(`the caller ${caller} appears in others`);
      this.apply(t.dispatch_id, t.outcome);
    }
    this.audit.push(...effects.audit);
  }

  private apply(id: string, outcome: FlowOutcome): void {
    switch (outcome.kind) {
      case "admit":
        this.timers.delete(id);
        this.states.set(id, "admitted");
        this.admitted.push({ id, at: this.now });
        break;
      case "skip":
        this.timers.delete(id);
        this.states.set(id, `skipped:${outcome.reason}`);
        break;
      case "wait":
        if (outcome.until === null) this.timers.delete(id);
        else this.timers.set(id, outcome.until);
        this.states.set(
          id,
          outcome.until === null ? `wait:${outcome.primitive}` : `wait:${outcome.primitive}@${outcome.until}`,
        );
        break;
      case "none":
        this.timers.delete(id);
        return;
    }
    this.outcomes.set(id, outcome);
  }
}

/** The outcome part of a decision (without its effects). */
export function outcomeOf(decision: FlowDecision): FlowOutcome {
  const { others: _others, audit: _audit, ...outcome } = decision;
  return outcome as FlowOutcome;
}
