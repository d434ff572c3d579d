/**
 * BindingGate: one Durable Object per binding_key, the dispatch state machine of its binding version
 * (SPEC 6). This class is the shell: its RPC methods are the entry points and read as the table of
 * contents of the machine; each step lives in its own module:
 * - `gate-core`: storage (meta, live documents, timers, History and D1 outboxes) and the alarm;
 * - `predicate-stage` (step 3), `autonomy-stage` (step 4), `flow-stage` (step 5 and pause);
 * - `attempt-stage` (steps 6–7, circuit, retries, leases), `a2a-follow-stage` (followed A2A tasks);
 * - `endings` (terminal bookkeeping, cancel, complete), `gate-activation` (waking up), `gate-reads`.
 * Every check and the write that follows it happen with no `await` in between, so two requests can
 * never both pass the same check.
 */
import { DurableObject } from "cloudflare:workers";
import { type DispatchStatus, isTerminal } from "../contracts/dispatch";
import type { DispatchDoc, DispatchTimer } from "../contracts/dispatch-doc";
import type { TriggerEvent } from "../contracts/events";
import type {
  AdmitAnswer,
  AdmitRequest,
  ApprovalAnswer,
  CancelAnswer,
  CompleteAnswer,
  PreviousSigningSecret,
} from "../contracts/gate-rpc";
import { terminateIfDrained } from "../db/bindings-repo";
import { followDeps } from "../handlers/a2a-follow";
import { countDurableObjectOps } from "../observability/counting-bindings";
import { A2aFollowStage } from "./a2a-follow-stage";
import { AttemptStage } from "./attempt-stage";
import { AutonomyStage } from "./autonomy-stage";
import { cancelError, Endings } from "./endings";
import { FlowStage } from "./flow-stage";
import { Activation, finishedElsewhere } from "./gate-activation";
import { GateCore, SAFETY_ALARM_MS } from "./gate-core";
import { createdIn, type GateSnapshot, gateSnapshot, neededEventIds } from "./gate-reads";
import { GateSecrets } from "./gate-secrets";
import { newDispatchDoc } from "./new-dispatch";
import { PredicateStage } from "./predicate-stage";

export class BindingGate extends DurableObject<Env> {
  private readonly core: GateCore;
  private readonly secrets: GateSecrets;
  private readonly predicates: PredicateStage;
  private readonly autonomy: AutonomyStage;
  private readonly flow: FlowStage;
  private readonly attempts: AttemptStage;
  private readonly follow: A2aFollowStage;
  private readonly endings: Endings;
  private readonly activation: Activation;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    countDurableObjectOps(this, "BindingGate");
    const core = new GateCore(ctx, env);
    this.core = core;
    this.secrets = new GateSecrets(core, env);
    this.predicates = new PredicateStage(core, this.secrets);
    this.autonomy = new AutonomyStage(core);
    this.flow = new FlowStage(core);
    this.follow = new A2aFollowStage(core, followDeps(env));
    this.attempts = new AttemptStage(core, this.secrets, (doc, attempt, follow, state, now) =>
      this.follow.begin(doc, attempt, follow, state, now),
    );
    this.endings = new Endings(core, {
      releaseFlow: (id, now, status) => this.flow.release(id, now, status),
      unblockOrdering: (id, now) => this.flow.unblock(id, now),
      abortAttempt: (id, attempt) => this.attempts.abort(id, attempt),
      cancelFollowedTask: (doc) => this.follow.cancelRemote(doc),
    });
    core.steps = {
      runStages: (doc, now, event, cached) => this.runStages(doc, now, event, cached ?? null),
      autonomyStage: (doc, now, event) => this.autonomy.enter(doc, now, event),
      flowStage: (doc, now, event) => this.flow.enter(doc, now, event),
      startReady: (event) => this.startReady(event),
      afterTerminal: (doc, now, status, error, durable) => this.endings.afterTerminal(doc, now, status, error, durable),
      cancelNow: (doc, error, now, durable) => this.endings.cancelNow(doc, error, now, durable),
      hasFlow: () => this.flow.flow() !== null,
    };
    this.activation = new Activation(core, (id, timer, now) => this.fireTimer(id, timer, now));
  }

  // ---- the state machine ----------------------------------------------------------------------

  /**
   * Creates the dispatch (idempotent on dispatch_id) and runs the stages before the first attempt:
   * cancel check → predicate → autonomy → flow control → pause → attempt 1.
   */
  async admit(req: AdmitRequest): Promise<AdmitAnswer> {
    const core = this.core;
    // Read before anything else: the await lets other calls in, so nothing is read yet that they could change.
    await this.flow.refreshWatermark(req.spec.flow_control?.ordering !== undefined, Date.now());
    let existing = core.live.get(req.dispatch_id);
    if (!existing && req.recovering) {
      // A recovering EventLog admits again: the dispatch may have finished and moved to History.
      const done = await finishedElsewhere(this.env, req.dispatch_id);
      if (done) return { status: done, created: false };
      existing = core.live.get(req.dispatch_id);
    }
    if (existing && existing.status !== "pending") return { status: existing.status, created: false };
    if (!core.meta("spec")) {
      core.setMeta("spec", JSON.stringify(req.spec));
      core.setMeta("binding_key", req.binding_key);
      core.setMeta("binding_id", req.binding_id);
      core.setMeta("binding_version", String(req.binding_version));
      core.setMeta("signing_secret", req.signing_secret);
      if (req.previous_signing_secret)
        core.setMeta("previous_signing_secret", JSON.stringify(req.previous_signing_secret));
    }
    // A pause or resume that reached this object first wins over the flag the router read earlier.
    if (core.meta("paused") === null) core.setMeta("paused", req.paused ? "1" : "0");
    const now = Date.now();
    const doc = existing ?? newDispatchDoc(req, now);
    if (!existing) {
      core.live.add(doc);
      core.log(doc, { op: "created", at: now, status: "pending" });
    }
    this.runStages(doc, now, req.event, req.cached_verdict ?? null);
    await this.startReady(req.event);
    await core.settle();
    return { status: doc.status, created: !existing };
  }

  /** SPEC 6 steps 2–5, synchronous: cancel check → predicate → autonomy → flow control → pause. */
  private runStages(
    doc: DispatchDoc,
    now: number,
    event: unknown,
    cached: { pass: boolean; reason: string | null } | null,
  ): DispatchStatus {
    if (doc.cancel_requested) return this.endings.cancelNow(doc, cancelError.beforeAttempt(doc.attempt + 1), now);
    const spec = this.core.spec();
    if (spec.when !== undefined) {
      const outcome = this.predicates.run(doc, spec, now, event, cached);
      if (outcome !== "passed") return outcome;
    }
    return this.autonomy.enter(doc, now, event);
  }

  /** Steps 6–7: attempt 1 of every dispatch the last section admitted, and queued classifier calls. */
  private async startReady(event?: TriggerEvent | null): Promise<void> {
    this.predicates.startClassifications();
    await this.attempts.startFirst(this.core.takeReady(), event);
  }

  /** Timers of every kind share the object's one alarm; outboxes and the flow sweep ride on it too. */
  override async alarm(): Promise<void> {
    const core = this.core;
    core.alarmFired();
    await this.activation.settleOrphans();
    await this.flow.refreshWatermark(
      core.meta("spec") !== null && core.spec().flow_control?.ordering !== undefined,
      Date.now(),
    );
    const now = Date.now();
    await core.flushDue(now);
    this.flow.wake(now);
    await this.startReady();
    const sweepAt = core.meta("flow_sweep_at");
    if (sweepAt !== null && Number(sweepAt) <= now) {
      this.flow.sweep(now);
      await this.startReady();
    }
    for (const { id, timer } of core.timers.due(now)) {
      try {
        await this.fireTimer(id, timer, now);
      } catch (error) {
        console.error(JSON.stringify({ msg: "timer failed", kind: timer.kind, dispatch_id: id, error: String(error) }));
        core.timers.set(id, { ...timer, at: now + SAFETY_ALARM_MS });
      }
    }
    await core.settle();
  }

  private async fireTimer(id: string, timer: DispatchTimer, now: number): Promise<void> {
    const core = this.core;
    const doc = core.live.get(id);
    if (!doc || core.live.isFinal(id) || (isTerminal(doc.status) && doc.status !== "waiting")) return;
    if (doc.timer && doc.timer.kind === timer.kind) core.patch(doc, { timer: null }, now);
    switch (timer.kind) {
      case "predicate":
        return this.predicates.onTimer(doc, now);
      case "a2a":
        return this.follow.onTimer(doc, now);
      case "flow":
        this.flow.onTimer(doc, now);
        return this.startReady();
      case "attempt":
        if (!doc.attempt_running && doc.attempt === timer.attempt - 1) await this.attempts.start(doc, timer.attempt);
        return;
      case "lease":
        return this.attempts.leaseExpired(doc, timer.attempt, now, () => finishedElsewhere(this.env, id));
    }
  }

  /** Cancels a dispatch (SPEC 13.1): at once when nothing runs, else by aborting its attempt. */
  async cancel(
    dispatchId: string,
    request: { requested_by: string | null; reason: string | null },
  ): Promise<CancelAnswer> {
    return this.endings.cancel(dispatchId, request);
  }

  /** Finishes a `waiting` dispatch with the caller's verdict. */
  async complete(
    dispatchId: string,
    verdict: { status: "succeeded" | "failed"; result?: unknown; error?: string | null },
  ): Promise<CompleteAnswer> {
    return this.endings.complete(dispatchId, verdict);
  }

  /** A reviewer's answer to an approval request. */
  async decideApproval(
    dispatchId: string,
    requestId: string,
    decision: { approved: boolean; reviewer: string | null; reason: string | null },
  ): Promise<ApprovalAnswer> {
    return this.autonomy.decide(dispatchId, requestId, decision);
  }

  /** The Destination lets a parked dispatch run again: the attempt it was refused. */
  async releaseParked(dispatchId: string, attempt: number): Promise<{ released: boolean }> {
    return this.attempts.releaseParked(dispatchId, attempt);
  }

  /** The Destination revokes its word: a failure was counted or the circuit left `closed`. */
  async circuitChanged(_destination: string): Promise<void> {
    this.attempts.circuitChanged();
  }

  /** A dead-lettered or failed dispatch was resolved: an ordering line it holds goes on (SPEC 9.7). */
  async unblockOrdering(dispatchId: string): Promise<void> {
    const core = this.core;
    if (!core.meta("spec")) return;
    this.flow.unblock(dispatchId, Date.now());
    await this.startReady();
    await core.settle();
  }

  // ---- binding lifecycle ----------------------------------------------------------------------

  /** Pause holds new dispatches; resume releases held ones in arrival order. */
  async setPaused(paused: boolean): Promise<{ released: number }> {
    const core = this.core;
    core.setMeta("paused", paused ? "1" : "0");
    if (paused || !core.meta("spec")) return { released: 0 };
    const held = core.live
      .live()
      .filter((d) => d.status === "held" && d.held_reason === "paused")
      .sort((a, b) => a.created_at - b.created_at || (a.dispatch_id < b.dispatch_id ? -1 : 1));
    const now = Date.now();
    // Held dispatches already passed flow control (pause comes after it), so they only need releasing.
    for (const doc of held) this.flow.afterFlow(doc, now);
    await this.startReady();
    await core.settle();
    return { released: held.length };
  }

  /** Marks this version draining; it terminates once no dispatch is live. */
  async drain(bindingKey: string): Promise<{ live: number }> {
    const core = this.core;
    core.setMeta("draining", "1");
    if (!core.meta("binding_key")) core.setMeta("binding_key", bindingKey);
    const live = core.liveCount();
    if (live === 0 && !core.outbox.pending()) await terminateIfDrained(this.env.DB, bindingKey, Date.now());
    return { live };
  }

  /** Waits until finished dispatches are in History and control-plane rows in D1 (tests, routes). */
  async flushNow(): Promise<{ pending: number }> {
    const core = this.core;
    core.live.commit();
    await core.outbox.flush().catch(() => {});
    await core.d1.flush().catch(() => {});
    return { pending: (core.outbox.pending() ? 1 : 0) + (core.d1.pending() ? 1 : 0) };
  }

  /** Re-seals the signing secrets under the current `SECRETS_KEY`; returns how many it rewrote. */
  async resealSecrets(): Promise<number> {
    return this.secrets.reseal();
  }

  /** A rotation (SPEC 12.1): the binding's new secret, and the replaced one until its overlap ends. */
  async setSigningSecrets(current: string, previous: PreviousSigningSecret | null): Promise<void> {
    this.secrets.set(current, previous);
  }

  // ---- reads ----------------------------------------------------------------------------------

  /** Dispatches as stored here (not final, or final and not yet in History). */
  async get(ids: string[]): Promise<DispatchDoc[]> {
    await this.activation.settleOrphans();
    return ids.map((id) => this.core.live.readable(id)).filter((d): d is DispatchDoc => d !== null);
  }

  /** Every dispatch this gate holds, for lists and records by binding. */
  async held(): Promise<DispatchDoc[]> {
    await this.activation.settleOrphans();
    return this.core.live.allReadable();
  }

  /** Event ids live dispatches still need (SPEC 1.1 retention), within `scope`. */
  async liveEventIds(scope: { from: number; to: number } | { ids: string[] }): Promise<string[]> {
    await this.activation.settleOrphans();
    return neededEventIds(this.core.live.live(), scope, this.flow.flow()?.carriedEventIds() ?? []);
  }

  /** Live dispatches created in `[from, to)`: their History window must wait for their outcome. */
  async liveCreatedIn(scope: { from: number; to: number }): Promise<number> {
    await this.activation.settleOrphans();
    return createdIn(this.core.live.live(), scope);
  }

  /** Gate state for `/v1/stats`: dispatch counts plus every flow-control gate in use. */
  async snapshot(): Promise<GateSnapshot> {
    await this.activation.settleOrphans();
    return gateSnapshot(this.core.live.live(), this.core.meta("paused") === "1", this.flow.flow(), Date.now());
  }
}
