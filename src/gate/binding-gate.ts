/**
 * BindingGate: one Durable Object per binding_key, the dispatch state machine of its binding version
 * (SPEC 6). Its RPC methods are the entry points: `admit` (stages before the first attempt),
 * `cancel`, `complete`, `decideApproval`, `setPaused`, `drain`, `releaseParked`, and the reads. The
 * gate runs each attempt itself (`attempt-runner`), keeps each dispatch as one live document
 * (`live-store`), its waits as timers on one alarm (`gate-timers`), and hands finished dispatches to
 * History (`history-outbox`). Every check and the write that follows it happen with no `await` in
 * between, so two requests can never both pass the same check.
 */
import { DurableObject } from "cloudflare:workers";
import { APPROVAL_REVIEWERS, decisionLimitReached, decisionsBudgeted } from "../autonomy/decision-budget";
import { DEFAULT_TIER, type Tier } from "../autonomy/tiers";
import { circuitSettingsOf } from "../circuit/circuit-policy";
import type { BindingSpec } from "../contracts/binding-spec";
import { type DispatchStatus, type HandlerResult, isTerminal } from "../contracts/dispatch";
import type { DispatchDoc, DispatchTimer, GateTimerKind } from "../contracts/dispatch-doc";
import type { TriggerEvent } from "../contracts/events";
import {
  type AdmitAnswer,
  type AdmitRequest,
  type ApprovalAnswer,
  type CancelAnswer,
  type CompleteAnswer,
  type PreviousSigningSecret,
  signingSecretsAt,
} from "../contracts/gate-rpc";
import { destinationKey, parseHandlerUri } from "../contracts/handler-uri";
import { type Transition, transitionTime } from "../contracts/transitions";
import { terminateIfDrained } from "../db/bindings-repo";
import { type AttemptDecision, decideAfterAttempt } from "../dispatch/attempt-decision";
import { graphIds, LEASE_EXPIRED_ERROR } from "../dispatch/dispatch-log";
import { viewOf } from "../dispatch/dispatch-view";
import { classifyError } from "../dispatch/error-class";
import { effectiveMaxAttempts } from "../dispatch/retry-policy";
import { FlowControl, type FlowDecision, type FlowEffects, type FlowOutcome } from "../flow/flow-control";
import { GATE_BUDGETS_SCHEMA, GateBudgets } from "../flow/gate-budgets";
import { FLOW_SCHEMA, SqlFlowStore } from "../flow/sql-flow-store";
import { followDeps } from "../handlers/a2a-follow";
import type { AttemptContext } from "../handlers/envelope";
import type { TrustInput } from "../history/history-store";
import { legacyDispatches } from "../history/legacy-layout";
import { historyReads } from "../history/stubs";
import { newApprovalId } from "../lib/ids";
import { dispatchKeyTime, historyName, partitionSpanMs, partitionStart, uuidv7Time } from "../lib/partitions";
import { needsReseal, open as openSecret, requireSecretKeys, seal as sealSecret } from "../lib/secret-box";
import { iso } from "../lib/time";
import { countDurableObjectOps } from "../observability/billable-ops";
import { appendTrust } from "../trust/trust-reader";
import { A2aFollowStage } from "./a2a-follow-stage";
import { attemptEvent, type CircuitRef, callHandler, checkCircuit, reportCircuit } from "./attempt-runner";
import { controlWrites, type Statement } from "./control-writes";
import { D1Outbox } from "./d1-outbox";
import { GateTimers } from "./gate-timers";
import { HistoryOutbox } from "./history-outbox";
import { convertLegacyGate, pendingLegacyTrust } from "./legacy-gate";
import { LiveStore } from "./live-store";
import { PredicateStage } from "./predicate-stage";

/** Extra time past the handler timeout before an unreported attempt is declared lost. */
const LEASE_GRACE_MS = 30_000;
/** A History append that failed is retried within this. */
const SAFETY_ALARM_MS = 5_000;
/**
 * Flow-control hygiene runs this often while the binding has flow control: expired sliding-log
 * entries of idle keys (never pruned otherwise), and leases or waits of dispatches no longer live.
 */
const FLOW_SWEEP_EVERY_MS = 86_400_000;

/** SPEC 13.1 error texts. */
export const cancelError = {
  beforeAttempt: (n: number) => `trigger cancel request cancelled dispatch before attempt ${n}`,
  retryWait: "trigger cancel request cancelled retry wait",
  handler: "trigger cancel request cancelled handler",
  waiting: (heldReason: string | null) =>
    `trigger cancel request cancelled ${
      heldReason === "approval" ? "approval wait" : heldReason === "deferred" ? "budget deferral" : "waiting dispatch"
    }`,
};

export class BindingGate extends DurableObject<Env> {
  private readonly sql: SqlStorage;
  readonly live: LiveStore;
  private readonly timers = new GateTimers();
  private readonly outbox: HistoryOutbox;
  private readonly d1: D1Outbox;
  readonly budgets: GateBudgets;
  private readonly predicates: PredicateStage;
  private readonly follow: A2aFollowStage;
  /** Dispatches admitted during a synchronous section, whose attempt 1 starts right after it. */
  private ready: { id: string; event: TriggerEvent | null }[] = [];
  /** Abort controllers of running attempts (`<dispatch_id>#<attempt>`). */
  private readonly running = new Map<string, AbortController>();
  private outboxRetryAt: number | null = null;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    countDurableObjectOps(this, "BindingGate");
    this.sql = ctx.storage.sql;
    this.migrate();
    const converted = convertLegacyGate(this.sql, this.legacyIdentity());
    this.live = new LiveStore(this.sql);
    for (const doc of converted) this.live.add(doc);
    this.live.commit();
    this.d1 = new D1Outbox(this.sql, () => this.env.DB);
    this.budgets = new GateBudgets(this.sql, { get: (k) => this.meta(k), set: (k, v) => this.setMeta(k, v) });
    this.predicates = new PredicateStage(this, env);
    this.follow = new A2aFollowStage(this, followDeps(env));
    this.outbox = new HistoryOutbox({
      env: this.env,
      bindingId: () => this.meta("binding_id") ?? "",
      released: (ids) => this.released(ids),
      retryAt: (at) => {
        this.outboxRetryAt = at;
        void this.armAlarm();
      },
      waitUntil: (p) => this.ctx.waitUntil(p),
    });
    const now = Date.now();
    let orphaned = false;
    for (const doc of this.live.live()) {
      if (isTerminal(doc.status) && doc.status !== "waiting") {
        // Final and written here, but History may not hold it yet: hand it over (appends are idempotent).
        this.live.finalize(doc, false);
        this.outbox.add(doc, this.finalTrust(doc, doc.status, doc.terminal_at ?? now, viewOf(doc).error));
        continue;
      }
      // An attempt found running on activation died with the previous instance (or finished, and its
      // slot was freed but not yet overwritten): settled before anything reads it.
      if (doc.attempt_running) {
        this.timers.set(doc.dispatch_id, { kind: "lease", at: now, attempt: doc.attempt });
        this.orphans.add(doc.dispatch_id);
        orphaned = true;
      } else {
        this.timers.set(doc.dispatch_id, doc.timer);
      }
    }
    if (orphaned) void ctx.storage.setAlarm(now);
    if (converted.length > 0) {
      ctx.waitUntil(this.fillLegacy(converted.map((d) => d.dispatch_id)));
      void this.armAlarm();
    }
    const legacyTrust = pendingLegacyTrust(this.sql);
    if (legacyTrust.length > 0) ctx.waitUntil(this.sendLegacyTrust(legacyTrust));
  }

  /** Attempts found running on activation, not yet settled. */
  private readonly orphans = new Set<string>();

  /** Settles orphaned attempts (History holds the dispatch, or the attempt is declared lost) before a read. */
  private settlingOrphans: Promise<void> | null = null;

  private settleOrphans(): Promise<void> {
    if (this.orphans.size === 0) return this.settlingOrphans ?? Promise.resolve();
    const ids = [...this.orphans];
    this.orphans.clear();
    const run = (async () => {
      const now = Date.now();
      for (const id of ids) {
        const timer = this.timers.get(id);
        if (timer?.kind !== "lease") continue;
        this.timers.set(id, null);
        await this.fireTimer(id, timer, now);
      }
      await this.settle();
    })();
    this.settlingOrphans = (this.settlingOrphans ?? Promise.resolve()).then(() => run);
    return this.settlingOrphans;
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

  /** Converted dispatches get their outcome so far and their attempts from the D1 mirror they had. */
  private async fillLegacy(ids: string[]): Promise<void> {
    try {
      for (const old of await legacyDispatches(this.env.DB, ids)) {
        const doc = this.live.get(old.dispatch_id);
        const first = doc?.log[0];
        const from = old.log[0];
        if (!doc || first?.op !== "legacy" || from?.op !== "legacy") continue;
        doc.log[0] = { ...from, status: first.status, attempt_count: first.attempt_count };
        this.live.touch(doc);
      }
      this.live.commit();
    } catch (error) {
      console.error(JSON.stringify({ msg: "legacy dispatches not filled in", error: String(error) }));
    }
  }

  private async sendLegacyTrust(pending: { seq: number; record: TrustInput }[]): Promise<void> {
    try {
      await appendTrust(
        this.env,
        this.meta("binding_id") ?? "",
        pending.map((p) => p.record),
      );
      this.sql.exec("DELETE FROM trust_outbox WHERE seq <= ?", pending.at(-1)?.seq ?? 0);
    } catch (error) {
      console.error(JSON.stringify({ msg: "legacy trust records not sent", error: String(error) }));
    }
  }

  /** Gate tables. Objects of the earlier layout (dispatch rows mirrored to D1) are moved over once. */
  private migrate(): void {
    this.sql.exec("CREATE TABLE IF NOT EXISTS gate_meta (k TEXT PRIMARY KEY, v TEXT NOT NULL)");
    this.sql.exec(FLOW_SCHEMA);
    this.sql.exec(GATE_BUDGETS_SCHEMA);
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

  spec(): BindingSpec {
    if (this.parsedSpec) return this.parsedSpec;
    const text = this.meta("spec");
    if (!text) throw new Error("BindingGate has no binding spec yet");
    this.parsedSpec = JSON.parse(text) as BindingSpec;
    return this.parsedSpec;
  }

  // ---- documents ----------------------------------------------------------------------------

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

  private newDoc(req: AdmitRequest, now: number): DispatchDoc {
    return {
      dispatch_id: req.dispatch_id,
      binding_key: req.binding_key,
      binding_id: req.binding_id,
      binding_version: req.binding_version,
      event_id: req.event_id,
      trace_id: req.trace_id,
      tenant_id: req.tenant_id,
      replay_of_event_id: req.replay_of_event_id,
      handler_kind: handlerKindOf(req.spec.handler),
      target_uri: req.spec.handler,
      dlq_id: req.dlq_id ?? null,
      status: "pending",
      attempt: 0,
      attempt_running: false,
      attempt_started_at: null,
      max_attempts: req.max_attempts ?? effectiveMaxAttempts(req.spec.retry.max_attempts),
      cancel_requested: false,
      held_reason: null,
      batch_event_ids: null,
      tier: req.autonomy_tier ?? req.spec.autonomy?.tier ?? DEFAULT_TIER,
      decision: null,
      approval_id: null,
      created_at: now,
      updated_at: now,
      terminal_at: null,
      timer: null,
      log: [],
    };
  }

  tierOf(doc: DispatchDoc): Tier {
    return (doc.tier as Tier | null) ?? this.spec().autonomy?.tier ?? DEFAULT_TIER;
  }

  // ---- settling: commit, outboxes, alarm ----------------------------------------------------

  /** Ends every section that changed state: writes, then control-plane rows and the alarm. */
  private async settle(): Promise<void> {
    this.live.commit();
    if (this.d1.pending()) {
      this.ctx.waitUntil(
        this.d1
          .flush()
          .catch((error) => console.error(JSON.stringify({ msg: "d1 flush failed", error: String(error) }))),
      );
    }
    await this.armAlarm();
  }

  private alarmAt: number | null | undefined;

  private async armAlarm(): Promise<void> {
    const sweepAt = this.meta("flow_sweep_at");
    const candidates = [this.timers.next(), this.outboxRetryAt, sweepAt === null ? null : Number(sweepAt)];
    if (this.d1.pending()) candidates.push(Date.now() + SAFETY_ALARM_MS);
    const next = candidates.filter((c): c is number => c !== null).reduce((a, b) => Math.min(a, b), Infinity);
    if (next === Infinity) {
      if (this.alarmAt !== null) await this.ctx.storage.deleteAlarm();
      this.alarmAt = null;
      return;
    }
    const current = this.alarmAt === undefined ? await this.ctx.storage.getAlarm() : this.alarmAt;
    if (current === null || current > next || current < Date.now() - 60_000) {
      await this.ctx.storage.setAlarm(next);
      this.alarmAt = next;
    } else {
      this.alarmAt = current;
    }
  }

  override async alarm(): Promise<void> {
    this.alarmAt = null;
    await this.settleOrphans();
    const now = Date.now();
    if (this.outboxRetryAt !== null && this.outboxRetryAt <= now) {
      this.outboxRetryAt = null;
      await this.outbox.flush().catch(() => {});
    }
    if (this.d1.pending()) await this.d1.flush().catch(() => {});
    const sweepAt = this.meta("flow_sweep_at");
    if (sweepAt !== null && Number(sweepAt) <= now) {
      this.sweepFlow(now);
      await this.startReady();
    }
    for (const { id, timer } of this.timers.due(now)) {
      try {
        await this.fireTimer(id, timer, now);
      } catch (error) {
        console.error(JSON.stringify({ msg: "timer failed", kind: timer.kind, dispatch_id: id, error: String(error) }));
        this.timers.set(id, { ...timer, at: now + SAFETY_ALARM_MS });
      }
    }
    await this.settle();
  }

  private async fireTimer(id: string, timer: DispatchTimer, now: number): Promise<void> {
    const doc = this.live.get(id);
    if (!doc || this.live.isFinal(id) || (isTerminal(doc.status) && doc.status !== "waiting")) return;
    if (doc.timer && doc.timer.kind === timer.kind) this.patch(doc, { timer: null }, now);
    switch (timer.kind) {
      case "predicate":
        await this.predicates.onTimer(doc, now);
        return;
      case "a2a":
        await this.follow.onTimer(doc, now);
        return;
      case "flow": {
        const flow = this.flow();
        if (flow) this.applyFlow(doc, flow.onTimer(id, now), now);
        await this.startReady();
        return;
      }
      case "attempt":
        if (!doc.attempt_running && doc.attempt === timer.attempt - 1) await this.startAttempt(doc, timer.attempt);
        return;
      case "lease":
        if (doc.attempt_running && doc.attempt === timer.attempt) {
          // An object that died between its History append and deleting the live row: already final.
          if (await this.finishedElsewhere(id)) {
            this.live.release([id]);
            return;
          }
          if (!doc.attempt_running || doc.attempt !== timer.attempt) return;
          const result: HandlerResult = {
            kind: "retryable",
            error: LEASE_EXPIRED_ERROR,
            cause: { kind: "lease_expired" },
            retry_after_ms: null,
          };
          this.finishAttempt(doc, timer.attempt, result, {
            started_at: doc.attempt_started_at ?? now,
            completed_at: now,
          });
          await this.startReady();
        }
        return;
    }
  }

  private sweepFlow(now: number): void {
    const flow = this.flow();
    if (!flow) {
      this.sql.exec("DELETE FROM gate_meta WHERE k = 'flow_sweep_at'");
      this.metaCache.set("flow_sweep_at", null);
      return;
    }
    const isLive = (id: string) => {
      const doc = this.live.get(id);
      return doc !== null && !this.live.isFinal(id) && !isTerminal(doc.status);
    };
    this.applyFlowEffects(flow.sweep(now, isLive), now);
    this.setMeta("flow_sweep_at", String(now + FLOW_SWEEP_EVERY_MS));
  }

  // ---- admit and the stages before the first attempt (SPEC 6 steps 1–5) ----------------------

  /**
   * Creates the dispatch (idempotent on dispatch_id) and runs the stages before the first attempt:
   * cancel check → predicate → autonomy → flow control → pause → attempt 1.
   */
  async admit(req: AdmitRequest): Promise<AdmitAnswer> {
    let existing = this.live.get(req.dispatch_id);
    if (!existing && req.recovering) {
      const done = await this.finishedElsewhere(req.dispatch_id);
      if (done) return { status: done, created: false };
      existing = this.live.get(req.dispatch_id);
    }
    if (existing && existing.status !== "pending") return { status: existing.status, created: false };
    if (!this.meta("spec")) {
      this.setMeta("spec", JSON.stringify(req.spec));
      this.setMeta("binding_key", req.binding_key);
      this.setMeta("binding_id", req.binding_id);
      this.setMeta("binding_version", String(req.binding_version));
      this.setMeta("signing_secret", req.signing_secret);
      if (req.previous_signing_secret)
        this.setMeta("previous_signing_secret", JSON.stringify(req.previous_signing_secret));
    }
    // A pause or resume that reached this object first wins over the flag the router read earlier.
    if (this.meta("paused") === null) this.setMeta("paused", req.paused ? "1" : "0");
    const now = Date.now();
    const doc = existing ?? this.newDoc(req, now);
    if (!existing) {
      this.live.add(doc);
      this.log(doc, { op: "created", at: now, status: "pending" });
    }
    this.runStages(doc, now, req.event, req.cached_verdict ?? null);
    await this.startReady(req.event);
    await this.settle();
    return { status: doc.status, created: !existing };
  }

  /** A recovering EventLog admits again: the dispatch may have finished and moved to History. */
  private async finishedElsewhere(dispatchId: string): Promise<DispatchStatus | null> {
    const bindingId = dispatchId.split("@v")[0] ?? "";
    const name = historyName(bindingId, partitionStart(dispatchKeyTime(dispatchId), partitionSpanMs(this.env)));
    const [found] = await historyReads(this.env, name).get([dispatchId]);
    return found ? found.doc.status : null;
  }

  /** SPEC 6 steps 2–5, synchronous: cancel check → predicate → autonomy → flow control → pause. */
  runStages(
    doc: DispatchDoc,
    now: number,
    event: unknown,
    cached: { pass: boolean; reason: string | null } | null = null,
  ): DispatchStatus {
    if (doc.cancel_requested) return this.cancelNow(doc, cancelError.beforeAttempt(doc.attempt + 1), now);
    const spec = this.spec();
    if (spec.when !== undefined) {
      const outcome = this.predicates.run(doc, spec, now, event, cached);
      if (outcome !== "passed") return outcome;
    }
    return this.autonomyStage(doc, now, event);
  }

  private decisionsBudgeted(doc: DispatchDoc): boolean {
    return decisionsBudgeted(this.tierOf(doc), this.spec().autonomy);
  }

  /** Step 4: an `act_auto` binding out of decisions asks a human instead of going on. */
  autonomyStage(doc: DispatchDoc, now: number, event: unknown): DispatchStatus {
    const autonomy = this.spec().autonomy;
    if (autonomy && doc.decision !== "approved" && this.decisionsBudgeted(doc)) {
      const reason = decisionLimitReached(autonomy, this.budgets.decisions(now));
      if (reason) return this.requireApproval(doc, reason, now);
    }
    return this.flowStage(doc, now, event);
  }

  private requireApproval(doc: DispatchDoc, reason: string, now: number): DispatchStatus {
    const request = {
      approval_required: true as const,
      request_id: newApprovalId(now),
      reason,
      reviewers: [...APPROVAL_REVIEWERS],
    };
    const tier = this.tierOf(doc);
    this.patch(doc, { status: "waiting", held_reason: "approval", approval_id: request.request_id }, now);
    this.log(doc, { op: "approval_required", at: now, request, tier });
    this.outbox.addTrust(
      this.trustInput(
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
          binding_key: this.meta("binding_key"),
          event_id: doc.event_id,
        },
        now,
      ),
    );
    return "waiting";
  }

  /** Step 5: flow control, or straight past it. */
  flowStage(doc: DispatchDoc, now: number, event: unknown): DispatchStatus {
    const flow = this.flow();
    if (flow && this.meta("flow_sweep_at") === null) this.setMeta("flow_sweep_at", String(now + FLOW_SWEEP_EVERY_MS));
    if (flow)
      return this.applyFlow(doc, flow.admit({ dispatchId: doc.dispatch_id, eventId: doc.event_id, event, now }), now);
    return this.afterFlow(doc, now, event);
  }

  /** Past flow control: held while the binding is paused, else ready for attempt 1. */
  private afterFlow(doc: DispatchDoc, now: number, event: unknown = null): DispatchStatus {
    // SPEC 8: an autonomous decision is counted once, when flow control admits the dispatch.
    if (doc.decision === null && this.decisionsBudgeted(doc)) {
      this.budgets.countDecision(now);
      this.patch(doc, { decision: "counted" }, now);
    }
    if (this.meta("paused") === "1") {
      this.patch(doc, { status: "held", held_reason: "paused" }, now);
      this.log(doc, { op: "status", at: now, status: "held", result: { held: true, reason: "binding paused" } });
      return "held";
    }
    const leavingHold = doc.status === "held";
    this.patch(doc, { status: "admitted", held_reason: null }, now);
    this.log(
      doc,
      leavingHold
        ? { op: "status", at: now, status: "admitted", result: null }
        : { op: "status", at: now, status: "admitted" },
    );
    const carried =
      event && typeof event === "object" && (event as { id?: unknown }).id === doc.event_id
        ? (event as TriggerEvent)
        : null;
    this.ready.push({ id: doc.dispatch_id, event: carried });
    return "admitted";
  }

  // ---- flow control (SPEC 9) ----------------------------------------------------------------

  private flowControl: FlowControl | null | undefined;

  flow(): FlowControl | null {
    if (this.flowControl === undefined) {
      // Before the first admit stores the spec there is nothing to decide: answer null uncached.
      if (!this.meta("spec")) return null;
      const spec = this.spec();
      this.flowControl = spec.flow_control
        ? new FlowControl({
            bindingKey: this.meta("binding_key") ?? "",
            flow: spec.flow_control,
            store: new SqlFlowStore(this.sql),
          })
        : null;
    }
    return this.flowControl;
  }

  /** Applies a flow decision: other dispatches it moved, its audit records, then the caller's outcome. */
  private applyFlow(doc: DispatchDoc, decision: FlowDecision, now: number): DispatchStatus {
    this.applyFlowEffects(decision, now);
    return this.applyFlowOutcome(doc, decision, now);
  }

  private applyFlowEffects(effects: FlowEffects, now: number): void {
    for (const transition of effects.others) {
      const other = this.live.get(transition.dispatch_id);
      if (other && !this.live.isFinal(other.dispatch_id) && !isTerminal(other.status)) {
        this.applyFlowOutcome(other, transition.outcome, now);
      }
    }
    for (const entry of effects.audit) {
      const subject = this.live.get(entry.dispatch_id);
      if (subject)
        this.log(subject, { op: "audit", at: now, topic: entry.topic, kind: entry.kind, payload: entry.payload });
    }
  }

  private applyFlowOutcome(doc: DispatchDoc, outcome: FlowOutcome, now: number): DispatchStatus {
    switch (outcome.kind) {
      case "admit": {
        if (doc.timer?.kind === "flow") this.clearTimer(doc, now);
        if (outcome.batch) this.patch(doc, { batch_event_ids: outcome.batch.members.map((m) => m.event_id) }, now);
        return this.afterFlow(doc, now);
      }
      case "skip": {
        if (doc.timer?.kind === "flow") this.clearTimer(doc, now);
        const detail = {
          skipped: true,
          flow_control: outcome.reason,
          ...(outcome.error ? { error: outcome.error } : {}),
        };
        this.patch(doc, { status: "skipped", held_reason: null, terminal_at: now }, now);
        this.log(doc, { op: "skipped", at: now, stage: "flow_control", detail });
        this.afterTerminal(doc, now, "skipped", outcome.reason);
        return "skipped";
      }
      case "wait": {
        if (outcome.until !== null) this.setTimer(doc, "flow", outcome.until, 0, now);
        else if (doc.timer?.kind === "flow") this.clearTimer(doc, now);
        if (doc.status !== "held" || doc.held_reason !== "flow") {
          const detail = { held: true, flow_control: outcome.primitive, gate: outcome.gate, until: outcome.eta };
          this.patch(doc, { status: "held", held_reason: "flow" }, now);
          this.log(doc, { op: "status", at: now, status: "held", result: detail });
        }
        return "held";
      }
      case "none":
        if (doc.timer?.kind === "flow") this.clearTimer(doc, now);
        return doc.status;
    }
  }

  // ---- attempts (SPEC 6 step 6–7, 10) --------------------------------------------------------

  /** Starts attempt 1 of every dispatch the last synchronous section admitted. */
  private async startReady(event?: TriggerEvent | null): Promise<void> {
    this.predicates.startClassifications();
    const ready = this.ready;
    this.ready = [];
    await Promise.all(
      ready.map(({ id, event: carried }) => {
        const doc = this.live.get(id);
        if (doc?.status !== "admitted" || doc.attempt !== 0) return undefined;
        return this.startAttempt(doc, 1, carried ?? (event?.id === doc.event_id ? event : null));
      }),
    );
  }

  private circuitOf(): CircuitRef | null {
    const spec = this.spec();
    const parsed = parseHandlerUri(spec.handler);
    if (!parsed.ok) return null;
    return {
      destination: destinationKey(parsed.value),
      ...circuitSettingsOf(spec.circuit),
      timeout_ms: spec.timeout_ms,
    };
  }

  /**
   * Attempt `attempt` of a dispatch waiting for it: the circuit first (a refused attempt never
   * starts), then the claim (status, lease, `started`) written before the handler is called, so a
   * restart can never call it twice. The call itself runs in the background.
   */
  private async startAttempt(doc: DispatchDoc, attempt: number, carried: TriggerEvent | null = null): Promise<void> {
    const circuit = this.circuitOf();
    const ref = { binding_key: doc.binding_key, dispatch_id: doc.dispatch_id, attempt };
    let allowed = { probe: false, state: "closed" as const as "closed" | "open" | "half_open", failures: 0 };
    // While the Destination vouches for a clean circuit, the attempt skips the check (SPEC 10 holds:
    // the Destination revokes that the moment a failure is counted or the circuit opens).
    if (circuit && Date.now() >= this.cleanCircuitUntil) {
      const asked = Date.now();
      const notices = this.circuitNotices;
      const check = await checkCircuit(this.env, circuit, ref);
      // A revocation that arrived while the check was under way wins over its answer.
      if (check.clean_for_ms !== undefined && this.circuitNotices === notices) {
        this.cleanCircuitUntil = asked + check.clean_for_ms;
      }
      const current = this.live.get(doc.dispatch_id);
      const stillWaiting =
        current === doc &&
        !doc.attempt_running &&
        doc.attempt === attempt - 1 &&
        (doc.status === "admitted" || doc.status === "retry_scheduled");
      if (!stillWaiting) {
        if (check.allow && check.probe) {
          await this.env.DESTINATION.getByName(circuit.destination)
            .abandon({ dispatch_id: doc.dispatch_id, attempt })
            .catch(() => {});
        }
        return;
      }
      if (!check.allow) {
        await this.circuitRefused(doc, attempt, circuit, check.error);
        return;
      }
      allowed = { probe: check.probe, state: check.state, failures: check.failures };
    }
    const now = Date.now();
    if (doc.cancel_requested) {
      this.cancelNow(doc, cancelError.beforeAttempt(attempt), now);
      await this.settle();
      return;
    }
    this.patch(doc, { status: "running", attempt, attempt_running: true, attempt_started_at: now }, now);
    this.setTimer(doc, "lease", now + this.spec().timeout_ms + LEASE_GRACE_MS, attempt, now);
    this.log(doc, { op: "started", at: now, attempt });
    this.live.commit();
    this.ctx.waitUntil(this.runAttempt(doc.dispatch_id, attempt, carried, circuit, allowed));
  }

  private async attemptContext(doc: DispatchDoc, attempt: number): Promise<AttemptContext> {
    const spec = this.spec();
    return {
      dispatch_id: doc.dispatch_id,
      binding_key: doc.binding_key,
      binding_id: doc.binding_id,
      event_id: doc.event_id,
      trace_id: doc.trace_id,
      attempt,
      replay_of_event_id: doc.replay_of_event_id,
      autonomy_tier: this.tierOf(doc),
      timeout_ms: spec.timeout_ms,
      ...(await this.signingSecrets(Date.now())),
      handler: spec.handler,
      binding_version: doc.binding_version,
      allow_cleartext: spec.allow_cleartext,
      dispatch_priority: spec.dispatch_priority,
      batch_event_ids: doc.batch_event_ids,
    };
  }

  private async runAttempt(
    id: string,
    attempt: number,
    carried: TriggerEvent | null,
    circuit: CircuitRef | null,
    allowed: { probe: boolean; state: "closed" | "open" | "half_open"; failures: number },
  ): Promise<void> {
    const doc = this.live.get(id);
    if (!doc) return;
    const key = `${id}#${attempt}`;
    const abort = new AbortController();
    this.running.set(key, abort);
    const started = doc.attempt_started_at ?? Date.now();
    let result: HandlerResult;
    try {
      const event = await attemptEvent(this.env, doc.event_id, doc.batch_event_ids, carried);
      result = await callHandler(this.env, await this.attemptContext(doc, attempt), event, abort.signal);
    } catch (error) {
      result = { kind: "retryable", error: String(error), cause: { kind: "other" }, retry_after_ms: null };
    } finally {
      this.running.delete(key);
    }
    const timing = { started_at: started, completed_at: Date.now() };
    const ref = { binding_key: doc.binding_key, dispatch_id: id, attempt };
    // Anything but a success may count against the circuit: check it again before the next attempt.
    if (result.kind !== "success") this.cleanCircuitUntil = 0;
    const opened = circuit ? await reportCircuit(this.env, circuit, ref, allowed, result, abort.signal.aborted) : null;
    const current = this.live.get(id);
    // A late result (the lease already settled this attempt) changes nothing.
    if (current !== doc || !doc.attempt_running || doc.attempt !== attempt) return;
    this.finishAttempt(doc, attempt, result, timing, opened);
    await this.startReady();
    await this.settle();
  }

  /** Records an attempt's result and moves the dispatch on (SPEC 6 step 7, 11). */
  private finishAttempt(
    doc: DispatchDoc,
    attempt: number,
    result: HandlerResult,
    timing: { started_at: number; completed_at: number },
    circuitOpenedError: string | null = null,
  ): DispatchStatus {
    const now = timing.completed_at;
    this.patch(doc, { attempt_running: false, timer: null }, now);
    if (doc.cancel_requested && result.kind !== "success") {
      // The attempt was aborted (or lost) because of the cancel request: report the real cause.
      this.log(doc, { op: "attempt_ended", attempt, result, ...timing });
      return this.cancelNow(doc, cancelError.handler, now, this.flow() !== null);
    }
    const decided = decideAfterAttempt({
      attempt,
      maxAttempts: doc.max_attempts,
      policy: this.spec().retry.policy,
      result,
    });
    // A failure that opened the destination's circuit dead-letters this dispatch even with attempts left.
    const decision: AttemptDecision =
      circuitOpenedError && result.kind === "retryable"
        ? {
            kind: "dlq",
            error: circuitOpenedError,
            errorClass: classifyError(result.cause, result.error),
            reason: "circuit_opened",
          }
        : decided;
    this.log(doc, { op: "finished", attempt, result, decision, ...timing });
    if (decision.kind === "retry") {
      this.patch(doc, { status: "retry_scheduled" }, now);
      this.setTimer(doc, "attempt", now + decision.delayMs, decision.nextAttempt, now);
      return "retry_scheduled";
    }
    const status: DispatchStatus = decision.kind;
    this.patch(doc, { status, terminal_at: now }, now);
    // Without flow control nothing else depends on this outcome before History holds it: if the
    // object dies first, the lease settles the attempt again (at-least-once, never the same attempt).
    this.afterTerminal(doc, now, status, "error" in decision ? decision.error : null, this.flow() !== null);
    if (status === "waiting" && result.kind === "waiting" && result.follow) {
      const state = (result.result as { state?: unknown } | undefined)?.state;
      this.follow.begin(doc, attempt, result.follow, typeof state === "string" ? state : "", now);
    }
    return status;
  }

  /** The destination refused the attempt: mode `dlq` dead-letters it, mode `hold` parks it (SPEC 10). */
  private async circuitRefused(doc: DispatchDoc, attempt: number, circuit: CircuitRef, error: string): Promise<void> {
    const now = Date.now();
    if (circuit.mode === "hold") {
      this.patch(doc, { status: "held", held_reason: "circuit", timer: null }, now);
      this.log(doc, { op: "status", at: now, status: "held", result: { held: true, reason: error } });
      await this.settle();
      const parked = await this.env.DESTINATION.getByName(circuit.destination).park({
        binding_key: doc.binding_key,
        dispatch_id: doc.dispatch_id,
        attempt,
        attempt_timeout_ms: circuit.timeout_ms,
      });
      // The circuit closed meanwhile: run it now.
      if (!parked.parked) await this.releaseParked(doc.dispatch_id, attempt);
      return;
    }
    const errorClass = classifyError({ kind: "circuit_open" }, error);
    this.patch(doc, { status: "dlq", terminal_at: now, timer: null }, now);
    this.log(doc, {
      op: "dead_lettered",
      at: now,
      attempt_count: doc.attempt,
      error,
      error_class: errorClass,
      reason: "circuit_open",
      from_node: null,
    });
    this.afterTerminal(doc, now, "dlq", error);
    await this.startReady();
    await this.settle();
  }

  /** The Destination lets a parked dispatch run again: the attempt it was refused. */
  async releaseParked(dispatchId: string, attempt: number): Promise<{ released: boolean }> {
    const doc = this.live.get(dispatchId);
    if (doc?.status !== "held" || doc.held_reason !== "circuit" || doc.attempt !== attempt - 1)
      return { released: false };
    const now = Date.now();
    const status = attempt === 1 ? "admitted" : "retry_scheduled";
    this.patch(doc, { status, held_reason: null }, now);
    this.log(doc, { op: "status", at: now, status, result: null });
    await this.startAttempt(doc, attempt);
    await this.settle();
    return { released: true };
  }

  // ---- endings (SPEC 6, 13) ----------------------------------------------------------------------

  trustInput(
    recordKey: string,
    action: string,
    outcome: string,
    tier: string,
    metadata: object,
    now: number,
  ): TrustInput {
    return {
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
  }

  /** The trust record of a terminal outcome (SPEC 8). */
  private finalTrust(doc: DispatchDoc, status: DispatchStatus, now: number, error: string | null): TrustInput {
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

  /**
   * Bookkeeping every terminal transition shares: leases and waits end (freed slots admit the next
   * waiters), a trust record, and for a final status the hand-over to History. `durable` writes the
   * final state here as well, for outcomes an RPC caller is told about.
   */
  afterTerminal(
    doc: DispatchDoc,
    now: number,
    status: DispatchStatus,
    error: string | null = null,
    durable = true,
  ): void {
    const trust = this.finalTrust(doc, status, now, error);
    if (status === "waiting") {
      this.outbox.addTrust(trust);
    } else {
      if (doc.timer) this.patch(doc, { timer: null }, now);
      this.timers.set(doc.dispatch_id, null);
      this.live.finalize(doc, durable);
      this.outbox.add(doc, trust);
    }
    const flow = this.flow();
    if (flow) this.applyFlowEffects(flow.release(doc.dispatch_id, now), now);
  }

  /** History holds these dispatches now. */
  private released(ids: string[]): void {
    this.live.release(ids);
    if (this.meta("draining") === "1" && this.liveCount() === 0) {
      this.ctx.waitUntil(terminateIfDrained(this.env.DB, this.meta("binding_key") ?? "", Date.now()).catch(() => {}));
    }
  }

  /** Ends a dispatch as `cancelled` now. */
  cancelNow(doc: DispatchDoc, error: string, now: number, durable = true): DispatchStatus {
    this.patch(
      doc,
      { status: "cancelled", attempt_running: false, cancel_requested: true, terminal_at: now, timer: null },
      now,
    );
    this.log(doc, { op: "cancelled", at: now, attempt_count: doc.attempt, error });
    this.afterTerminal(doc, now, "cancelled", error, durable);
    return "cancelled";
  }

  /**
   * Cancels a dispatch: at once when no attempt is running (before the first attempt, during a retry
   * wait, while held), otherwise by aborting the running attempt, which then ends `cancelled`.
   */
  async cancel(
    dispatchId: string,
    request: { requested_by: string | null; reason: string | null },
  ): Promise<CancelAnswer> {
    const doc = this.live.get(dispatchId);
    if (!doc || this.live.isFinal(dispatchId))
      return doc ? { state: "terminal", status: doc.status } : { state: "unknown" };
    if (isTerminal(doc.status) && doc.status !== "waiting") return { state: "terminal", status: doc.status };
    const now = Date.now();
    this.log(doc, {
      op: "cancel_requested",
      at: now,
      requested_by: request.requested_by,
      reason: request.reason,
      status: doc.status,
    });
    let answer: CancelAnswer;
    if (doc.status === "waiting") {
      // A resting dispatch (handler waiting, approval, budget deferral, followed A2A task) ends now.
      this.follow.cancelRemote(doc);
      const error = cancelError.waiting(doc.held_reason);
      answer = { state: "cancelled", status: this.cancelNow(doc, error, now) as "cancelled" };
    } else if (doc.attempt_running) {
      this.patch(doc, { cancel_requested: true }, now);
      this.running.get(`${dispatchId}#${doc.attempt}`)?.abort(new Error("cancelled"));
      answer = { state: "cancel_requested", status: doc.status };
    } else {
      const error =
        doc.status === "retry_scheduled" ? cancelError.retryWait : cancelError.beforeAttempt(doc.attempt + 1);
      answer = { state: "cancelled", status: this.cancelNow(doc, error, now) as "cancelled" };
      await this.startReady();
    }
    await this.settle();
    return answer;
  }

  /** Finishes a `waiting` dispatch with the caller's verdict. */
  async complete(
    dispatchId: string,
    verdict: { status: "succeeded" | "failed"; result?: unknown; error?: string | null },
  ): Promise<CompleteAnswer> {
    const doc = this.live.get(dispatchId);
    if (!doc) return { state: "unknown" };
    if (doc.status !== "waiting" || this.live.isFinal(dispatchId)) return { state: "not_waiting", status: doc.status };
    const now = Date.now();
    const error = verdict.status === "failed" ? (verdict.error ?? "completed as failed") : null;
    this.patch(doc, { status: verdict.status, terminal_at: now, held_reason: null, timer: null }, now);
    this.log(doc, {
      op: "completed",
      at: now,
      status: verdict.status,
      attempt_count: doc.attempt,
      result: verdict.result ?? null,
      error,
    });
    this.afterTerminal(doc, now, verdict.status, error);
    await this.settle();
    return { state: "completed", status: verdict.status };
  }

  /**
   * A reviewer's answer to an approval request: approve resumes the dispatch from flow control
   * (without counting a decision), deny ends it `failed`.
   */
  async decideApproval(
    dispatchId: string,
    requestId: string,
    decision: { approved: boolean; reviewer: string | null; reason: string | null },
  ): Promise<ApprovalAnswer> {
    const doc = this.live.get(dispatchId);
    if (!doc || doc.approval_id !== requestId) return { state: "unknown" };
    if (doc.status !== "waiting" || doc.held_reason !== "approval") return { state: "not_pending", status: doc.status };
    const event = decision.approved ? await this.predicates.loadEvent(doc.event_id) : null;
    if (doc.status !== "waiting" || doc.held_reason !== "approval") return { state: "not_pending", status: doc.status };
    const now = Date.now();
    this.log(doc, { op: "approval_decided", at: now, request_id: requestId, ...decision });
    let status: DispatchStatus;
    if (decision.approved) {
      this.patch(doc, { status: "pending", held_reason: null, decision: "approved" }, now);
      status = this.flowStage(doc, now, event);
    } else {
      const by = decision.reviewer ? ` by ${decision.reviewer}` : "";
      const error = `approval ${requestId} denied${by}${decision.reason ? `: ${decision.reason}` : ""}`;
      this.patch(doc, { status: "failed", held_reason: null, terminal_at: now }, now);
      this.log(doc, { op: "failed_before_attempt", at: now, attempt_count: 0, error });
      this.afterTerminal(doc, now, "failed", error);
      status = "failed";
    }
    await this.startReady(event);
    await this.settle();
    return { state: "decided", status };
  }

  // ---- binding lifecycle ---------------------------------------------------------------------

  private liveCount(): number {
    return this.live.live().filter((d) => !isTerminal(d.status)).length;
  }

  /** Pause holds new dispatches; resume releases held ones in arrival order. */
  async setPaused(paused: boolean): Promise<{ released: number }> {
    this.setMeta("paused", paused ? "1" : "0");
    if (paused || !this.meta("spec")) return { released: 0 };
    const held = this.live
      .live()
      .filter((d) => d.status === "held" && d.held_reason === "paused")
      .sort((a, b) => a.created_at - b.created_at || (a.dispatch_id < b.dispatch_id ? -1 : 1));
    const now = Date.now();
    // Held dispatches already passed flow control (pause comes after it), so they only need releasing.
    for (const doc of held) this.afterFlow(doc, now);
    await this.startReady();
    await this.settle();
    return { released: held.length };
  }

  /** Marks this version draining; it terminates once no dispatch is live. */
  async drain(bindingKey: string): Promise<{ live: number }> {
    this.setMeta("draining", "1");
    if (!this.meta("binding_key")) this.setMeta("binding_key", bindingKey);
    const live = this.liveCount();
    if (live === 0 && !this.outbox.pending()) await terminateIfDrained(this.env.DB, bindingKey, Date.now());
    return { live };
  }

  /** Waits until finished dispatches are in History and control-plane rows in D1 (tests, routes). */
  async flushNow(): Promise<{ pending: number }> {
    this.live.commit();
    await this.outbox.flush().catch(() => {});
    await this.d1.flush().catch(() => {});
    return { pending: (this.outbox.pending() ? 1 : 0) + (this.d1.pending() ? 1 : 0) };
  }

  // ---- reads ---------------------------------------------------------------------------------

  /** Dispatches as stored here (not final, or final and not yet in History). */
  async get(ids: string[]): Promise<DispatchDoc[]> {
    await this.settleOrphans();
    return ids.map((id) => this.live.readable(id)).filter((d): d is DispatchDoc => d !== null);
  }

  /** Every dispatch this gate holds, for lists and records by binding. */
  async held(): Promise<DispatchDoc[]> {
    await this.settleOrphans();
    return this.live.allReadable();
  }

  /** Event ids live dispatches still need (SPEC 1.1 retention), within `scope`. */
  async liveEventIds(scope: { from: number; to: number } | { ids: string[] }): Promise<string[]> {
    await this.settleOrphans();
    const wanted = "ids" in scope ? new Set(scope.ids) : null;
    const inScope = (id: string) => {
      if (wanted) return wanted.has(id);
      const at = uuidv7Time(id) ?? 0;
      return "from" in scope && at >= scope.from && at < scope.to;
    };
    const out = new Set<string>();
    for (const doc of this.live.live()) {
      for (const id of [doc.event_id, ...(doc.batch_event_ids ?? [])]) if (inScope(id)) out.add(id);
    }
    return [...out];
  }

  /** Until when the Destination vouched for a clean circuit (no `Destination.check` needed). */
  private cleanCircuitUntil = 0;
  private circuitNotices = 0;

  /** The Destination revokes its word: a failure was counted or the circuit left `closed`. */
  async circuitChanged(_destination: string): Promise<void> {
    this.circuitNotices += 1;
    this.cleanCircuitUntil = 0;
  }

  /** Live dispatches created in `[from, to)`: their History window must wait for their outcome. */
  async liveCreatedIn(scope: { from: number; to: number }): Promise<number> {
    await this.settleOrphans();
    let n = 0;
    for (const doc of this.live.live()) {
      const k = dispatchKeyTime(doc.dispatch_id);
      if (k >= scope.from && k < scope.to) n++;
    }
    return n;
  }

  /** Gate state for `/v1/stats`: dispatch counts plus every flow-control gate in use. */
  async snapshot(): Promise<{
    in_flight: number;
    scheduled_retries: number;
    held: number;
    paused: boolean;
    by_status: Record<string, number>;
    gates: ReturnType<FlowControl["snapshot"]>["gates"];
  }> {
    await this.settleOrphans();
    const docs = this.live.live();
    const byStatus: Record<string, number> = {};
    for (const d of docs) byStatus[d.status] = (byStatus[d.status] ?? 0) + 1;
    return {
      in_flight: docs.filter((d) => !isTerminal(d.status)).length,
      scheduled_retries: byStatus.retry_scheduled ?? 0,
      held: byStatus.held ?? 0,
      paused: this.meta("paused") === "1",
      by_status: byStatus,
      gates: this.flow()?.snapshot(Date.now()).gates ?? [],
    };
  }

  /** A control-plane statement outside a transition (a classifier verdict for replays). */
  queueD1(statement: Statement): void {
    this.d1.enqueue([statement]);
  }

  /** Opened signing secrets by their sealed form (the object's memory only; storage keeps them sealed). */
  private readonly opened = new Map<string, string>();

  private async openSecret(sealed: string): Promise<string> {
    const known = this.opened.get(sealed);
    if (known !== undefined) return known;
    const plain = await openSecret(sealed, requireSecretKeys(this.env));
    this.opened.set(sealed, plain);
    return plain;
  }

  /**
   * The secrets outbound calls are signed with now (opened from their sealed copies): the current
   * one, and the replaced one while it overlaps. Throws when `SECRETS_KEY` cannot open them.
   */
  async signingSecrets(now: number): Promise<{ signing_secret: string; previous_signing_secret: string | null }> {
    const current = this.meta("signing_secret") ?? "";
    const stored = this.meta("previous_signing_secret");
    const previous = stored ? (JSON.parse(stored) as PreviousSigningSecret) : null;
    const [, old] = signingSecretsAt(current, previous, now);
    return {
      signing_secret: current === "" ? "" : await this.openSecret(current),
      previous_signing_secret: old ? await this.openSecret(old) : null,
    };
  }

  /**
   * Seals this object's copies of the signing secrets under the current `SECRETS_KEY` (plaintext from
   * before encryption, or sealed under the previous key). Returns how many it rewrote.
   */
  async resealSecrets(): Promise<number> {
    const keys = requireSecretKeys(this.env);
    let rewritten = 0;
    const current = this.meta("signing_secret");
    if (current && (await needsReseal(current, keys))) {
      this.setMeta("signing_secret", await sealSecret(await openSecret(current, keys), keys));
      rewritten++;
    }
    const stored = this.meta("previous_signing_secret");
    const previous = stored ? (JSON.parse(stored) as PreviousSigningSecret) : null;
    if (previous && (await needsReseal(previous.secret, keys))) {
      const secret = await sealSecret(await openSecret(previous.secret, keys), keys);
      this.setMeta("previous_signing_secret", JSON.stringify({ ...previous, secret }));
      rewritten++;
    }
    return rewritten;
  }

  /** A rotation (SPEC 12.1): the binding's new secret, and the replaced one until its overlap ends. */
  async setSigningSecrets(current: string, previous: PreviousSigningSecret | null): Promise<void> {
    this.setMeta("signing_secret", current);
    if (previous) this.setMeta("previous_signing_secret", JSON.stringify(previous));
    else {
      this.sql.exec("DELETE FROM gate_meta WHERE k = 'previous_signing_secret'");
      this.metaCache.set("previous_signing_secret", null);
    }
  }

  waitUntil(promise: Promise<unknown>): void {
    this.ctx.waitUntil(promise);
  }

  /** For the predicate stage: restarts the stages after a classifier verdict or a deferral. */
  async continueAfter(): Promise<void> {
    await this.startReady();
    await this.settle();
  }

  /** Test hook for the classifier stage and others that need the object's context. */
  get state(): DurableObjectState {
    return this.ctx;
  }
}

export function handlerKindOf(uri: string): string {
  const parsed = parseHandlerUri(uri);
  return parsed.ok ? parsed.value.kind : "unknown";
}

export { graphIds };
