/**
 * The BindingGate's storage and the operations every stage shares: the binding's meta (spec,
 * identity, flags), the live dispatch documents and their timers, the History and D1 outboxes, the
 * classifier budgets, and the one alarm that serves them. A stage changes a dispatch only through
 * `patch` and `log`; `settle` ends each synchronous section (commit, D1 flush, alarm). Steps owned by
 * other stages are reached through `steps`, which the gate fills in when it wires its stages.
 */
import { DEFAULT_TIER, type Tier } from "../autonomy/tiers";
import type { BindingSpec } from "../contracts/binding-spec";
import { type DispatchStatus, isTerminal } from "../contracts/dispatch";
import type { DispatchDoc, GateTimerKind } from "../contracts/dispatch-doc";
import type { TriggerEvent } from "../contracts/events";
import { handlerKindOf } from "../contracts/handler-uri";
import { type Transition, transitionTime } from "../contracts/transitions";
import { terminateIfDrained } from "../db/bindings-repo";
import { GATE_BUDGETS_SCHEMA, GateBudgets } from "../flow/gate-budgets";
import { migrateFlowSchema } from "../flow/sql-flow-schema";
import type { TrustInput } from "../history/history-store";
import { iso } from "../lib/time";
import { controlWrites, type Statement } from "./control-writes";
import { D1Outbox } from "./d1-outbox";
import { GateTimers } from "./gate-timers";
import { HistoryOutbox } from "./history-outbox";
import { convertLegacyGate } from "./legacy-gate";
import { LiveStore } from "./live-store";

/** A History append that failed is retried within this; queued D1 rows are flushed within it too. */
export const SAFETY_ALARM_MS = 5_000;

/** The state machine's steps that one stage asks of another (SPEC 6). */
export interface GateSteps {
  /** Steps 2–5, synchronous: cancel check → predicate → autonomy → flow control → pause. */
  runStages(
    doc: DispatchDoc,
    now: number,
    event: unknown,
    cached?: { pass: boolean; reason: string | null } | null,
  ): DispatchStatus;
  /** Step 4 onwards. */
  autonomyStage(doc: DispatchDoc, now: number, event: unknown): DispatchStatus;
  /** Step 5 onwards. */
  flowStage(doc: DispatchDoc, now: number, event: unknown): DispatchStatus;
  /** Starts attempt 1 of every dispatch the last section admitted (and queued classifier calls). */
  startReady(event?: TriggerEvent | null): Promise<void>;
  /** Shared bookkeeping of every terminal transition (trust, History, freed flow-control slots). */
  afterTerminal(doc: DispatchDoc, now: number, status: DispatchStatus, error?: string | null, durable?: boolean): void;
  /** Ends a dispatch as `cancelled` now. */
  cancelNow(doc: DispatchDoc, error: string, now: number, durable?: boolean): DispatchStatus;
  /** Whether the binding has flow control (its outcomes then free slots for others). */
  hasFlow(): boolean;
}

export class GateCore {
  readonly sql: SqlStorage;
  readonly live: LiveStore;
  readonly timers = new GateTimers();
  readonly outbox: HistoryOutbox;
  readonly d1: D1Outbox;
  readonly budgets: GateBudgets;
  /** Dispatches converted from the earlier layout on this activation. */
  readonly converted: DispatchDoc[];
  /** Filled in by the gate once its stages exist. */
  steps!: GateSteps;
  private outboxRetryAt: number | null = null;
  /** Dispatches admitted during a synchronous section, whose attempt 1 starts right after it. */
  private ready: { id: string; event: TriggerEvent | null }[] = [];

  constructor(
    readonly state: DurableObjectState,
    readonly env: Env,
  ) {
    this.sql = state.storage.sql;
    this.sql.exec("CREATE TABLE IF NOT EXISTS gate_meta (k TEXT PRIMARY KEY, v TEXT NOT NULL)");
    migrateFlowSchema(this.sql);
    this.sql.exec(GATE_BUDGETS_SCHEMA);
    this.converted = convertLegacyGate(this.sql, this.legacyIdentity());
    this.live = new LiveStore(this.sql);
    for (const doc of this.converted) this.live.add(doc);
    this.live.commit();
    this.d1 = new D1Outbox(this.sql, () => this.env.DB);
    this.budgets = new GateBudgets(this.sql, { get: (k) => this.meta(k), set: (k, v) => this.setMeta(k, v) });
    this.outbox = new HistoryOutbox({
      env,
      bindingId: () => this.meta("binding_id") ?? "",
      released: (ids) => this.released(ids),
      retryAt: (at) => {
        this.outboxRetryAt = at;
        void this.armAlarm();
      },
      waitUntil: (p) => state.waitUntil(p),
    });
  }

  /** What a gate of the earlier layout knew about itself, for its converted dispatches. */
  private legacyIdentity() {
    const spec = this.meta("spec");
    if (!spec) return null;
    const handler = (JSON.parse(spec) as BindingSpec).handler;
    return {
      binding_key: this.meta("binding_key") ?? "",
      binding_id: this.meta("binding_id") ?? "",
      binding_version: Number(this.meta("binding_version") ?? 0),
      handler_kind: handlerKindOf(handler),
      target_uri: handler,
    };
  }

  // ---- meta -----------------------------------------------------------------------------------

  private readonly metaCache = new Map<string, string | null>();
  private parsedSpec: BindingSpec | null = null;

  meta(key: string): string | null {
    const cached = this.metaCache.get(key);
    if (cached !== undefined) return cached;
    const row = this.sql.exec<{ v: string }>("SELECT v FROM gate_meta WHERE k = ?", key).toArray()[0];
    const value = row ? row.v : null;
    this.metaCache.set(key, value);
    return value;
  }

  setMeta(key: string, value: string): void {
    if (this.metaCache.get(key) === value) return;
    this.sql.exec("INSERT INTO gate_meta (k, v) VALUES (?, ?) ON CONFLICT(k) DO UPDATE SET v = excluded.v", key, value);
    this.metaCache.set(key, value);
    if (key === "spec") this.parsedSpec = null;
  }

  deleteMeta(key: string): void {
    this.sql.exec("DELETE FROM gate_meta WHERE k = ?", key);
    this.metaCache.set(key, null);
  }

  spec(): BindingSpec {
    if (this.parsedSpec) return this.parsedSpec;
    const text = this.meta("spec");
    if (!text) throw new Error("BindingGate has no binding spec yet");
    this.parsedSpec = JSON.parse(text) as BindingSpec;
    return this.parsedSpec;
  }

  tierOf(doc: DispatchDoc): Tier {
    return (doc.tier as Tier | null) ?? this.spec().autonomy?.tier ?? DEFAULT_TIER;
  }

  // ---- documents ------------------------------------------------------------------------------

  /** Changes fields of a dispatch; `timer` moves its timer too. */
  patch(doc: DispatchDoc, fields: Partial<DispatchDoc>, now: number): void {
    Object.assign(doc, fields, { updated_at: now });
    if ("timer" in fields) this.timers.set(doc.dispatch_id, doc.timer);
    this.live.touch(doc);
  }

  private seqMs = -1;
  private seqInMs = 0;

  /** Appends a transition; the control-plane rows it touches (DLQ, approvals) are queued for D1. */
  log(doc: DispatchDoc, t: Transition): void {
    const ms = transitionTime(t);
    this.seqInMs = ms === this.seqMs ? this.seqInMs + 1 : 0;
    this.seqMs = ms;
    t.s = this.seqInMs;
    doc.log.push(t);
    this.d1.enqueue(controlWrites(doc, t));
    this.live.touch(doc);
  }

  setTimer(doc: DispatchDoc, kind: GateTimerKind, at: number, attempt = 0, now = Date.now()): void {
    this.patch(doc, { timer: { kind, at, attempt } }, now);
  }

  clearTimer(doc: DispatchDoc, now = Date.now()): void {
    if (doc.timer !== null) this.patch(doc, { timer: null }, now);
  }

  /** Whether a dispatch is still moving here (not final, not resting in a terminal status). */
  isLive(id: string): boolean {
    const doc = this.live.get(id);
    return doc !== null && !this.live.isFinal(id) && !isTerminal(doc.status);
  }

  /** Live dispatches that have not reached a terminal status. */
  liveCount(): number {
    return this.live.live().filter((d) => !isTerminal(d.status)).length;
  }

  /** Queues attempt 1 of an admitted dispatch (with its event when the section had it at hand). */
  markReady(id: string, event: TriggerEvent | null): void {
    this.ready.push({ id, event });
  }

  takeReady(): { id: string; event: TriggerEvent | null }[] {
    const ready = this.ready;
    this.ready = [];
    return ready;
  }

  // ---- trust ----------------------------------------------------------------------------------

  trustInput(recordKey: string, action: string, outcome: string, tier: string, metadata: object, now: number) {
    const input: TrustInput = {
      record_key: recordKey,
      binding_id: this.meta("binding_id") ?? "",
      // The chain belongs to the binding, so it carries the binding's tenant.
      tenant_id: this.spec().tenant_id ?? null,
      action,
      outcome,
      tier,
      metadata,
      at: iso(now),
    };
    return input;
  }

  /** The trust record of a terminal outcome (SPEC 8). */
  finalTrust(doc: DispatchDoc, status: DispatchStatus, now: number, error: string | null): TrustInput {
    return this.trustInput(
      `dispatch:${doc.dispatch_id}:${status}`,
      "dispatch.outcome",
      status,
      this.tierOf(doc),
      {
        dispatch_id: doc.dispatch_id,
        binding_key: this.meta("binding_key"),
        event_id: doc.event_id,
        replay_of_event_id: doc.replay_of_event_id,
        attempt_count: doc.attempt,
        error,
      },
      now,
    );
  }

  // ---- settling: commit, outboxes, alarm ------------------------------------------------------

  /** A control-plane statement outside a transition (a classifier verdict for replays). */
  queueD1(statement: Statement): void {
    this.d1.enqueue([statement]);
  }

  waitUntil(promise: Promise<unknown>): void {
    this.state.waitUntil(promise);
  }

  /** Ends every section that changed state: writes, then control-plane rows and the alarm. */
  async settle(): Promise<void> {
    this.live.commit();
    if (this.d1.pending()) {
      this.waitUntil(
        this.d1
          .flush()
          .catch((error) => console.error(JSON.stringify({ msg: "d1 flush failed", error: String(error) }))),
      );
    }
    await this.armAlarm();
  }

  /** Restarts the stages after an answer that arrived outside a section (a verdict, a deferral). */
  async continueAfter(): Promise<void> {
    await this.steps.startReady();
    await this.settle();
  }

  /** Sends what the outboxes hold whose time has come (from the alarm). */
  async flushDue(now: number): Promise<void> {
    if (this.outboxRetryAt !== null && this.outboxRetryAt <= now) {
      this.outboxRetryAt = null;
      await this.outbox.flush().catch(() => {});
    }
    if (this.d1.pending()) await this.d1.flush().catch(() => {});
  }

  private alarmAt: number | null | undefined;

  /** Called at the start of the alarm handler: the alarm that was set has fired. */
  alarmFired(): void {
    this.alarmAt = null;
  }

  async armAlarm(): Promise<void> {
    const sweepAt = this.meta("flow_sweep_at");
    const candidates = [this.timers.next(), this.outboxRetryAt, sweepAt === null ? null : Number(sweepAt)];
    if (this.d1.pending()) candidates.push(Date.now() + SAFETY_ALARM_MS);
    const next = candidates.filter((c): c is number => c !== null).reduce((a, b) => Math.min(a, b), Infinity);
    if (next === Infinity) {
      if (this.alarmAt !== null) await this.state.storage.deleteAlarm();
      this.alarmAt = null;
      return;
    }
    const current = this.alarmAt === undefined ? await this.state.storage.getAlarm() : this.alarmAt;
    if (current === null || current > next || current < Date.now() - 60_000) {
      await this.state.storage.setAlarm(next);
      this.alarmAt = next;
    } else {
      this.alarmAt = current;
    }
  }

  /** History holds these dispatches now; a draining version with nothing live terminates. */
  private released(ids: string[]): void {
    this.live.release(ids);
    if (this.meta("draining") === "1" && this.liveCount() === 0) {
      this.waitUntil(terminateIfDrained(this.env.DB, this.meta("binding_key") ?? "", Date.now()).catch(() => {}));
    }
  }
}
