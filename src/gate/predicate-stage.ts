/**
 * SPEC 6 step 3 in the BindingGate: the predicate (CEL, or a classifier call with its budgets and
 * breaker, SPEC 7). CEL runs inside the gate's synchronous section; a classifier call is the one
 * stage that needs I/O, so it runs after the section (status stays `pending`, `held_reason =
 * classifying`) and its verdict re-enters a new section that re-checks the dispatch (a cancel in
 * between wins). A `predicate` timer restarts a call lost with an evicted object and runs
 * `retry_later` deferrals at their `retry_at`.
 */
import type { BindingSpec } from "../contracts/binding-spec";
import type { DispatchStatus } from "../contracts/dispatch";
import type { DispatchDoc } from "../contracts/dispatch-doc";
import type { TriggerEvent } from "../contracts/events";
import { identityOf } from "../dispatch/dispatch-view";
import { graphIds } from "../dispatch/log-items";
import { loadEvent } from "../history/event-reader";
import { iso } from "../lib/time";
import { afterEvaluation, breakerIsOpen } from "../predicates/breaker";
import { expectedCost, onExhausted, preflight } from "../predicates/budget";
import { callClassifier } from "../predicates/classifier-call";
import {
  cachedVerdict,
  evaluateCelPredicate,
  judgeClassifier,
  type PredicateVerdict,
  unevaluatedVerdict,
} from "../predicates/verdict";
import { verdictCached } from "./control-writes";
import type { GateCore } from "./gate-core";
import type { GateSecrets } from "./gate-secrets";

/** Extra time past the classifier timeout before a lost call is started again. */
const CLASSIFY_GRACE_MS = 30_000;

export class PredicateStage {
  /** Classifier calls to start once the current synchronous section ends. */
  private queue: string[] = [];
  /** Event JSON already at hand for a queued call. */
  private readonly events = new Map<string, unknown>();
  private readonly calls = new Map<string, Promise<void>>();

  constructor(
    private readonly gate: GateCore,
    private readonly secrets: GateSecrets,
  ) {}

  private get env(): Env {
    return this.gate.env;
  }

  /** Step 3. CEL runs here; a classifier call starts after this section (status stays `pending`). */
  run(
    doc: DispatchDoc,
    spec: BindingSpec,
    now: number,
    event: unknown,
    cached: { pass: boolean; reason: string | null } | null,
  ): DispatchStatus | "passed" {
    const when = spec.when;
    if (when === undefined) return "passed";
    const label = typeof when === "string" ? when : when.classifier;
    if (breakerIsOpen(this.gate.budgets.breaker(), now)) {
      this.gate.log(doc, {
        op: "predicate_evaluated",
        at: now,
        verdict: unevaluatedVerdict(false, "circuit_open"),
        predicate: label,
      });
      return this.skip(doc, label, "circuit_open", now);
    }
    if (typeof when === "string") return this.applyVerdict(doc, evaluateCelPredicate(when, event), label, null, now);
    if (cached) return this.applyVerdict(doc, cachedVerdict(cached), label, when.classifier, now);
    const budget = spec.budget;
    if (budget) {
      const spent = this.gate.budgets.spent(now);
      const expected = expectedCost(this.gate.budgets.recentCosts(), when.max_cost_usd);
      const reason = preflight(budget, spent, expected);
      if (reason) {
        const detail = {
          reason,
          strategy: budget.on_exhausted,
          spent_hour_usd: spent.hour,
          spent_day_usd: spent.day,
          expected_cost_usd: expected,
        };
        this.gate.log(doc, { op: "budget_exceeded", at: now, detail });
        const outcome = onExhausted(budget, reason, now);
        switch (outcome.kind) {
          case "skip":
            return this.skip(doc, label, reason, now);
          case "proceed": {
            const verdict = unevaluatedVerdict(true, `${reason}: passed without calling the classifier (warn)`);
            this.gate.log(doc, { op: "predicate_evaluated", at: now, verdict, predicate: label });
            return "passed";
          }
          case "dlq": {
            this.gate.patch(doc, { status: "dlq", held_reason: null, terminal_at: now }, now);
            this.gate.log(doc, {
              op: "dead_lettered",
              at: now,
              attempt_count: 0,
              error: outcome.error,
              error_class: "budget_exhausted",
              reason,
              from_node: graphIds.predicate(identityOf(doc)),
            });
            this.gate.steps.afterTerminal(doc, now, "dlq", outcome.error);
            return "dlq";
          }
          case "defer": {
            const result = { deferred: true as const, reason, retry_at: iso(outcome.retry_at) };
            this.gate.patch(doc, { status: "waiting", held_reason: "deferred" }, now);
            this.gate.log(doc, { op: "deferred", at: now, detail: result });
            this.gate.setTimer(doc, "predicate", outcome.retry_at, 0, now);
            return "waiting";
          }
        }
      }
    }
    this.gate.patch(doc, { status: "pending", held_reason: "classifying" }, now);
    this.gate.setTimer(doc, "predicate", now + (when.timeout_ms ?? spec.timeout_ms) + CLASSIFY_GRACE_MS, 0, now);
    if (event !== null && event !== undefined) this.events.set(doc.dispatch_id, event);
    this.queue.push(doc.dispatch_id);
    return "pending";
  }

  /** Records a verdict (breaker, spend, cache) and skips the dispatch unless it passed. */
  private applyVerdict(
    doc: DispatchDoc,
    verdict: PredicateVerdict,
    label: string,
    classifier: string | null,
    now: number,
  ): DispatchStatus | "passed" {
    this.gate.log(doc, { op: "predicate_evaluated", at: now, verdict, predicate: label });
    if (!verdict.cached) {
      this.gate.budgets.setBreaker(afterEvaluation(this.gate.budgets.breaker(), verdict.failed, now));
      if (classifier) {
        this.gate.budgets.spend(verdict.cost_usd, now);
        if (!verdict.failed && verdict.overrun?.ceiling !== "timeout_ms") {
          this.gate.queueD1(verdictCached(doc.event_id, classifier, verdict, now));
        }
      }
    }
    if (verdict.result) return "passed";
    return this.skip(doc, label, verdict.reason ?? "predicate returned false", now);
  }

  private skip(doc: DispatchDoc, predicate: string, reason: string, now: number): DispatchStatus {
    const detail = { skipped: true, predicate, reason };
    this.gate.patch(doc, { status: "skipped", held_reason: null, terminal_at: now, timer: null }, now);
    this.gate.log(doc, { op: "skipped", at: now, stage: "predicate", detail });
    this.gate.steps.afterTerminal(doc, now, "skipped", reason);
    return "skipped";
  }

  loadEvent(eventId: string): Promise<TriggerEvent | null> {
    return loadEvent(this.env, eventId);
  }

  /** Starts the classifier calls queued by the last synchronous section. */
  startClassifications(): void {
    const ids = this.queue;
    this.queue = [];
    for (const id of ids) {
      if (this.calls.has(id)) continue;
      const run = this.classify(id)
        .catch((error) => {
          // The predicate timer starts the call again.
          console.error(JSON.stringify({ msg: "classifier evaluation failed", dispatch_id: id, error: String(error) }));
        })
        .finally(() => this.calls.delete(id));
      this.calls.set(id, run);
      this.gate.waitUntil(run);
    }
  }

  /** One classifier call, then (synchronously again) the verdict and the stages after it. */
  private async classify(dispatchId: string): Promise<void> {
    const doc = this.gate.live.get(dispatchId);
    if (doc?.status !== "pending" || doc.held_reason !== "classifying") return;
    const spec = this.gate.spec();
    const when = spec.when;
    if (when === undefined || typeof when === "string") return;
    const known = this.events.get(dispatchId);
    this.events.delete(dispatchId);
    const event = (known as TriggerEvent | undefined) ?? (await this.loadEvent(doc.event_id));
    const timeoutMs = when.timeout_ms ?? spec.timeout_ms;
    const call = event
      ? await callClassifier(
          this.env,
          {
            classifier: when.classifier,
            dispatch_id: dispatchId,
            binding_id: this.gate.meta("binding_id") ?? "",
            binding_key: this.gate.meta("binding_key") ?? "",
            trace_id: doc.trace_id,
            ...(await this.secrets.signingSecrets(Date.now())),
            timeout_ms: timeoutMs,
            max_cost_usd: when.max_cost_usd,
            max_tokens: when.max_tokens,
            event,
          },
          () => Date.now(),
        )
      : ({ kind: "error", error: `event ${doc.event_id} not found`, latency_ms: 0 } as const);
    const verdict = judgeClassifier(
      call,
      { timeout_ms: timeoutMs, max_cost_usd: when.max_cost_usd, max_tokens: when.max_tokens },
      spec.budget?.on_exhausted === "warn",
    );
    // Cancelled (or otherwise moved on) while the classifier was thinking: the verdict is moot.
    if (doc.status !== "pending" || doc.held_reason !== "classifying" || this.gate.live.isFinal(dispatchId)) return;
    const now = Date.now();
    this.gate.clearTimer(doc, now);
    this.gate.patch(doc, { held_reason: null }, now);
    if (this.applyVerdict(doc, verdict, when.classifier, when.classifier, now) === "passed") {
      this.gate.steps.autonomyStage(doc, now, event);
    }
    await this.gate.continueAfter();
  }

  /** A classifier call lost with its object (start again), or a `retry_later` deferral due (re-run). */
  async onTimer(doc: DispatchDoc, now: number): Promise<void> {
    if (doc.status === "pending" && doc.held_reason === "classifying") {
      const spec = this.gate.spec();
      const when = spec.when;
      const timeoutMs = typeof when === "object" ? (when.timeout_ms ?? spec.timeout_ms) : spec.timeout_ms;
      this.gate.setTimer(doc, "predicate", now + timeoutMs + CLASSIFY_GRACE_MS, 0, now);
      this.queue.push(doc.dispatch_id);
      this.startClassifications();
      return;
    }
    if (doc.status !== "waiting" || doc.held_reason !== "deferred") return;
    const event = await this.loadEvent(doc.event_id);
    if (doc.status !== "waiting" || doc.held_reason !== "deferred") return;
    const at = Date.now();
    this.gate.patch(doc, { status: "pending", held_reason: null, timer: null }, at);
    this.gate.log(doc, { op: "resumed", at });
    this.gate.steps.runStages(doc, at, event);
    await this.gate.continueAfter();
  }
}
