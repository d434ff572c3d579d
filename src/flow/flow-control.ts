/**
 * Flow control (SPEC 9): the pure decision core. It owns no I/O and never awaits: state goes through
 * an injected synchronous `FlowStore` (DO SQLite in BindingGate, memory in tests), time through the
 * `now` argument of every call. Construct one `FlowControl` per BindingGate (the spec of a binding_key
 * never changes; CEL keys compile once) and call it between storage writes.
 *
 * Order: batch → debounce → rate_limit → throttle → singleton → concurrency(+priority). The first
 * primitive that skips ends flow control; capacity consumed by an earlier primitive stays consumed
 * (rate_limit admits and logs, then singleton skips → the log entry remains).
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
import { type CelCompileResult, compileCel, evaluateCel, keyString } from "../lib/cel";
import type {
  FlowLease,
  FlowPlan,
  FlowPrimitive,
  FlowStore,
  FlowWait,
  LeasePrimitive,
  LogPrimitive,
  WaitPrimitive,
} from "./flow-store";

export type { FlowLease, FlowPlan, FlowPrimitive, FlowStore, FlowWait, LeasePrimitive, LogPrimitive, WaitPrimitive };

export const FLOW_PRIMITIVES: readonly FlowPrimitive[] = [
  "batch",
  "debounce",
  "rate_limit",
  "throttle",
  "singleton",
  "concurrency",
];

export type FlowSkipReason = "batch_merged" | "debounced" | "rate_limited" | "singleton_active" | "key_error";

/** A flushed batch as seen by its leader: members in order, leader first. */
export interface FlowBatch {
  gate: string;
  members: Array<{ dispatch_id: string; event_id: string }>;
}

export type FlowOutcome =
  | { kind: "admit"; leases: FlowLease[]; batch: FlowBatch | null }
  | { kind: "skip"; reason: FlowSkipReason; primitive: FlowPrimitive; gate: string | null; error: string | null }
  | { kind: "wait"; primitive: WaitPrimitive; gate: string; until: number | null; eta: number | null }
  | { kind: "none" };

export type FlowTransitionCause =
  | "superseded" // debounce: a later arrival replaced it → skip debounced
  | "batch_flushed" // batch: its group flushed → leader admit, followers skip batch_merged
  | "leader_promoted" // batch: the leader left, this member now leads → wait until the deadline
  | "woken" // throttle slot / concurrency slot taken → continues (admit, or skip/wait further on)
  | "head_changed" // throttle: it became the head → wait until its slot
  | "released"; // sweep: its dispatch was no longer live → nothing to apply

export interface FlowTransition {
  dispatch_id: string;
  cause: FlowTransitionCause;
  outcome: FlowOutcome;
}

export interface FlowAudit {
  /** `trigger.<primitive>.<gate with [^A-Za-z0-9._-] → _>` */
  topic: string;
  kind: string;
  dispatch_id: string;
  payload: Record<string, unknown>;
}

export interface FlowEffects {
  others: FlowTransition[];
  audit: FlowAudit[];
}

export type FlowDecision = FlowOutcome & FlowEffects;

export interface FlowAdmitInput {
  dispatchId: string;
  eventId: string;
  /** The event JSON; CEL keys see it as `event`. */
  event: unknown;
  now: number;
}

export interface FlowGateSnapshot {
  primitive: FlowPrimitive;
  gate: string;
  /** max (rate_limit, throttle, concurrency), size (batch), 1 (singleton), null (debounce). */
  limit: number | null;
  /** Admissions inside the current window (rate_limit, throttle). */
  window: number | null;
  /** Leases held (singleton, concurrency). */
  active: number | null;
  holders: string[];
  /** Dispatches waiting (throttle/concurrency queue, batch members, debounce latest). */
  waiting: number;
  /** Head waiter (batch leader, debounce latest). */
  head: string | null;
  /** Head's timer (batch deadline, debounce until, throttle slot). */
  due: number | null;
}

export interface FlowSnapshot {
  gates: FlowGateSnapshot[];
  total: number;
  truncated: boolean;
}

export interface FlowControlOptions {
  bindingKey: string;
  flow: FlowControlSpec | null | undefined;
  store: FlowStore;
}

interface Ctx {
  now: number;
  others: FlowTransition[];
  audit: FlowAudit[];
}

/** Keys longer than this are shortened to KEY_KEEP_CHARS + "~" + hash in gate names. */
const KEY_MAX_CHARS = 200;
const KEY_KEEP_CHARS = 160;
/** A gate's expired log entries are deleted once this many have accumulated (amortised pruning). */
const PRUNE_SLACK = 16;
const SNAPSHOT_HOLDERS = 20;

const index = (p: FlowPrimitive) => FLOW_PRIMITIVES.indexOf(p);

/** `[^A-Za-z0-9._-]` → `_`, per code point (the reference's sanitize_topic_component). */
export function sanitizeTopicPart(value: string): string {
  return value.replace(/[^A-Za-z0-9._-]/gu, "_");
}

export function flowTopic(primitive: FlowPrimitive, gate: string): string {
  return `trigger.${primitive}.${sanitizeTopicPart(gate)}`;
}

/** 64-bit FNV-1a over UTF-16 code units, as 16 hex digits. */
function fnv1a64(text: string): string {
  let hash = 0xcbf29ce484222325n;
  for (let i = 0; i < text.length; i++) {
    hash ^= BigInt(text.charCodeAt(i));
    hash = (hash * 0x100000001b3n) & 0xffffffffffffffffn;
  }
  return hash.toString(16).padStart(16, "0");
}

/** The key part of a gate name: the stringified key, shortened when very long. */
export function gateKeyPart(key: string): string {
  if (key.length <= KEY_MAX_CHARS) return key;
  return `${key.slice(0, KEY_KEEP_CHARS)}~${fnv1a64(key)}`;
}

type Plan =
  | { ok: true; plan: FlowPlan; rankError: string | null }
  | { ok: false; primitive: FlowPrimitive; error: string };

export class FlowControl {
  private readonly bindingKey: string;
  private readonly flow: FlowControlSpec;
  private readonly store: FlowStore;
  private readonly keys = new Map<FlowPrimitive | "priority", CelCompileResult>();

  constructor(options: FlowControlOptions) {
    this.bindingKey = options.bindingKey;
    this.flow = options.flow ?? {};
    this.store = options.store;
    for (const p of [...FLOW_PRIMITIVES, "priority"] as const) {
      const cfg = this.flow[p] as { key?: string } | undefined;
      if (cfg?.key !== undefined) this.keys.set(p, compileCel(cfg.key));
    }
  }

  /** True when the binding configures any primitive. */
  get enabled(): boolean {
    return FLOW_PRIMITIVES.some((p) => this.flow[p] !== undefined);
  }

  // ---- public API -------------------------------------------------------------------------

  /** Runs a new dispatch through flow control (SPEC 6 step 5). */
  admit(input: FlowAdmitInput): FlowDecision {
    const ctx = this.ctx(input.now);
    if (!this.enabled) return this.done({ kind: "admit", leases: [], batch: null }, ctx);
    const id = input.dispatchId;
    if (this.store.tracks(id)) {
      // Already through (holds leases) or waiting: report where it stands, change nothing.
      const existing = this.store.waitGet(id);
      if (existing) return this.done(waitOutcome(existing), ctx);
      return this.done({ kind: "admit", leases: this.store.leasesOf(id), batch: null }, ctx);
    }

    const planned = this.plan(input.event);
    if (!planned.ok) {
      this.emit(ctx, planned.primitive, this.bindingKey, "key_error", id, { error: planned.error });
      return this.done(
        { kind: "skip", reason: "key_error", primitive: planned.primitive, gate: null, error: planned.error },
        ctx,
      );
    }
    const wait = { id, eventId: input.eventId, plan: planned.plan, rankError: planned.rankError };
    return this.done(this.advance(wait, 0, null, ctx), ctx);
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
    const ctx = this.ctx(now);
    const wait = this.store.waitGet(dispatchId);
    if (!wait) {
      const held = this.store.leasesOf(dispatchId);
      return this.done(held.length > 0 ? { kind: "admit", leases: held, batch: null } : { kind: "none" }, ctx);
    }
    if (from !== null && wait.primitive !== from) return this.done(waitOutcome(wait), ctx);
    let outcome: FlowOutcome;
    switch (wait.primitive) {
      case "batch":
        outcome = this.batchTimer(wait, ctx);
        break;
      case "debounce":
        outcome = this.debounceTimer(wait, ctx);
        break;
      case "throttle":
        outcome = this.throttleResume(wait, ctx);
        break;
      case "concurrency":
        outcome = this.concurrencyResume(wait, ctx);
        break;
    }
    return this.done(outcome, ctx);
  }

  /** Frees everything `dispatchId` holds or waits for; hands freed concurrency slots to the head waiters. */
  release(dispatchId: string, now: number): FlowEffects {
    const ctx = this.ctx(now);
    this.releaseInto(dispatchId, ctx);
    return { others: ctx.others, audit: ctx.audit };
  }

  /** Drops `dispatchId`'s wait (if any) without touching its leases. */
  cancelWait(dispatchId: string, now: number): FlowEffects {
    const ctx = this.ctx(now);
    this.cancelWaitInto(dispatchId, ctx);
    return { others: ctx.others, audit: ctx.audit };
  }

  /**
   * Retention: drops sliding-log entries older than their period, and releases dispatches for which
   * `isLive` answers false. `next_sweep_at` is when the oldest remaining log entry expires (null: none).
   */
  sweep(now: number, isLive?: (dispatchId: string) => boolean): FlowEffects & { next_sweep_at: number | null } {
    const ctx = this.ctx(now);
    let next: number | null = null;
    for (const p of ["rate_limit", "throttle"] as const) {
      const period = this.flow[p]?.period;
      this.store.logRetain(p, period === undefined ? now : now - period);
      const oldest = this.store.logOldest(p);
      if (oldest !== null && period !== undefined) next = Math.min(next ?? Infinity, oldest + period);
    }
    if (isLive) {
      for (const id of this.store.dispatchIds()) {
        if (!isLive(id)) {
          ctx.others.push({ dispatch_id: id, cause: "released", outcome: { kind: "none" } });
          this.releaseInto(id, ctx);
        }
      }
    }
    return { others: ctx.others, audit: ctx.audit, next_sweep_at: next };
  }

  /** Per-gate state for `/v1/stats`, busiest gates first, at most `limit` of them. */
  snapshot(now: number, limit = 100): FlowSnapshot {
    const since = (p: LogPrimitive) => now - (this.flow[p]?.period ?? 0);
    const summary = this.store.summary(
      { rate_limit: since("rate_limit"), throttle: since("throttle") },
      SNAPSHOT_HOLDERS,
    );
    const gates = new Map<string, FlowGateSnapshot>();
    const entry = (primitive: FlowPrimitive, gate: string): FlowGateSnapshot => {
      const key = `${primitive}\u0000${gate}`;
      let row = gates.get(key);
      if (!row) {
        row = {
          primitive,
          gate,
          limit: this.limitOf(primitive),
          window: primitive === "rate_limit" || primitive === "throttle" ? 0 : null,
          active: primitive === "singleton" || primitive === "concurrency" ? 0 : null,
          holders: [],
          waiting: 0,
          head: null,
          due: null,
        };
        gates.set(key, row);
      }
      return row;
    };
    for (const log of summary.logs) entry(log.primitive, log.gate).window = log.count;
    for (const lease of summary.leases) {
      const row = entry(lease.primitive, lease.gate);
      row.active = lease.count;
      row.holders = lease.holders;
    }
    for (const wait of summary.waits) {
      const row = entry(wait.primitive, wait.gate);
      row.waiting = wait.count;
      row.head = wait.head.dispatch_id;
      row.due = wait.head.due;
    }
    const all = [...gates.values()].sort(
      (a, b) =>
        b.waiting + (b.active ?? 0) + (b.window ?? 0) - (a.waiting + (a.active ?? 0) + (a.window ?? 0)) ||
        index(a.primitive) - index(b.primitive) ||
        (a.gate < b.gate ? -1 : a.gate > b.gate ? 1 : 0),
    );
    return { gates: all.slice(0, limit), total: all.length, truncated: all.length > limit };
  }

  // ---- the chain ----------------------------------------------------------------------------

  /**
   * Runs `w` through the primitives from `FLOW_PRIMITIVES[from]` on. Returns its outcome; moves of other
   * dispatches go to `ctx.others`.
   */
  private advance(w: Walker, from: number, batch: FlowBatch | null, ctx: Ctx): FlowOutcome {
    for (let i = from; i < FLOW_PRIMITIVES.length; i++) {
      const primitive = FLOW_PRIMITIVES[i] as FlowPrimitive;
      const gate = w.plan.gates[primitive];
      if (gate === undefined) continue;
      switch (primitive) {
        case "batch":
          return this.batchArrive(w, gate, ctx);
        case "debounce":
          return this.debounceArrive(w, gate, ctx);
        case "rate_limit": {
          const skip = this.rateLimit(w, gate, ctx);
          if (skip) return skip;
          break;
        }
        case "throttle": {
          const wait = this.throttleArrive(w, gate, ctx);
          if (wait) return wait;
          break;
        }
        case "singleton": {
          const skip = this.singleton(w, gate, ctx);
          if (skip) return skip;
          break;
        }
        case "concurrency": {
          const wait = this.concurrencyArrive(w, gate, ctx);
          if (wait) return wait;
          break;
        }
      }
    }
    return { kind: "admit", leases: leasesFor(w.plan), batch };
  }

  // ---- batch ----

  private batchArrive(w: Walker, gate: string, ctx: Ctx): FlowOutcome {
    const cfg = this.flow.batch as NonNullable<FlowControlSpec["batch"]>;
    let leader = this.store.waitAt("batch", gate, 0);
    if (leader && leader.due !== null && ctx.now >= leader.due) {
      // The deadline passed before this arrival (late alarm): that group is complete without it.
      this.flushBatch(gate, "deadline", null, ctx);
      leader = null;
    }
    if (!leader) {
      const deadline = ctx.now + cfg.timeout;
      this.addWait(w, "batch", gate, deadline, deadline, ctx.now);
      this.emit(ctx, "batch", gate, "batch_enqueued", w.id, {
        leader: w.id,
        members: 1,
        size: cfg.size,
        deadline,
      });
      if (cfg.size <= 1) return this.flushBatch(gate, "size", w.id, ctx) ?? { kind: "none" };
      return { kind: "wait", primitive: "batch", gate, until: deadline, eta: deadline };
    }
    this.addWait(w, "batch", gate, null, leader.due, ctx.now);
    const members = this.store.waitCount("batch", gate);
    this.emit(ctx, "batch", gate, "batch_enqueued", w.id, {
      leader: leader.dispatch_id,
      members,
      size: cfg.size,
      deadline: leader.due,
    });
    if (members >= cfg.size) return this.flushBatch(gate, "size", w.id, ctx) ?? { kind: "none" };
    return { kind: "wait", primitive: "batch", gate, until: null, eta: leader.due };
  }

  private batchTimer(wait: FlowWait, ctx: Ctx): FlowOutcome {
    const leader = this.store.waitAt("batch", wait.gate, 0);
    if (!leader || leader.dispatch_id !== wait.dispatch_id) {
      return { kind: "wait", primitive: "batch", gate: wait.gate, until: null, eta: leader?.due ?? null };
    }
    if (wait.due !== null && ctx.now < wait.due) return waitOutcome(wait);
    return this.flushBatch(wait.gate, "deadline", wait.dispatch_id, ctx) ?? { kind: "none" };
  }

  /** Closes the group: the leader continues with the batch, followers end `batch_merged`. */
  private flushBatch(gate: string, reason: "size" | "deadline", self: string | null, ctx: Ctx): FlowOutcome | null {
    const members = this.store.waitList("batch", gate);
    const leader = members[0];
    if (!leader) return null;
    for (const m of members) this.store.waitRemove(m.dispatch_id);
    const batch: FlowBatch = {
      gate,
      members: members.map((m) => ({ dispatch_id: m.dispatch_id, event_id: m.event_id })),
    };
    this.emit(ctx, "batch", gate, "batch_dispatched", leader.dispatch_id, {
      leader: leader.dispatch_id,
      count: members.length,
      members: batch.members.map((m) => m.dispatch_id),
      reason,
    });
    let mine: FlowOutcome | null = null;
    for (const m of members) {
      let outcome: FlowOutcome;
      if (m === leader) {
        outcome = this.advance(walkerOf(m), index("batch") + 1, batch, ctx);
      } else {
        this.emit(ctx, "batch", gate, "batch_merged", m.dispatch_id, { leader: leader.dispatch_id });
        outcome = { kind: "skip", reason: "batch_merged", primitive: "batch", gate, error: null };
      }
      if (m.dispatch_id === self) mine = outcome;
      else ctx.others.push({ dispatch_id: m.dispatch_id, cause: "batch_flushed", outcome });
    }
    return mine;
  }

  // ---- debounce ----

  private debounceArrive(w: Walker, gate: string, ctx: Ctx): FlowOutcome {
    const period = (this.flow.debounce as NonNullable<FlowControlSpec["debounce"]>).period;
    const previous = this.store.waitAt("debounce", gate, 0);
    if (previous) {
      this.store.waitRemove(previous.dispatch_id);
      this.emit(ctx, "debounce", gate, "debounce_superseded", previous.dispatch_id, { by: w.id });
      ctx.others.push({
        dispatch_id: previous.dispatch_id,
        cause: "superseded",
        outcome: { kind: "skip", reason: "debounced", primitive: "debounce", gate, error: null },
      });
    }
    const until = ctx.now + period;
    this.addWait(w, "debounce", gate, until, until, ctx.now);
    this.emit(ctx, "debounce", gate, "debounce_seen", w.id, { until, period_ms: period });
    return { kind: "wait", primitive: "debounce", gate, until, eta: until };
  }

  private debounceTimer(wait: FlowWait, ctx: Ctx): FlowOutcome {
    if (wait.due !== null && ctx.now < wait.due) return waitOutcome(wait);
    this.store.waitRemove(wait.dispatch_id);
    this.emit(ctx, "debounce", wait.gate, "debounce_selected", wait.dispatch_id, {});
    return this.advance(walkerOf(wait), index("debounce") + 1, null, ctx);
  }

  // ---- rate_limit ----

  private rateLimit(w: Walker, gate: string, ctx: Ctx): FlowOutcome | null {
    const { period, max } = this.flow.rate_limit as NonNullable<FlowControlSpec["rate_limit"]>;
    const since = ctx.now - period;
    const { count, stale } = this.store.logWindow("rate_limit", gate, since);
    if (count >= max) {
      this.emit(ctx, "rate_limit", gate, "rate_limit_blocked", w.id, { count, max, period_ms: period });
      return { kind: "skip", reason: "rate_limited", primitive: "rate_limit", gate, error: null };
    }
    if (stale >= PRUNE_SLACK) this.store.logPrune("rate_limit", gate, since);
    this.store.logAdd("rate_limit", gate, ctx.now);
    this.emit(ctx, "rate_limit", gate, "rate_limit_allowed", w.id, { count: count + 1, max, period_ms: period });
    return null;
  }

  // ---- throttle ----

  private throttleArrive(w: Walker, gate: string, ctx: Ctx): FlowOutcome | null {
    const { period, max } = this.flow.throttle as NonNullable<FlowControlSpec["throttle"]>;
    const since = ctx.now - period;
    // Waiters whose slot is already free go first (FIFO); a new arrival never overtakes them.
    if (this.store.waitAt("throttle", gate, 0)) this.drainThrottle(gate, null, ctx);
    if (!this.store.waitAt("throttle", gate, 0)) {
      const { count, stale } = this.store.logWindow("throttle", gate, since);
      if (count < max) {
        if (stale >= PRUNE_SLACK) this.store.logPrune("throttle", gate, since);
        this.store.logAdd("throttle", gate, ctx.now);
        this.emit(ctx, "throttle", gate, "throttle_acquired", w.id, { count: count + 1, max, waited_ms: 0 });
        return null;
      }
    }
    const position = this.store.waitCount("throttle", gate);
    let until: number | null = null;
    let eta: number;
    if (position === 0) {
      until = this.throttleSlotAt(gate, ctx.now);
      eta = until;
    } else {
      eta = this.throttleEta(gate, position, ctx.now);
    }
    this.addWait(w, "throttle", gate, until, eta, ctx.now);
    this.emit(ctx, "throttle", gate, "throttle_wait", w.id, { position, until: eta, delay_ms: eta - ctx.now, max });
    return { kind: "wait", primitive: "throttle", gate, until, eta };
  }

  private throttleResume(wait: FlowWait, ctx: Ctx): FlowOutcome {
    if (this.drainThrottle(wait.gate, wait.dispatch_id, ctx)) {
      return this.advance(walkerOf(wait), index("throttle") + 1, null, ctx);
    }
    const current = this.store.waitGet(wait.dispatch_id) ?? wait;
    return waitOutcome(current);
  }

  /**
   * Admits throttle waiters from the head while the window has room, then makes sure the head has a
   * timer at its slot. Returns true when `self` was admitted (the caller continues its chain).
   */
  private drainThrottle(gate: string, self: string | null, ctx: Ctx): boolean {
    const { period, max } = this.flow.throttle as NonNullable<FlowControlSpec["throttle"]>;
    const since = ctx.now - period;
    let head = this.store.waitAt("throttle", gate, 0);
    if (!head) return false;
    let admittedSelf = false;
    const window = this.store.logWindow("throttle", gate, since);
    if (window.stale >= PRUNE_SLACK) this.store.logPrune("throttle", gate, since);
    let count = window.count;
    while (head && count < max) {
      this.store.waitRemove(head.dispatch_id);
      this.store.logAdd("throttle", gate, ctx.now);
      count++;
      this.emit(ctx, "throttle", gate, "throttle_acquired", head.dispatch_id, {
        count,
        max,
        waited_ms: ctx.now - head.arrived_at,
      });
      if (head.dispatch_id === self) {
        admittedSelf = true;
      } else {
        const outcome = this.advance(walkerOf(head), index("throttle") + 1, null, ctx);
        ctx.others.push({ dispatch_id: head.dispatch_id, cause: "woken", outcome });
      }
      head = this.store.waitAt("throttle", gate, 0);
    }
    if (head) {
      const slot = this.throttleSlotAt(gate, ctx.now);
      if (head.due !== slot) {
        this.store.waitSetDue(head.dispatch_id, slot, slot);
        const outcome: FlowOutcome = { kind: "wait", primitive: "throttle", gate, until: slot, eta: slot };
        if (head.dispatch_id !== self)
          ctx.others.push({ dispatch_id: head.dispatch_id, cause: "head_changed", outcome });
      }
    }
    return admittedSelf;
  }

  /** When the window next has room: the entry whose expiry brings the count below max, plus period. */
  private throttleSlotAt(gate: string, now: number): number {
    const { period, max } = this.flow.throttle as NonNullable<FlowControlSpec["throttle"]>;
    const since = now - period;
    const { count } = this.store.logWindow("throttle", gate, since);
    if (count < max) return now;
    const entry = this.store.logNth("throttle", gate, since, count - max);
    return entry === null ? now : entry + period;
  }

  /**
   * FIFO estimate for the waiter at `position` (> 0): the waiters ahead take slots in order, so its slot
   * frees when the max-th most recent of (window entries + earlier slots) expires.
   */
  private throttleEta(gate: string, position: number, now: number): number {
    const { period, max } = this.flow.throttle as NonNullable<FlowControlSpec["throttle"]>;
    const since = now - period;
    if (position < max) {
      const { count } = this.store.logWindow("throttle", gate, since);
      const idx = count + position - max;
      if (idx < 0) return now;
      const entry = this.store.logNth("throttle", gate, since, idx);
      return Math.max(now, (entry ?? now) + period);
    }
    const ahead = this.store.waitAt("throttle", gate, position - max);
    return Math.max(now, (ahead?.eta ?? now) + period);
  }

  // ---- singleton ----

  private singleton(w: Walker, gate: string, ctx: Ctx): FlowOutcome | null {
    if (this.store.leaseTryAcquire("singleton", gate, w.id, ctx.now, 1, false)) {
      this.emit(ctx, "singleton", gate, "singleton_acquired", w.id, {});
      return null;
    }
    const holder = this.store.leaseHolders("singleton", gate)[0] ?? null;
    if (holder === w.id) return null;
    this.emit(ctx, "singleton", gate, "singleton_skipped", w.id, { holder });
    return { kind: "skip", reason: "singleton_active", primitive: "singleton", gate, error: null };
  }

  // ---- concurrency (+ priority) ----

  private concurrencyArrive(w: Walker, gate: string, ctx: Ctx): FlowOutcome | null {
    const max = (this.flow.concurrency as NonNullable<FlowControlSpec["concurrency"]>).max;
    const extra = w.rankError ? { rank_error: w.rankError } : {};
    // A free slot with nobody queued: take it in one statement.
    if (this.store.leaseTryAcquire("concurrency", gate, w.id, ctx.now, max, true)) {
      this.emit(ctx, "concurrency", gate, "concurrency_acquired", w.id, {
        max,
        rank: w.plan.rank,
        waited_ms: 0,
        ...extra,
      });
      return null;
    }
    const wait = this.addWait(w, "concurrency", gate, null, null, ctx.now);
    if (this.drainConcurrency(gate, w.id, ctx)) return null;
    this.emit(ctx, "concurrency", gate, "concurrency_wait", w.id, {
      rank: w.plan.rank,
      position: this.store.waitPosition(wait),
      active: this.store.leaseCount("concurrency", gate),
      max,
      ...extra,
    });
    return { kind: "wait", primitive: "concurrency", gate, until: null, eta: null };
  }

  private concurrencyResume(wait: FlowWait, ctx: Ctx): FlowOutcome {
    if (this.drainConcurrency(wait.gate, wait.dispatch_id, ctx)) {
      return this.advance(walkerOf(wait), index("concurrency") + 1, null, ctx);
    }
    return waitOutcome(wait);
  }

  /** Hands free slots to the head waiters in (rank, arrival) order. True when `self` got one. */
  private drainConcurrency(gate: string, self: string | null, ctx: Ctx): boolean {
    const max = (this.flow.concurrency as NonNullable<FlowControlSpec["concurrency"]>).max;
    let head = this.store.waitAt("concurrency", gate, 0);
    if (!head) return false;
    let active = this.store.leaseCount("concurrency", gate);
    let admittedSelf = false;
    for (; head && active < max; head = this.store.waitAt("concurrency", gate, 0)) {
      this.store.waitRemove(head.dispatch_id);
      this.store.leaseAdd("concurrency", gate, head.dispatch_id, ctx.now);
      active++;
      this.emit(ctx, "concurrency", gate, "concurrency_acquired", head.dispatch_id, {
        max,
        rank: head.rank,
        waited_ms: ctx.now - head.arrived_at,
      });
      if (head.dispatch_id === self) {
        admittedSelf = true;
      } else {
        const outcome = this.advance(walkerOf(head), index("concurrency") + 1, null, ctx);
        ctx.others.push({ dispatch_id: head.dispatch_id, cause: "woken", outcome });
      }
    }
    return admittedSelf;
  }

  // ---- release and cancellation ----

  private releaseInto(dispatchId: string, ctx: Ctx): void {
    this.cancelWaitInto(dispatchId, ctx);
    for (const lease of this.store.leaseReleaseAll(dispatchId)) {
      this.emit(ctx, lease.primitive, lease.gate, `${lease.primitive}_released`, dispatchId, {});
      if (lease.primitive === "concurrency" && this.flow.concurrency) this.drainConcurrency(lease.gate, null, ctx);
    }
  }

  private cancelWaitInto(dispatchId: string, ctx: Ctx): void {
    const wait = this.store.waitGet(dispatchId);
    if (!wait) return;
    const gate = wait.gate;
    const wasHead = this.store.waitAt(wait.primitive, gate, 0)?.dispatch_id === dispatchId;
    this.store.waitRemove(dispatchId);
    const payload: Record<string, unknown> = { was_head: wasHead };
    if (wait.primitive === "batch" && wasHead) {
      const next = this.store.waitAt("batch", gate, 0);
      if (next) {
        this.store.waitSetDue(next.dispatch_id, wait.due, wait.due);
        payload.promoted = next.dispatch_id;
        ctx.others.push({
          dispatch_id: next.dispatch_id,
          cause: "leader_promoted",
          outcome: { kind: "wait", primitive: "batch", gate, until: wait.due, eta: wait.due },
        });
      }
    }
    this.emit(ctx, wait.primitive, gate, `${wait.primitive}_cancelled`, dispatchId, payload);
    if (wait.primitive === "throttle" && this.flow.throttle) this.drainThrottle(gate, null, ctx);
    if (wait.primitive === "concurrency" && this.flow.concurrency) this.drainConcurrency(gate, null, ctx);
  }

  // ---- helpers ----

  private plan(event: unknown): Plan {
    const gates: FlowPlan["gates"] = {};
    for (const p of FLOW_PRIMITIVES) {
      if (this.flow[p] === undefined) continue;
      const key = this.evaluateKey(p, event);
      if (!key.ok) return { ok: false, primitive: p, error: key.error };
      gates[p] = `${this.bindingKey}:${key.key === null ? "_global" : gateKeyPart(key.key)}`;
    }
    let rank = 0;
    let rankError: string | null = null;
    const priority = this.flow.priority;
    if (priority && this.flow.concurrency) {
      const key = this.evaluateKey("priority", event);
      if (key.ok && key.key !== null) {
        const at = priority.order.indexOf(key.key);
        rank = at === -1 ? priority.order.length : at;
      } else {
        rank = priority.order.length;
        rankError = key.ok ? null : key.error;
      }
    }
    return { ok: true, plan: { gates, rank }, rankError };
  }

  /** `key: null` means the primitive has no key (→ `_global`). */
  private evaluateKey(
    p: FlowPrimitive | "priority",
    event: unknown,
  ): { ok: true; key: string | null } | { ok: false; error: string } {
    const compiled = this.keys.get(p);
    if (!compiled) return { ok: true, key: null };
    if (!compiled.ok) return { ok: false, error: `flow_control.${p}.key: ${compiled.error}` };
    const result = evaluateCel(compiled.program, { event });
    if (!result.ok) return { ok: false, error: `flow_control.${p}.key: ${result.error}` };
    return { ok: true, key: keyString(result.value) };
  }

  private limitOf(p: FlowPrimitive): number | null {
    switch (p) {
      case "batch":
        return this.flow.batch?.size ?? null;
      case "rate_limit":
      case "throttle":
      case "concurrency":
        return this.flow[p]?.max ?? null;
      case "singleton":
        return 1;
      case "debounce":
        return null;
    }
  }

  private addWait(
    w: Walker,
    primitive: WaitPrimitive,
    gate: string,
    due: number | null,
    eta: number | null,
    now: number,
  ): FlowWait {
    return this.store.waitAdd({
      dispatch_id: w.id,
      primitive,
      gate,
      rank: primitive === "concurrency" ? w.plan.rank : 0,
      arrived_at: now,
      due,
      eta,
      event_id: w.eventId,
      plan: w.plan,
    });
  }

  private emit(
    ctx: Ctx,
    primitive: FlowPrimitive,
    gate: string,
    kind: string,
    dispatchId: string,
    payload: Record<string, unknown>,
  ): void {
    ctx.audit.push({
      topic: flowTopic(primitive, gate),
      kind,
      dispatch_id: dispatchId,
      payload: { gate, dispatch_id: dispatchId, ...payload },
    });
  }

  private ctx(now: number): Ctx {
    return { now, others: [], audit: [] };
  }

  private done(outcome: FlowOutcome, ctx: Ctx): FlowDecision {
    return { ...outcome, others: ctx.others, audit: ctx.audit };
  }
}

/** A dispatch moving through the chain. */
interface Walker {
  id: string;
  eventId: string;
  plan: FlowPlan;
  rankError?: string | null;
}

function walkerOf(wait: FlowWait): Walker {
  return { id: wait.dispatch_id, eventId: wait.event_id, plan: wait.plan };
}

/** What an admitted dispatch holds: exactly the singleton and concurrency gates of its plan. */
function leasesFor(plan: FlowPlan): FlowLease[] {
  const leases: FlowLease[] = [];
  if (plan.gates.singleton !== undefined) leases.push({ primitive: "singleton", gate: plan.gates.singleton });
  if (plan.gates.concurrency !== undefined) leases.push({ primitive: "concurrency", gate: plan.gates.concurrency });
  return leases;
}

function waitOutcome(wait: FlowWait): FlowOutcome {
  return { kind: "wait", primitive: wait.primitive, gate: wait.gate, until: wait.due, eta: wait.eta };
}
