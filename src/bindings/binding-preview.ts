/**
 * Binding preview (SPEC 5.4): what a spec would have done with stored events, in `received_at` order,
 * with no side effects. Matching, the CEL predicate, autonomy decision limits and flow control run
 * as a live dispatch runs them, flow control on a memory store and on the events' own times from
 * empty state; every dispatch is assumed to finish `assumeDurationMs` after it starts. A classifier
 * predicate is never called (`unknown`). Pure: the events and the end of the range are passed in.
 */
import { decisionLimitReached, decisionsBudgeted } from "../autonomy/decision-budget";
import { effectiveTier } from "../autonomy/tiers";
import {
  PREVIEW_OUTCOMES,
  type PreviewAnswer,
  type PreviewItem,
  type PreviewOutcome,
} from "../contracts/binding-preview";
import type { BindingSpec } from "../contracts/binding-spec";
import type { PublishTarget } from "../contracts/event-log-rpc";
import type { TriggerEvent } from "../contracts/events";
import { matchBindings } from "../dispatch/matching";
import { FlowControl } from "../flow/flow-control";
import type { FlowOutcome } from "../flow/flow-types";
import { MemoryFlowStore } from "../flow/memory-flow-store";
import { dayBucket, hourBucket } from "../predicates/budget";
import { evaluateCelPredicate } from "../predicates/verdict";

export interface PreviewEvent {
  event: TriggerEvent;
  target: PublishTarget | null;
}

export interface PreviewOptions {
  /** How long every dispatch runs (its singleton and concurrency leases are held that long). */
  assumeDurationMs: number;
  /** The end of the range: batch and debounce groups still open then are `waits`. */
  endAt: number;
}

const PREVIEW_BINDING = "preview";
/** Primitives whose wait a live dispatch would spend `held` (batch and debounce waits are how they work). */
const HOLDING = new Set(["throttle", "ordering", "concurrency"]);

/** Runs `spec` over `events` (any order; sorted here by `received_at`, then id). */
export function previewSpec(spec: BindingSpec, events: PreviewEvent[], options: PreviewOptions): PreviewAnswer {
  const sorted = [...events].sort(
    (a, b) => Date.parse(a.event.received_at) - Date.parse(b.event.received_at) || (a.event.id < b.event.id ? -1 : 1),
  );
  const sim = new Simulation(spec, options.assumeDurationMs);
  const items = sorted.map(({ event, target }) => sim.arrive(event, target));
  sim.runUntil(Math.max(options.endAt, sim.now));
  for (const item of items) sim.settle(item);
  const summary = {
    ...(Object.fromEntries(PREVIEW_OUTCOMES.map((o) => [o, 0])) as Record<PreviewOutcome, number>),
    skipped_by_reason: {} as Record<string, number>,
  };
  for (const item of items) {
    summary[item.outcome]++;
    if (item.outcome === "skipped" && item.reason)
      summary.skipped_by_reason[item.reason] = (summary.skipped_by_reason[item.reason] ?? 0) + 1;
  }
  return { evaluated: items.length, items, summary };
}

/** One preview's simulated gate: flow control on memory, its timers, lease releases and decision counts. */
class Simulation {
  now = 0;
  private readonly spec: BindingSpec;
  private readonly duration: number;
  private readonly flow: FlowControl;
  /** Per dispatch id (the event id): the item it decides. */
  private readonly items = new Map<string, PreviewItem>();
  /** Flow timers by dispatch id. */
  private readonly timers = new Map<string, number>();
  /** Lease releases: [time, dispatch id], in start order (same duration for all → sorted). */
  private readonly releases: Array<[number, string]> = [];
  /** Batch followers → their leader's event id. */
  private readonly leaders = new Map<string, string>();
  /** Events held by throttle or concurrency at some point. */
  private readonly held = new Map<string, string>();
  private readonly decisions = new Map<string, number>();

  constructor(spec: BindingSpec, duration: number) {
    this.spec = spec;
    this.duration = duration;
    this.flow = new FlowControl({
      bindingKey: PREVIEW_BINDING,
      flow: spec.flow_control ?? null,
      store: new MemoryFlowStore(),
      // Stored events are routed: an ordering line never waits for stragglers here.
      routedThrough: () => Number.MAX_SAFE_INTEGER,
    });
  }

  arrive(event: TriggerEvent, target: PublishTarget | null): PreviewItem {
    const at = Date.parse(event.received_at);
    this.runUntil(at);
    this.now = Math.max(this.now, at);
    const item: PreviewItem = {
      event_id: event.id,
      kind: event.kind,
      received_at: event.received_at,
      outcome: "dispatch",
    };
    const candidate = { bindingKey: PREVIEW_BINDING, id: PREVIEW_BINDING, version: 1, state: "active" as const };
    const routable = { ...event, target: target ? { binding_id: target.binding_id, version: target.version } : null };
    if (matchBindings(routable, [{ ...candidate, spec: this.spec }]).length === 0)
      return { ...item, outcome: "no_match" };

    const when = this.spec.when;
    if (when !== undefined && typeof when !== "string") {
      return {
        ...item,
        outcome: "unknown",
        stage: "predicate",
        reason: "classifier predicates are not called in a preview",
      };
    }
    if (when !== undefined) {
      const verdict = evaluateCelPredicate(when, event);
      if (!verdict.result) {
        return {
          ...item,
          outcome: "skipped",
          stage: "predicate",
          reason: verdict.reason ?? "predicate returned false",
        };
      }
    }
    const autonomy = this.spec.autonomy;
    if (autonomy && decisionsBudgeted(effectiveTier(autonomy.tier, null), autonomy)) {
      const counted = {
        hour: this.counted(`h:${hourBucket(this.now)}`),
        day: this.counted(`d:${dayBucket(this.now)}`),
      };
      const reason = decisionLimitReached(autonomy, counted);
      if (reason) return { ...item, outcome: "needs_approval", stage: "autonomy", reason };
    }
    this.items.set(event.id, item);
    const decision = this.flow.admit({ dispatchId: event.id, eventId: event.id, event, now: this.now });
    for (const moved of decision.others) this.apply(moved.dispatch_id, moved.outcome);
    this.apply(event.id, decision);
    return item;
  }

  /** Fires flow timers and lease releases due up to `to`, earliest first. */
  runUntil(to: number): void {
    for (;;) {
      let timer: [string, number] | null = null;
      for (const entry of this.timers) if (entry[1] <= to && (!timer || entry[1] < timer[1])) timer = entry;
      const release = this.releases[0];
      if (release && release[0] <= to && (!timer || release[0] <= timer[1])) {
        this.releases.shift();
        this.now = Math.max(this.now, release[0]);
        for (const moved of this.flow.release(release[1], this.now).others)
          this.apply(moved.dispatch_id, moved.outcome);
        continue;
      }
      if (!timer) return;
      const [id, due] = timer;
      this.timers.delete(id);
      this.now = Math.max(this.now, due);
      const decision = this.flow.onTimer(id, this.now);
      for (const moved of decision.others) this.apply(moved.dispatch_id, moved.outcome);
      this.apply(id, decision);
    }
  }

  /** The item's final word once the range is over. */
  settle(item: PreviewItem): void {
    const heldAt = this.held.get(item.event_id);
    if (item.outcome === "dispatch" && heldAt)
      Object.assign(item, { outcome: "waits", stage: "flow_control", reason: heldAt });
    const leader = this.leaders.get(item.event_id);
    if (item.outcome === "merged" && leader) item.group = leader;
  }

  private apply(id: string, outcome: FlowOutcome): void {
    const item = this.items.get(id);
    if (!item) return;
    switch (outcome.kind) {
      case "admit": {
        this.timers.delete(id);
        Object.assign(item, { outcome: "dispatch" });
        delete item.stage;
        delete item.reason;
        for (const member of outcome.batch?.members.slice(1) ?? []) this.leaders.set(member.event_id, item.event_id);
        this.count(this.now);
        if (outcome.leases.length > 0) this.releases.push([this.now + this.duration, id]);
        return;
      }
      case "skip":
        this.timers.delete(id);
        if (outcome.reason === "batch_merged") {
          Object.assign(item, { outcome: "merged", stage: "flow_control", reason: outcome.reason });
        } else {
          Object.assign(item, { outcome: "skipped", stage: "flow_control", reason: outcome.reason });
          if (outcome.limit_index !== undefined) item.limit_index = outcome.limit_index;
        }
        return;
      case "wait":
        if (outcome.until === null) this.timers.delete(id);
        else this.timers.set(id, outcome.until);
        if (HOLDING.has(outcome.primitive)) this.held.set(id, outcome.primitive);
        Object.assign(item, { outcome: "waits", stage: "flow_control", reason: outcome.primitive });
        return;
      case "none":
        return;
    }
  }

  private counted(bucket: string): number {
    return this.decisions.get(bucket) ?? 0;
  }

  /** An admitted dispatch is one autonomous decision of its hour and day (SPEC 8). */
  private count(at: number): void {
    for (const bucket of [`h:${hourBucket(at)}`, `d:${dayBucket(at)}`])
      this.decisions.set(bucket, this.counted(bucket) + 1);
  }
}
