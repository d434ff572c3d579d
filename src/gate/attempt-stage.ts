/**
 * SPEC 6 steps 6–7 and 10–11 in the BindingGate: attempts. The destination's circuit is asked first
 * (a refused attempt never starts: `hold` parks the dispatch at the Destination, `dlq` dead-letters
 * it); then the claim (status `running`, a lease timer, `started`) is written before the handler is
 * called, so a restart can never call it twice. The call runs in the background (`attempt-runner`);
 * its result is recorded and decides what follows: done, a retry timer, or the DLQ. A lease that
 * expires settles an attempt that never reported.
 */
import { circuitSettingsOf } from "../circuit/circuit-policy";
import type { A2aFollow, DispatchStatus, HandlerResult } from "../contracts/dispatch";
import type { DispatchDoc } from "../contracts/dispatch-doc";
import type { TriggerEvent } from "../contracts/events";
import { destinationKey, parseHandlerUri } from "../contracts/handler-uri";
import { type AttemptDecision, decideAfterAttempt } from "../dispatch/attempt-decision";
import { classifyError } from "../dispatch/error-class";
import { LEASE_EXPIRED_ERROR } from "../dispatch/log-items";
import type { AttemptContext } from "../handlers/envelope";
import { attemptEvent, type CircuitRef, callHandler, checkCircuit, reportCircuit } from "./attempt-runner";
import { cancelError } from "./endings";
import type { GateCore } from "./gate-core";
import type { GateSecrets } from "./gate-secrets";

/** Extra time past the handler timeout before an unreported attempt is declared lost. */
const LEASE_GRACE_MS = 30_000;

type CircuitAllowance = { probe: boolean; state: "closed" | "open" | "half_open"; failures: number };
type Timing = { started_at: number; completed_at: number };

/** What the stage hands on when an A2A task is left running (SPEC 12.2). */
export type FollowStart = (doc: DispatchDoc, attempt: number, follow: A2aFollow, state: string, now: number) => void;

export class AttemptStage {
  /** Abort controllers of running attempts (`<dispatch_id>#<attempt>`). */
  private readonly running = new Map<string, AbortController>();
  /** Until when the Destination vouched for a clean circuit (no `Destination.check` needed). */
  private cleanCircuitUntil = 0;
  private circuitNotices = 0;

  constructor(
    private readonly gate: GateCore,
    private readonly secrets: GateSecrets,
    private readonly follow: FollowStart,
  ) {}

  /** Starts attempt 1 of each admitted dispatch, with its event when it is at hand. */
  async startFirst(ready: { id: string; event: TriggerEvent | null }[], event?: TriggerEvent | null): Promise<void> {
    await Promise.all(
      ready.map(({ id, event: carried }) => {
        const doc = this.gate.live.get(id);
        if (doc?.status !== "admitted" || doc.attempt !== 0) return undefined;
        return this.start(doc, 1, carried ?? (event?.id === doc.event_id ? event : null));
      }),
    );
  }

  /** The Destination revokes its word: a failure was counted or the circuit left `closed`. */
  circuitChanged(): void {
    this.circuitNotices += 1;
    this.cleanCircuitUntil = 0;
  }

  /** Aborts a running attempt (a cancel request); it then ends `cancelled`. */
  abort(dispatchId: string, attempt: number): void {
    this.running.get(`${dispatchId}#${attempt}`)?.abort(new Error("cancelled"));
  }

  private circuitOf(): CircuitRef | null {
    const spec = this.gate.spec();
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
   * starts), then the claim written before the handler is called. The call runs in the background.
   */
  async start(doc: DispatchDoc, attempt: number, carried: TriggerEvent | null = null): Promise<void> {
    const gate = this.gate;
    const circuit = this.circuitOf();
    let allowed: CircuitAllowance = { probe: false, state: "closed", failures: 0 };
    // While the Destination vouches for a clean circuit, the attempt skips the check (SPEC 10 holds:
    // the Destination revokes that the moment a failure is counted or the circuit opens).
    if (circuit && Date.now() >= this.cleanCircuitUntil) {
      const ref = { binding_key: doc.binding_key, dispatch_id: doc.dispatch_id, attempt };
      const asked = Date.now();
      const notices = this.circuitNotices;
      const check = await checkCircuit(gate.env, circuit, ref);
      // A revocation that arrived while the check was under way wins over its answer.
      if (check.clean_for_ms !== undefined && this.circuitNotices === notices) {
        this.cleanCircuitUntil = asked + check.clean_for_ms;
      }
      const stillWaiting =
        gate.live.get(doc.dispatch_id) === doc &&
        !doc.attempt_running &&
        doc.attempt === attempt - 1 &&
        (doc.status === "admitted" || doc.status === "retry_scheduled");
      if (!stillWaiting) {
        if (check.allow && check.probe) {
          await gate.env.DESTINATION.getByName(circuit.destination)
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
      gate.steps.cancelNow(doc, cancelError.beforeAttempt(attempt), now);
      await gate.settle();
      return;
    }
    gate.patch(doc, { status: "running", attempt, attempt_running: true, attempt_started_at: now }, now);
    gate.setTimer(doc, "lease", now + gate.spec().timeout_ms + LEASE_GRACE_MS, attempt, now);
    gate.log(doc, { op: "started", at: now, attempt });
    gate.live.commit();
    gate.waitUntil(this.run(doc.dispatch_id, attempt, carried, circuit, allowed));
  }

  private async context(doc: DispatchDoc, attempt: number): Promise<AttemptContext> {
    const spec = this.gate.spec();
    return {
      dispatch_id: doc.dispatch_id,
      binding_key: doc.binding_key,
      binding_id: doc.binding_id,
      event_id: doc.event_id,
      trace_id: doc.trace_id,
      attempt,
      replay_of_event_id: doc.replay_of_event_id,
      autonomy_tier: this.gate.tierOf(doc),
      timeout_ms: spec.timeout_ms,
      ...(await this.secrets.signingSecrets(Date.now())),
      handler: spec.handler,
      binding_version: doc.binding_version,
      allow_cleartext: spec.allow_cleartext,
      dispatch_priority: spec.dispatch_priority,
      batch_event_ids: doc.batch_event_ids,
      ordering: doc.ordering ?? null,
    };
  }

  private async run(
    id: string,
    attempt: number,
    carried: TriggerEvent | null,
    circuit: CircuitRef | null,
    allowed: CircuitAllowance,
  ): Promise<void> {
    const gate = this.gate;
    const doc = gate.live.get(id);
    if (!doc) return;
    const key = `${id}#${attempt}`;
    const abort = new AbortController();
    this.running.set(key, abort);
    const started = doc.attempt_started_at ?? Date.now();
    let result: HandlerResult;
    try {
      const event = await attemptEvent(gate.env, doc.event_id, doc.batch_event_ids, carried);
      result = await callHandler(gate.env, await this.context(doc, attempt), event, abort.signal);
    } catch (error) {
      result = { kind: "retryable", error: String(error), cause: { kind: "other" }, retry_after_ms: null };
    } finally {
      this.running.delete(key);
    }
    const timing = { started_at: started, completed_at: Date.now() };
    const ref = { binding_key: doc.binding_key, dispatch_id: id, attempt };
    // Anything but a success may count against the circuit: check it again before the next attempt.
    if (result.kind !== "success") this.cleanCircuitUntil = 0;
    const opened = circuit ? await reportCircuit(gate.env, circuit, ref, allowed, result, abort.signal.aborted) : null;
    // A late result (the lease already settled this attempt) changes nothing.
    if (gate.live.get(id) !== doc || !doc.attempt_running || doc.attempt !== attempt) return;
    this.finish(doc, attempt, result, timing, opened);
    await gate.steps.startReady();
    await gate.settle();
  }

  /** The lease of a running attempt expired: it is settled as lost (unless History already holds it). */
  async leaseExpired(doc: DispatchDoc, attempt: number, now: number, finishedElsewhere: () => Promise<unknown>) {
    if (!doc.attempt_running || doc.attempt !== attempt) return;
    // An object that died between its History append and deleting the live row: already final.
    if (await finishedElsewhere()) {
      this.gate.live.release([doc.dispatch_id]);
      return;
    }
    if (!doc.attempt_running || doc.attempt !== attempt) return;
    const result: HandlerResult = {
      kind: "retryable",
      error: LEASE_EXPIRED_ERROR,
      cause: { kind: "lease_expired" },
      retry_after_ms: null,
    };
    this.finish(doc, attempt, result, { started_at: doc.attempt_started_at ?? now, completed_at: now });
    await this.gate.steps.startReady();
  }

  /** Records an attempt's result and moves the dispatch on (SPEC 6 step 7, 11). */
  private finish(
    doc: DispatchDoc,
    attempt: number,
    result: HandlerResult,
    timing: Timing,
    circuitOpenedError: string | null = null,
  ): DispatchStatus {
    const gate = this.gate;
    const now = timing.completed_at;
    gate.patch(doc, { attempt_running: false, timer: null }, now);
    if (doc.cancel_requested && result.kind !== "success") {
      // The attempt was aborted (or lost) because of the cancel request: report the real cause.
      gate.log(doc, { op: "attempt_ended", attempt, result, ...timing });
      return gate.steps.cancelNow(doc, cancelError.handler, now, gate.steps.hasFlow());
    }
    const decided = decideAfterAttempt({
      attempt,
      maxAttempts: doc.max_attempts,
      policy: gate.spec().retry.policy,
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
    gate.log(doc, { op: "finished", attempt, result, decision, ...timing });
    if (decision.kind === "retry") {
      gate.patch(doc, { status: "retry_scheduled" }, now);
      gate.setTimer(doc, "attempt", now + decision.delayMs, decision.nextAttempt, now);
      return "retry_scheduled";
    }
    const status: DispatchStatus = decision.kind;
    gate.patch(doc, { status, terminal_at: now }, now);
    // Without flow control nothing else depends on this outcome before History holds it: if the
    // object dies first, the lease settles the attempt again (at-least-once, never the same attempt).
    gate.steps.afterTerminal(doc, now, status, "error" in decision ? decision.error : null, gate.steps.hasFlow());
    if (status === "waiting" && result.kind === "waiting" && result.follow) {
      const state = (result.result as { state?: unknown } | undefined)?.state;
      this.follow(doc, attempt, result.follow, typeof state === "string" ? state : "", now);
    }
    return status;
  }

  /** The destination refused the attempt: mode `dlq` dead-letters it, mode `hold` parks it (SPEC 10). */
  private async circuitRefused(doc: DispatchDoc, attempt: number, circuit: CircuitRef, error: string): Promise<void> {
    const gate = this.gate;
    const now = Date.now();
    if (circuit.mode === "hold") {
      gate.patch(doc, { status: "held", held_reason: "circuit", timer: null }, now);
      gate.log(doc, { op: "status", at: now, status: "held", result: { held: true, reason: error } });
      await gate.settle();
      const parked = await gate.env.DESTINATION.getByName(circuit.destination).park({
        binding_key: doc.binding_key,
        dispatch_id: doc.dispatch_id,
        attempt,
        attempt_timeout_ms: circuit.timeout_ms,
      });
      // The circuit closed meanwhile: run it now.
      if (!parked.parked) await this.releaseParked(doc.dispatch_id, attempt);
      return;
    }
    gate.patch(doc, { status: "dlq", terminal_at: now, timer: null }, now);
    gate.log(doc, {
      op: "dead_lettered",
      at: now,
      attempt_count: doc.attempt,
      error,
      error_class: classifyError({ kind: "circuit_open" }, error),
      reason: "circuit_open",
      from_node: null,
    });
    gate.steps.afterTerminal(doc, now, "dlq", error);
    await gate.steps.startReady();
    await gate.settle();
  }

  /** The Destination lets a parked dispatch run again: the attempt it was refused. */
  async releaseParked(dispatchId: string, attempt: number): Promise<{ released: boolean }> {
    const gate = this.gate;
    const doc = gate.live.get(dispatchId);
    if (doc?.status !== "held" || doc.held_reason !== "circuit" || doc.attempt !== attempt - 1)
      return { released: false };
    const now = Date.now();
    const status = attempt === 1 ? "admitted" : "retry_scheduled";
    gate.patch(doc, { status, held_reason: null }, now);
    gate.log(doc, { op: "status", at: now, status, result: null });
    await this.start(doc, attempt);
    await gate.settle();
    return { released: true };
  }
}
