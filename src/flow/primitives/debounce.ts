/**
 * Debounce (SPEC 9.2): the latest arrival for a gate waits `period`; an earlier one it replaces ends
 * `debounced` at once. When its timer fires, the winner leaves the gate and continues the chain; a
 * later arrival starts a new burst. A burst is bounded: `max_events` (default 100) or `max_wait`
 * (default 10 × period) since its first event ends it at once, as if its period had passed. With
 * `deliver: "all"` the winner carries every event of the burst, in arrival order, as its batch.
 */
import {
  DEBOUNCE_MAX_EVENTS_DEFAULT,
  DEBOUNCE_MAX_WAIT_PERIODS,
  type FlowControlSpec,
} from "../../contracts/binding-spec";
import { type FlowRun, type Walker, waitOutcome, walkerOf } from "../flow-run";
import type { FlowBatch, FlowWait, WaitCarry } from "../flow-store";
import type { FlowOutcome } from "../flow-types";

type Burst = NonNullable<WaitCarry["burst"]>;

const settings = (run: FlowRun) => {
  const cfg = run.flow.debounce as NonNullable<FlowControlSpec["debounce"]>;
  return {
    period: cfg.period,
    all: cfg.deliver === "all",
    maxEvents: cfg.max_events ?? DEBOUNCE_MAX_EVENTS_DEFAULT,
    maxWait: cfg.max_wait ?? DEBOUNCE_MAX_WAIT_PERIODS * cfg.period,
  };
};

/** The burst `w` joins: the one its predecessor carried (a row from before bursts counts as one event). */
function joinBurst(previous: FlowWait | null, w: Walker, now: number, all: boolean): Burst {
  const before: Burst | null = previous
    ? (previous.carry?.burst ?? {
        first_at: previous.arrived_at,
        count: 1,
        members: [{ dispatch_id: previous.dispatch_id, event_id: previous.event_id }],
      })
    : null;
  const burst: Burst = { first_at: before?.first_at ?? now, count: (before?.count ?? 0) + 1 };
  if (all) burst.members = [...(before?.members ?? []), { dispatch_id: w.id, event_id: w.eventId }];
  return burst;
}

/** What the winner carries on: the burst's events with `deliver: "all"`, nothing otherwise. */
function delivered(gate: string, burst: Burst | undefined, all: boolean): FlowBatch | null {
  return all && burst?.members ? { gate, members: burst.members } : null;
}

export function debounceArrive(run: FlowRun, w: Walker, gate: string): FlowOutcome {
  const { period, all, maxEvents, maxWait } = settings(run);
  const previous = run.store.waitAt("debounce", gate, 0);
  if (previous) {
    run.store.waitRemove(previous.dispatch_id);
    run.emit("debounce", gate, "debounce_superseded", previous.dispatch_id, { by: w.id });
    run.moved({
      dispatch_id: previous.dispatch_id,
      cause: "superseded",
      outcome: { kind: "skip", reason: "debounced", primitive: "debounce", gate, error: null },
    });
  }
  const burst = joinBurst(previous, w, run.now, all);
  const ends = run.now + period;
  const bound = burst.first_at + maxWait;
  if (burst.count >= maxEvents || run.now >= bound) {
    const reason = burst.count >= maxEvents ? "max_events" : "max_wait";
    run.emit("debounce", gate, "debounce_selected", w.id, { reason, events: burst.count });
    return run.continueAfter(w, "debounce", delivered(gate, burst, all));
  }
  const until = Math.min(ends, bound);
  run.addWait(w, "debounce", gate, until, until, { burst });
  run.emit("debounce", gate, "debounce_seen", w.id, { until, period_ms: period, events: burst.count });
  return { kind: "wait", primitive: "debounce", gate, until, eta: until };
}

export function debounceTimer(run: FlowRun, wait: FlowWait): FlowOutcome {
  if (wait.due !== null && run.now < wait.due) return waitOutcome(wait);
  run.store.waitRemove(wait.dispatch_id);
  const burst = wait.carry?.burst;
  run.emit("debounce", wait.gate, "debounce_selected", wait.dispatch_id, { events: burst?.count ?? 1 });
  return run.continueAfter(walkerOf(wait), "debounce", delivered(wait.gate, burst, settings(run).all));
}
