/**
 * One call into flow control: the spec, the store and the time it decides with, the moves of other
 * dispatches and the audit records it collects, and the way back into the chain for a dispatch a
 * primitive lets through. The primitive modules (`primitives/`) work on a run and know nothing else.
 */
import type { FlowControlSpec } from "../contracts/binding-spec";
import { flowTopic } from "./flow-keys";
import type { FlowLease, FlowPlan, FlowPrimitive, FlowStore, FlowWait, WaitCarry, WaitPrimitive } from "./flow-store";
import {
  type FlowAudit,
  type FlowBatch,
  type FlowDecision,
  type FlowEffects,
  type FlowOutcome,
  type FlowTransition,
  type OrderingStart,
  primitiveIndex,
} from "./flow-types";

/** A gate's expired log entries are deleted once this many have accumulated (amortised pruning). */
export const PRUNE_SLACK = 16;

/** A dispatch moving through the chain. */
export interface Walker {
  id: string;
  eventId: string;
  plan: FlowPlan;
  rankError?: string | null;
  /** The events it carries on (a flushed batch, a delivered debounce burst). */
  batch?: FlowBatch | null;
  /** Its place in an ordering line, once it started there. */
  ordering?: OrderingStart | null;
}

export function walkerOf(wait: FlowWait): Walker {
  return {
    id: wait.dispatch_id,
    eventId: wait.event_id,
    plan: wait.plan,
    batch: wait.carry?.batch ?? null,
    ordering: wait.carry?.ordering ?? null,
  };
}

/** What an admitted dispatch holds: exactly the ordering, singleton and concurrency gates of its plan. */
export function leasesFor(plan: FlowPlan): FlowLease[] {
  const leases: FlowLease[] = [];
  if (plan.gates.ordering !== undefined) leases.push({ primitive: "ordering", gate: plan.gates.ordering });
  if (plan.gates.singleton !== undefined) leases.push({ primitive: "singleton", gate: plan.gates.singleton });
  if (plan.gates.concurrency !== undefined) leases.push({ primitive: "concurrency", gate: plan.gates.concurrency });
  return leases;
}

export function waitOutcome(wait: FlowWait): FlowOutcome {
  return { kind: "wait", primitive: wait.primitive, gate: wait.gate, until: wait.due, eta: wait.eta };
}

/** Runs a walker through the primitives from index `from` on. */
export type Chain = (run: FlowRun, w: Walker, from: number) => FlowOutcome;

export class FlowRun {
  readonly others: FlowTransition[] = [];
  readonly audit: FlowAudit[] = [];

  readonly flow: FlowControlSpec;
  readonly store: FlowStore;
  readonly now: number;
  /** Ordering's routing watermark (ms), or null when unknown. */
  readonly routedThrough: () => number | null;
  /** How often a waiting ordering head re-checks the watermark (null: only at its deadline). */
  readonly watermarkPollMs: number | null;
  private readonly chain: Chain;

  // Plain fields, not parameter properties: `bench/flow-control.ts` runs this in Node's type stripping.
  constructor(
    flow: FlowControlSpec,
    store: FlowStore,
    now: number,
    chain: Chain,
    routedThrough: () => number | null = () => null,
    watermarkPollMs: number | null = null,
  ) {
    this.flow = flow;
    this.store = store;
    this.now = now;
    this.chain = chain;
    this.routedThrough = routedThrough;
    this.watermarkPollMs = watermarkPollMs;
  }

  /** Runs `w` through the chain from the start (`from` 0) or from a given index. */
  advance(w: Walker, from: number): FlowOutcome {
    return this.chain(this, w, from);
  }

  /** Continues `w` with the primitive after `primitive` (it passed that one), carrying `batch` on. */
  continueAfter(w: Walker, primitive: FlowPrimitive, batch: FlowBatch | null = null): FlowOutcome {
    return this.chain(this, batch ? { ...w, batch } : w, primitiveIndex(primitive) + 1);
  }

  /** Another dispatch moved: the gate applies `outcome` to it. */
  moved(transition: FlowTransition): void {
    this.others.push(transition);
  }

  emit(primitive: FlowPrimitive, gate: string, kind: string, dispatchId: string, payload: Record<string, unknown>) {
    this.audit.push({
      topic: flowTopic(primitive, gate),
      kind,
      dispatch_id: dispatchId,
      payload: { gate, dispatch_id: dispatchId, ...payload },
    });
  }

  addWait(
    w: Walker,
    primitive: WaitPrimitive,
    gate: string,
    due: number | null,
    eta: number | null,
    carry: WaitCarry = {},
  ): FlowWait {
    const carried: WaitCarry = {
      ...(w.batch ? { batch: w.batch } : {}),
      ...(w.ordering ? { ordering: w.ordering } : {}),
      ...carry,
    };
    return this.store.waitAdd({
      dispatch_id: w.id,
      primitive,
      gate,
      rank: primitive === "concurrency" ? w.plan.rank : primitive === "ordering" ? (w.plan.received_at ?? this.now) : 0,
      arrived_at: this.now,
      due,
      eta,
      event_id: w.eventId,
      plan: w.plan,
      carry: Object.keys(carried).length > 0 ? carried : null,
    });
  }

  effects(): FlowEffects {
    return { others: this.others, audit: this.audit };
  }

  decision(outcome: FlowOutcome): FlowDecision {
    return { ...outcome, others: this.others, audit: this.audit };
  }
}
