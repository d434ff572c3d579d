/**
 * Flow control (SPEC 9): the pure decision core. It owns no I/O and never awaits: state goes through
 * an injected synchronous `FlowStore` (DO SQLite in BindingGate, memory in tests), time through the
 * `now` argument of every call. Construct one `FlowControl` per BindingGate (the spec of a binding_key
 * never changes; CEL keys compile once) and call it between storage writes.
 *
 * Order: batch → debounce → rate_limit → throttle → ordering → singleton → concurrency(+priority). The first
 * primitive that skips ends flow control; capacity consumed by an earlier primitive stays consumed
 * (rate_limit admits and logs, then singleton skips → the log entry remains).
 *
 * Layout: this class is the chain and the public API; each primitive is a module under `primitives/`
 * working on one `FlowRun` (the call's time, store, collected moves and audit); keys and gate names
 * are `flow-keys.ts`, answer shapes `flow-types.ts`, the `/v1/stats` view `flow-snapshot.ts`.
 *
 * ## How BindingGate uses it
 *
 * Every call returns the outcome for the dispatch it was called for (except `release`/`cancelWait`/
 * `sweep`) plus effects: `others` — transitions of OTHER dispatches this call moved (never the caller)
 * — and `audit`. Apply them all in the same synchronous section as the call: `others` in order, then
 * the caller's own outcome; append `audit` in order (it is already causal).
 *
 *   apply(dispatchId, outcome):
 *     admit → clear its flow timer; continue the stages (circuit, attempt 1). `leases` are informational
 *             (the store holds them). With `batch`, this dispatch is a batch leader: its event gets
 *             `batch` = the events of `batch.members` in order (leader first; event ids are given).
 *     skip  → clear its flow timer; end it `skipped`, result `{skipped:true, flow_control: reason}`,
 *             outbox dispatch_skipped `{skip_stage:"flow_control", detail: reason}` (+ `error` for
 *             `key_error`). It holds nothing, but calling `release` afterwards is harmless.
 *     wait  → keep it non-terminal (e.g. `held` with `{held:true, flow_control: primitive, until: eta}`);
 *             `until` != null → set (replace) its flow timer at `until`; `until` == null → delete its flow
 *             timer: another call will move it on (concurrency wake, batch flush, throttle head change).
 *     none  → (onTimer/resume only) nothing waits here for it: delete the flow timer, change nothing.
 *   audit entries → append to `records` (topic as given; prefix `tenant.<id>.` for tenants; the
 *             entry's `dispatch_id` gives the event id).
 *
 *   - `admit(input)`: once per dispatch at SPEC 6 step 5 (also when an approval resumes a dispatch
 *     "from flow control onward"). `event` is the event JSON (keys see it as `event`). Calling it again
 *     for a dispatch that waits or holds leases returns its current state and changes nothing.
 *   - `onTimer(dispatchId, now)`: when its flow timer fires (debounce period, batch deadline, throttle
 *     slot). May admit, skip or wait again (a timer that fires early just re-waits).
 *   - `resume(dispatchId, from, now)`: re-tries the primitive a dispatch waits at and continues from
 *     there (never from the start). `onTimer` is `resume` at whatever it waits on; concurrency and
 *     throttle waiters are otherwise resumed by the engine itself and come back in `others`.
 *   - `release(dispatchId, now)`: on EVERY terminal status (succeeded, failed, dlq, skipped, cancelled)
 *     and when a dispatch becomes `waiting`. Frees singleton/concurrency leases and any wait; freed
 *     concurrency slots go to the head waiter(s), returned as `others` admits. Do NOT call it between
 *     attempts: leases are held across retry waits. Idempotent.
 *   - `cancelWait(dispatchId, now)`: drops only a wait (batch membership, debounce latest, throttle or
 *     concurrency place); `release` already does this, so cancellation can simply call `release`.
 *   - `sweep(now, isLive?)`: from the gate's retention timer: drops sliding-log entries older than their
 *     period for every gate (a gate in use also prunes itself once 16 expired entries pile up), and,
 *     given `isLive`, releases leases/waits of dispatches the gate no longer considers live (their
 *     `released` transitions need nothing applied; the `woken` ones do). Returns `next_sweep_at`, the
 *     time the oldest remaining entry expires; running it at max(next_sweep_at, now + 10 min) is plenty.
 *   - `snapshot(now)`: per-gate state for `/v1/stats`.
 *
 * Timers: one flow timer per dispatch (e.g. timers row kind "flow", attempt 0) is enough — a dispatch
 * waits at one primitive at a time. Cost on SqlFlowStore: an admit through rate_limit + singleton +
 * concurrency is 5 statements, a release 2–3 (more only when it wakes waiters).
 *
 * ## Decisions not fixed by the SPEC
 *
 * - Keys are CEL evaluated with `event`; a key that is absent means `_global`. Gate = `<binding_key>:<key>`,
 *   with keys over 200 characters shortened to 160 characters + `~` + a 64-bit FNV-1a hash of the whole key.
 * - All keys are evaluated on arrival, before any state is touched. A key that fails (compile or runtime
 *   error, e.g. a missing field) skips the dispatch with reason `key_error` (and `error` text), consuming
 *   nothing — like a failing predicate (SPEC 7). Falling back to `_global` would silently break the
 *   per-key guarantees of singleton/concurrency. Write `event.?payload.?customer.orValue("none")` for
 *   optional fields. A failing priority key only affects order: it ranks last (`len(order)`), noted in
 *   the audit payload.
 * - Throttle is strict FIFO: a new arrival never overtakes waiters, even when a slot is free. Only the
 *   head holds a timer (`until` = when the window frees for it); the others report an `eta`.
 * - Concurrency: waiters ordered by (rank, arrival at the gate); only the head may take a free slot.
 * - Batch: an arrival after an open group's deadline (alarm late) flushes that group first and opens a
 *   new one. If the leader is cancelled, the next member leads with the same deadline. size 1 flushes at once.
 * - Debounce: the winner leaves the debounce gate when its timer fires; a later arrival starts a new round.
 */
import type { FlowControlSpec } from "../contracts/binding-spec";
import { FlowKeys } from "./flow-keys";
import { FlowRun, leasesFor, type Walker, waitOutcome } from "./flow-run";
import { flowSnapshot } from "./flow-snapshot";
import type { FlowStore, WaitPrimitive } from "./flow-store";
import {
  FLOW_PRIMITIVES,
  type FlowAdmitInput,
  type FlowControlOptions,
  type FlowDecision,
  type FlowEffects,
  type FlowOutcome,
  type FlowSnapshot,
} from "./flow-types";
import { batchArrive, batchTimer, promoteBatchLeader } from "./primitives/batch";
import { concurrencyArrive, concurrencyResume, drainConcurrency } from "./primitives/concurrency";
import { debounceArrive, debounceTimer } from "./primitives/debounce";
import {
  drainOrdering,
  orderingArrive,
  orderingFinished,
  orderingResume,
  orderingUnblock,
} from "./primitives/ordering";
import { rateLimit } from "./primitives/rate-limit";
import { singleton } from "./primitives/singleton";
import { drainThrottle, throttleArrive, throttleResume } from "./primitives/throttle";
import { longestPeriod } from "./primitives/windows";

/** A terminal status that is not a failure. */
const FINAL_OK = { final: true, failed: false };

export class FlowControl {
  private readonly bindingKey: string;
  private readonly flow: FlowControlSpec;
  private readonly store: FlowStore;
  private readonly keys: FlowKeys;
  private readonly routedThrough: () => number | null;
  private readonly watermarkPollMs: number | null;

  constructor(options: FlowControlOptions) {
    this.routedThrough = options.routedThrough ?? (() => null);
    this.watermarkPollMs = options.watermarkPollMs ?? null;
    this.bindingKey = options.bindingKey;
    this.flow = options.flow ?? {};
    this.store = options.store;
    this.keys = new FlowKeys(this.bindingKey, this.flow);
  }

  /** True when the binding configures any primitive. */
  get enabled(): boolean {
    return FLOW_PRIMITIVES.some((p) => this.flow[p] !== undefined);
  }

  // ---- public API -------------------------------------------------------------------------

  /** Runs a new dispatch through flow control (SPEC 6 step 5). */
  admit(input: FlowAdmitInput): FlowDecision {
    const run = this.run(input.now);
    if (!this.enabled) return run.decision({ kind: "admit", leases: [], batch: null });
    const id = input.dispatchId;
    if (this.store.tracks(id)) {
      // Already through (holds leases) or waiting: report where it stands, change nothing.
      const existing = this.store.waitGet(id);
      if (existing) return run.decision(waitOutcome(existing));
      return run.decision({ kind: "admit", leases: this.store.leasesOf(id), batch: null });
    }
    const planned = this.keys.plan(input.event);
    if (!planned.ok) {
      run.emit(planned.primitive, this.bindingKey, "key_error", id, { error: planned.error });
      return run.decision({
        kind: "skip",
        reason: "key_error",
        primitive: planned.primitive,
        gate: null,
        error: planned.error,
      });
    }
    if (input.replay) delete planned.plan.gates.ordering;
    const walker: Walker = { id, eventId: input.eventId, plan: planned.plan, rankError: planned.rankError };
    return run.decision(run.advance(walker, 0));
  }

  /** The flow timer of `dispatchId` fired. */
  onTimer(dispatchId: string, now: number): FlowDecision {
    return this.resume(dispatchId, null, now);
  }

  /**
   * Re-tries the primitive `dispatchId` waits at (optionally only if it is `from`) and continues the
   * chain from there. Unknown dispatch → `none`; already admitted → `admit` with its leases.
   */
  resume(dispatchId: string, from: WaitPrimitive | null, now: number): FlowDecision {
    const run = this.run(now);
    const wait = this.store.waitGet(dispatchId);
    if (!wait) {
      const held = this.store.leasesOf(dispatchId);
      return run.decision(held.length > 0 ? { kind: "admit", leases: held, batch: null } : { kind: "none" });
    }
    if (from !== null && wait.primitive !== from) return run.decision(waitOutcome(wait));
    switch (wait.primitive) {
      case "batch":
        return run.decision(batchTimer(run, wait));
      case "debounce":
        return run.decision(debounceTimer(run, wait));
      case "throttle":
        return run.decision(throttleResume(run, wait));
      case "ordering":
        return run.decision(orderingResume(run, wait));
      case "concurrency":
        return run.decision(concurrencyResume(run, wait));
    }
  }

  /**
   * Frees what `dispatchId` holds or waits for; hands freed concurrency slots to the head waiters.
   * `final` (default) on a terminal status: its ordering line moves on too, unless `failed` (it ended
   * `dlq` or `failed`) blocks the line under `on_failure: "block"`. Not final (it became `waiting`):
   * it keeps its place in its ordering line.
   */
  release(dispatchId: string, now: number, ending: { final: boolean; failed: boolean } = FINAL_OK): FlowEffects {
    const run = this.run(now);
    this.releaseInto(run, dispatchId, ending);
    return run.effects();
  }

  /** A failure blocking an ordering line was resolved or replayed successfully: the line goes on. */
  unblock(dispatchId: string, now: number): FlowEffects {
    const run = this.run(now);
    orderingUnblock(run, dispatchId);
    return run.effects();
  }

  /** The routing watermark moved: ordering heads that may start now do. */
  wake(now: number): FlowEffects {
    const run = this.run(now);
    if (this.flow.ordering) for (const gate of this.store.waitGates("ordering")) drainOrdering(run, gate, null);
    return run.effects();
  }

  /** Drops `dispatchId`'s wait (if any) without touching its leases. */
  cancelWait(dispatchId: string, now: number): FlowEffects {
    const run = this.run(now);
    this.cancelWaitInto(run, dispatchId);
    return run.effects();
  }

  /**
   * Retention: drops sliding-log entries older than their period, and releases dispatches for which
   * `isLive` answers false. `next_sweep_at` is when the oldest remaining log entry expires (null: none).
   */
  sweep(now: number, isLive?: (dispatchId: string) => boolean): FlowEffects & { next_sweep_at: number | null } {
    const run = this.run(now);
    let next: number | null = null;
    for (const p of ["rate_limit", "throttle"] as const) {
      const period = longestPeriod(this.flow, p);
      this.store.logRetain(p, period === undefined ? now : now - period);
      const oldest = this.store.logOldest(p);
      if (oldest !== null && period !== undefined) next = Math.min(next ?? Infinity, oldest + period);
    }
    if (isLive) {
      for (const id of this.store.dispatchIds()) {
        if (!isLive(id)) {
          run.moved({ dispatch_id: id, cause: "released", outcome: { kind: "none" } });
          this.releaseInto(run, id);
        }
      }
    }
    return { ...run.effects(), next_sweep_at: next };
  }

  /** Events that waiting dispatches will deliver besides their own (retention keeps them, SPEC 1.1). */
  carriedEventIds(): string[] {
    const ids = new Set<string>();
    for (const carry of this.store.carries()) {
      for (const m of carry.burst?.members ?? []) ids.add(m.event_id);
      for (const m of carry.batch?.members ?? []) ids.add(m.event_id);
    }
    return [...ids];
  }

  /** Per-gate state for `/v1/stats`, busiest gates first, at most `limit` of them. */
  snapshot(now: number, limit = 100): FlowSnapshot {
    return flowSnapshot(this.flow, this.store, now, limit);
  }

  // ---- the chain ----------------------------------------------------------------------------

  private run(now: number): FlowRun {
    return new FlowRun(
      this.flow,
      this.store,
      now,
      (run, w, from) => this.advance(run, w, from),
      this.routedThrough,
      this.watermarkPollMs,
    );
  }

  /**
   * Runs `w` through the primitives from `FLOW_PRIMITIVES[from]` on. Returns its outcome; moves of other
   * dispatches go to `run.others`.
   */
  private advance(run: FlowRun, w: Walker, from: number): FlowOutcome {
    for (let i = from; i < FLOW_PRIMITIVES.length; i++) {
      const primitive = FLOW_PRIMITIVES[i];
      const gate = primitive === undefined ? undefined : w.plan.gates[primitive];
      if (gate === undefined) continue;
      let stop: FlowOutcome | null = null;
      switch (primitive) {
        case "batch":
          return batchArrive(run, w, gate);
        case "debounce":
          return debounceArrive(run, w, gate);
        case "rate_limit":
          stop = rateLimit(run, w, gate);
          break;
        case "throttle":
          stop = throttleArrive(run, w, gate);
          break;
        case "ordering":
          stop = orderingArrive(run, w, gate);
          break;
        case "singleton":
          stop = singleton(run, w, gate);
          break;
        case "concurrency":
          stop = concurrencyArrive(run, w, gate);
          break;
      }
      if (stop) return stop;
    }
    return {
      kind: "admit",
      leases: leasesFor(w.plan),
      batch: w.batch ?? null,
      ...(w.ordering ? { ordering: w.ordering } : {}),
    };
  }

  // ---- release and cancellation -------------------------------------------------------------

  private releaseInto(run: FlowRun, dispatchId: string, ending = FINAL_OK): void {
    this.cancelWaitInto(run, dispatchId);
    const leases = ending.final
      ? this.store.leaseReleaseAll(dispatchId)
      : this.store.leasesOf(dispatchId).filter((lease) => lease.primitive !== "ordering");
    if (!ending.final) for (const lease of leases) this.store.leaseRemove(lease.primitive, lease.gate, dispatchId);
    for (const lease of leases) {
      run.emit(lease.primitive, lease.gate, `${lease.primitive}_released`, dispatchId, {});
      if (lease.primitive === "concurrency" && this.flow.concurrency) drainConcurrency(run, lease.gate, null);
      if (lease.primitive === "ordering") orderingFinished(run, lease.gate, dispatchId, ending.failed);
    }
  }

  private cancelWaitInto(run: FlowRun, dispatchId: string): void {
    const wait = this.store.waitGet(dispatchId);
    if (!wait) return;
    const gate = wait.gate;
    const wasHead = this.store.waitAt(wait.primitive, gate, 0)?.dispatch_id === dispatchId;
    this.store.waitRemove(dispatchId);
    const payload: Record<string, unknown> = { was_head: wasHead };
    if (wait.primitive === "batch" && wasHead) promoteBatchLeader(run, wait, payload);
    run.emit(wait.primitive, gate, `${wait.primitive}_cancelled`, dispatchId, payload);
    if (wait.primitive === "throttle" && this.flow.throttle) drainThrottle(run, gate, null);
    if (wait.primitive === "concurrency" && this.flow.concurrency) drainConcurrency(run, gate, null);
    if (wait.primitive === "ordering" && this.flow.ordering) drainOrdering(run, gate, null);
  }
}
