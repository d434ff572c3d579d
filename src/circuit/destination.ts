/**
 * Destination: one Durable Object per destination key (`destinationKey(parseHandlerUri(handler))`,
 * `<handler_kind>:<target_uri>`), the circuit breaker of SPEC 10 shared by every binding and tenant
 * that targets it. Address it with `env.DESTINATION.getByName(destinationKey)`. The transitions are
 * the pure functions of `circuit-policy.ts`; this class loads, stores and hands parked work back.
 *
 * RPC API (inputs in `contract.ts`; `now` is a test hook, production callers leave it out):
 *
 * - `check({binding_key, dispatch_id, attempt, settings, attempt_timeout_ms?})` before an attempt calls
 *   the handler → `{allow: true, probe, state}` or `{allow: false, state, retry_after_s, error}` where
 *   `error` is SPEC 10's `destination circuit open for <dest>; retry after <s>s`. In half_open exactly
 *   one attempt gets `probe: true` (leased for attempt_timeout_ms + 30 s; a re-check of the same
 *   dispatch/attempt gets the same probe back, so redelivered messages are safe).
 * - `report({binding_key, dispatch_id, attempt, outcome, error?, settings})` once per attempt that ran,
 *   with `outcome` from `circuitOutcomeOf(result)` → `{opened, error, probe, state, failures}`. When
 *   `opened`, this failure opened (or, as a failed probe, re-opened) the circuit and the dispatch goes
 *   to `dlq` with `error` (`destination circuit opened for <dest> after <n> consecutive failures: …`)
 *   even if attempts remain. Whether the report is the probe's is decided here from the attempt ref.
 * - `park({binding_key, dispatch_id, attempt, attempt_timeout_ms?})` (mode `hold`, after the gate has
 *   marked the dispatch held) → `{parked: true, position}` or `{parked: false}` when the circuit is
 *   closed again (run it now). Parked dispatches are handed back in arrival order by calling
 *   `env.BINDING_GATE.getByName(binding_key).releaseParked(dispatch_id, attempt)`: all of them after
 *   the circuit closes; while half_open with no probe running, only the oldest one, which becomes the
 *   probe (so parked work alone keeps probing a circuit that no new traffic checks).
 * - `unpark({dispatch_id})` drops a parked row (cancel, or the dispatch ended another way).
 * - `abandon({dispatch_id, attempt})` gives the probe slot back when an attempt that was granted the
 *   probe will not run after all (its claim was refused as terminal/not ready). Never call it for a
 *   "duplicate" claim: the attempt is running elsewhere under that same probe.
 * - `state()` → the `GET /v1/circuits` item `{destination, state, failures, opened_at, next_probe_at}`;
 *   `stats()` adds the parked count, the probe and cumulative transition counters (metrics);
 *   `transitions({after?, limit?})` pages the transitions log.
 *
 * Settings from different bindings: each call carries the caller's `{threshold, cooldown_ms}`; the
 * counter is shared, a failure trips the circuit when the count reaches the reporter's threshold, and
 * the circuit stays open for the reporter's cooldown (see circuit-policy.ts). `mode` is the caller's.
 *
 * Cost: every attempt of every binding to this destination makes one `check` and one `report`; each is
 * one primary-key SELECT plus at most one UPSERT on the single circuit row (none for a check while
 * closed), with the transitions log and the alarm touched only when the state changes or work is
 * parked. No D1, no outbound calls on the check/report path.
 *
 * Storage (DO SQLite, `circuit-store.ts` and `parked-queue.ts`; every table has a retention rule):
 * - `circuit`: one row (id 1) — state, failures, opened_at, next_probe_at, probe_ref, probe_until.
 * - `held`: parked dispatches in arrival order (`seq`); a row leaves when it is released or unparked.
 * - `transitions`: the log behind the console and API; kept 7 days and at most 1000 rows.
 * - `transition_counts`: cumulative counters per (from, to), at most six rows, never pruned.
 * The one alarm wakes only while dispatches are parked (cooldown end, probe lease end, release backoff).
 */
import { DurableObject } from "cloudflare:workers";
import { iso } from "../lib/time";
import { countDurableObjectOps } from "../observability/counting-bindings";
import {
  abandonProbe,
  advanceCircuit,
  applyReport,
  attemptRef,
  type Circuit,
  decideCheck,
  nextWakeAt,
  probeLeaseMs,
  type Step,
  type Transition,
  viewCircuit,
} from "./circuit-policy";
import { CircuitStore } from "./circuit-store";
import {
  type AbandonRequest,
  abandonRequestSchema,
  type CheckAnswer,
  type CheckRequest,
  type CircuitItem,
  type CircuitStats,
  checkRequestSchema,
  type ParkAnswer,
  type ParkRequest,
  parkRequestSchema,
  type ReportAnswer,
  type ReportRequest,
  reportRequestSchema,
  type TransitionItem,
  type TransitionsRequest,
  transitionsRequestSchema,
  type UnparkRequest,
  unparkRequestSchema,
} from "./contract";
import { ParkedQueue, type ParkedRow, type ReleaseParked, releaseToGate } from "./parked-queue";

const DEFAULT_ATTEMPT_TIMEOUT_MS = 30_000;
/** Parked rows handed back per alarm run; the alarm re-arms for the rest. */
const RELEASE_BATCH = 100;

export class Destination extends DurableObject<Env> {
  private readonly store: CircuitStore;
  private readonly held: ParkedQueue;
  /** How parked dispatches go back to their gates; tests replace it inside `runInDurableObject`. */
  releaser: ReleaseParked = releaseToGate;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    countDurableObjectOps(this, "Destination");
    this.store = new CircuitStore(ctx.storage.sql);
    this.held = new ParkedQueue(ctx.storage.sql);
  }

  /** The destination key this object was addressed by (`getByName`). */
  private get destination(): string {
    return this.ctx.id.name ?? this.ctx.id.toString();
  }

  // ---- circuit row ------------------------------------------------------------------------

  private load(): Circuit {
    return this.store.load();
  }

  /**
   * Stores a step's circuit and logs its transitions, all without an await so no other call
   * interleaves. Returns whether the alarm may need to move (state, cooldown or probe changed); a
   * failure count alone never moves it, which keeps a failing report at one SELECT and one UPSERT.
   */
  private save(before: Circuit, step: Step<unknown>, now: number, bindingKey: string | null, error: string | null) {
    const c = step.circuit;
    if (before.state === "closed" && before.failures === 0 && (c.state !== "closed" || c.failures > 0)) {
      this.tellWatchers(now);
    }
    const wakeChanged =
      step.transitions.length > 0 ||
      before.state !== c.state ||
      before.next_probe_at !== c.next_probe_at ||
      before.probe?.ref !== c.probe?.ref ||
      before.probe?.until !== c.probe?.until;
    if (!wakeChanged && before.failures === c.failures && before.opened_at === c.opened_at) return false;
    this.store.write(c, now);
    for (const t of step.transitions) this.logTransition(t, bindingKey, t.to === "open" ? error : null);
    return wakeChanged;
  }

  private logTransition(t: Transition, bindingKey: string | null, error: string | null): void {
    this.store.logTransition(t, bindingKey, error);
    console.log(
      JSON.stringify({
        msg: "circuit transition",
        destination: this.destination,
        from: t.from,
        to: t.to,
        reason: t.reason,
        failures: t.failures,
        binding_key: bindingKey,
      }),
    );
  }

  // ---- gates that skip checks while the circuit is clean -------------------------------------

  /** Gates told the circuit was clean (closed, no failure counted), until when. In memory only: a
   *  gate's permission lapses on its own after `cache_ms`, so losing this map loses nothing. */
  private readonly cleanWatchers = new Map<string, number>();

  /** The circuit stopped being clean: every gate that may still skip its checks is told at once. */
  private tellWatchers(now: number): void {
    for (const [bindingKey, until] of this.cleanWatchers) {
      if (until <= now) continue;
      this.ctx.waitUntil(
        this.env.BINDING_GATE.getByName(bindingKey)
          .circuitChanged(this.destination)
          .catch((error: unknown) => {
            console.error(
              JSON.stringify({ msg: "circuit change not delivered", binding_key: bindingKey, error: String(error) }),
            );
          }),
      );
    }
    this.cleanWatchers.clear();
  }

  // ---- alarm: parked dispatches -------------------------------------------------------------

  /** Keeps the alarm on the next moment parked work needs attention (none when nothing is parked). */
  private async armAlarm(now: number): Promise<void> {
    const held = this.held.pending();
    const wake = nextWakeAt(this.load(), now, held.count, held.due ?? now);
    const current = await this.ctx.storage.getAlarm();
    if (wake === null) {
      if (current !== null) await this.ctx.storage.deleteAlarm();
      return;
    }
    if (current !== wake) await this.ctx.storage.setAlarm(wake);
  }

  override async alarm(): Promise<void> {
    const now = Date.now();
    const before = this.load();
    const step = advanceCircuit(before, now);
    this.save(before, step, now, null, null);
    if (step.circuit.state === "closed") await this.releaseAll(now);
    else if (step.circuit.state === "half_open") await this.releaseProbe(now);
    await this.armAlarm(Date.now());
  }

  /** Circuit closed: hand every parked dispatch back, oldest first, one call at a time. */
  private async releaseAll(now: number): Promise<void> {
    for (const row of this.held.due(now, RELEASE_BATCH)) {
      // A report may have re-opened the circuit while an earlier release was in flight.
      if (this.load().state !== "closed") return;
      await this.release(row);
    }
  }

  /** Half-open with the probe slot free: the oldest parked dispatch goes back as the probe. */
  private async releaseProbe(now: number): Promise<void> {
    const head = this.held.due(now, 1)[0];
    if (!head) return;
    const ref = attemptRef(head.dispatch_id, head.attempt);
    const before = this.load();
    const step = decideCheck(before, {
      destination: this.destination,
      ref,
      now,
      probe_lease_ms: head.lease_ms,
    });
    if (!step.answer.allow) return; // a probe is running; the alarm comes back at its lease end
    this.save(before, step, now, head.binding_key, null);
    if (!(await this.release(head))) {
      const current = this.load();
      const at = Date.now();
      this.save(current, abandonProbe(current, ref, at), at, null, null);
    }
  }

  /** One release call; the row goes only if it was not parked again meanwhile, else it backs off. */
  private async release(row: ParkedRow): Promise<boolean> {
    try {
      await this.releaser(this.env, row);
      this.held.released(row);
      return true;
    } catch (error) {
      const failures = this.held.backOff(row, Date.now());
      console.error(
        JSON.stringify({
          msg: "parked dispatch release failed",
          destination: this.destination,
          binding_key: row.binding_key,
          dispatch_id: row.dispatch_id,
          attempt: row.attempt,
          failures,
          error: String(error),
        }),
      );
      return false;
    }
  }

  // ---- RPC --------------------------------------------------------------------------------

  /** May this attempt call the destination now? One probe at a time while half-open. */
  async check(request: CheckRequest): Promise<CheckAnswer> {
    const input = checkRequestSchema.parse(request);
    const now = input.now ?? Date.now();
    const before = this.load();
    const step = decideCheck(before, {
      destination: this.destination,
      ref: attemptRef(input.dispatch_id, input.attempt),
      now,
      probe_lease_ms: probeLeaseMs(input.attempt_timeout_ms ?? DEFAULT_ATTEMPT_TIMEOUT_MS),
    });
    if (this.save(before, step, now, input.binding_key, null)) await this.armAlarm(now);
    const clean =
      step.answer.allow && !step.answer.probe && step.circuit.state === "closed" && step.circuit.failures === 0;
    if (clean && input.cache_ms !== undefined) {
      this.cleanWatchers.set(input.binding_key, now + input.cache_ms);
      return { ...step.answer, destination: this.destination, clean_for_ms: input.cache_ms };
    }
    return { ...step.answer, destination: this.destination };
  }

  /** Records the outcome of an attempt that ran; `opened` means this failure opened the circuit. */
  async report(request: ReportRequest): Promise<ReportAnswer> {
    const input = reportRequestSchema.parse(request);
    const now = input.now ?? Date.now();
    const before = this.load();
    const step = applyReport(before, {
      destination: this.destination,
      ref: attemptRef(input.dispatch_id, input.attempt),
      outcome: input.outcome,
      error: input.error ?? null,
      settings: input.settings,
      now,
    });
    if (this.save(before, step, now, input.binding_key, step.answer.error)) await this.armAlarm(now);
    return { ...step.answer, destination: this.destination };
  }

  /** Parks a dispatch refused in mode `hold`; its gate gets `releaseParked` when it may run. */
  async park(request: ParkRequest): Promise<ParkAnswer> {
    const input = parkRequestSchema.parse(request);
    const now = input.now ?? Date.now();
    const before = this.load();
    const step = advanceCircuit(before, now);
    this.save(before, step, now, input.binding_key, null);
    if (step.circuit.state === "closed") return { parked: false, state: "closed" };
    // A dispatch parked again (released, then refused) keeps its place in line.
    const position = this.held.park(
      {
        binding_key: input.binding_key,
        dispatch_id: input.dispatch_id,
        attempt: input.attempt,
        lease_ms: probeLeaseMs(input.attempt_timeout_ms ?? DEFAULT_ATTEMPT_TIMEOUT_MS),
      },
      now,
    );
    await this.armAlarm(now);
    return { parked: true, state: step.circuit.state, position };
  }

  /** Drops a parked dispatch (cancelled or otherwise finished at its gate). */
  async unpark(request: UnparkRequest): Promise<{ removed: boolean }> {
    const input = unparkRequestSchema.parse(request);
    const removed = this.held.remove(input.dispatch_id);
    if (removed) await this.armAlarm(Date.now());
    return { removed };
  }

  /** Gives the probe slot back when the attempt granted it will not run. */
  async abandon(request: AbandonRequest): Promise<{ released: boolean }> {
    const input = abandonRequestSchema.parse(request);
    const now = input.now ?? Date.now();
    const before = this.load();
    const step = abandonProbe(before, attemptRef(input.dispatch_id, input.attempt), now);
    if (this.save(before, step, now, null, null)) await this.armAlarm(now);
    return step.answer;
  }

  /** The `GET /v1/circuits` item. Read-only: the lazy half-open shows without being stored. */
  async state(request: { now?: number } = {}): Promise<CircuitItem> {
    return this.item(request.now ?? Date.now());
  }

  private item(now: number): CircuitItem {
    const v = viewCircuit(this.load(), now);
    return {
      destination: this.destination,
      state: v.state,
      failures: v.failures,
      opened_at: v.opened_at === null ? null : iso(v.opened_at),
      next_probe_at: v.next_probe_at === null ? null : iso(v.next_probe_at),
    };
  }

  /** Circuit, parked count, probe and cumulative transition counters (console, stats, metrics). */
  async stats(request: { now?: number } = {}): Promise<CircuitStats> {
    const now = request.now ?? Date.now();
    const circuit = advanceCircuit(this.load(), now).circuit;
    return {
      item: this.item(now),
      parked: this.held.pending().count,
      probe: circuit.probe ? { ref: circuit.probe.ref, until: iso(circuit.probe.until) } : null,
      transitions_total: this.store.transitionCounts(),
    };
  }

  /** The transitions log, oldest first, paged by `seq`. */
  async transitions(request: TransitionsRequest = {}): Promise<{ items: TransitionItem[]; next_after: number | null }> {
    const input = transitionsRequestSchema.parse(request);
    const rows = this.store.transitions(input.after, input.limit);
    const items = rows.map((r) => ({
      seq: r.seq,
      from: r.from_state,
      to: r.to_state,
      reason: r.reason,
      failures: r.failures,
      binding_key: r.binding_key,
      error: r.error,
      at: iso(r.at),
    }));
    return { items, next_after: rows.length === input.limit ? (rows.at(-1)?.seq ?? null) : null };
  }

  /** The parked dispatches in release order (console, tests). */
  async parked(): Promise<{
    items: { binding_key: string; dispatch_id: string; attempt: number; parked_at: string }[];
  }> {
    const rows = this.held.all();
    return {
      items: rows.map((r) => ({
        binding_key: r.binding_key,
        dispatch_id: r.dispatch_id,
        attempt: r.attempt,
        parked_at: iso(r.parked_at),
      })),
    };
  }
}
