/**
 * BindingGate: one Durable Object per binding_key. It owns the dispatch state machine of its
 * binding version (SPEC 6): stages before the first attempt, attempt start/finish, retry waits and
 * attempt leases as rows of one timers table multiplexed onto a single alarm. State lives in DO
 * SQLite, so eviction or a restart loses nothing; D1 holds the queryable mirror (DispatchLog).
 */
import { DurableObject } from "cloudflare:workers";
import { drizzle } from "drizzle-orm/d1";
import { APPROVAL_REVIEWERS, decisionLimitReached, decisionsBudgeted } from "../autonomy/decision-budget";
import { DEFAULT_TIER, type Tier } from "../autonomy/tiers";
import { circuitSettingsOf } from "../circuit/circuit-policy";
import type { BindingSpec } from "../contracts/binding-spec";
import { type DispatchStatus, type HandlerResult, isTerminal } from "../contracts/dispatch";
import type { TriggerEvent } from "../contracts/events";
import { destinationKey, parseHandlerUri } from "../contracts/handler-uri";
import type { DispatchMessage } from "../contracts/messages";
import { terminateIfDrained } from "../db/bindings-repo";
import { eventFromRow, getEventRow } from "../db/events-repo";
import { type AttemptDecision, decideAfterAttempt } from "../dispatch/attempt-decision";
import {
  type ApprovalRequest,
  type DispatchIdentity,
  DispatchLog,
  graphIds,
  type Item,
} from "../dispatch/dispatch-log";
import { classifyError } from "../dispatch/error-class";
import { effectiveMaxAttempts } from "../dispatch/retry-policy";
import type { AttemptContext } from "../handlers/envelope";
import { newApprovalId } from "../lib/ids";
import { fitsInMessage } from "../lib/message-size";
import { iso } from "../lib/time";
import { countDurableObjectOps } from "../observability/billable-ops";
import { afterEvaluation, breakerIsOpen } from "../predicates/breaker";
import { expectedCost, onExhausted, preflight } from "../predicates/budget";
import { callClassifier } from "../predicates/classifier-call";
import { cachedVerdict, evaluateCelPredicate, judgeClassifier, type PredicateVerdict } from "../predicates/verdict";
import type { TrustAppend } from "../trust/trust-ledger";
import { FlowControl, type FlowDecision, type FlowEffects, type FlowOutcome } from "./flow-control";
import { GATE_BUDGETS_SCHEMA, GateBudgets } from "./gate-budgets";
import { FLOW_SCHEMA, SqlFlowStore } from "./sql-flow-store";

export interface AdmitRequest {
  dispatch_id: string;
  binding_key: string;
  binding_id: string;
  binding_version: number;
  event_id: string;
  trace_id: string;
  tenant_id: string | null;
  replay_of_event_id: string | null;
  spec: BindingSpec;
  signing_secret: string;
  paused: boolean;
  /** Manual replays run one attempt unless asked to retry. */
  max_attempts?: number;
  /** A DLQ replay resolves this entry when it succeeds. */
  dlq_id?: string | null;
  /** The event JSON, needed when stages evaluate CEL (predicates, flow-control keys). */
  event?: unknown;
  /** The binding's effective autonomy tier (spec tier or the latest trust promote/demote). */
  autonomy_tier?: Tier;
  /** A classifier verdict already reached for this event (replays reuse it at no cost). */
  cached_verdict?: { pass: boolean; reason: string | null } | null;
}

export type ApprovalAnswer =
  | { state: "unknown" }
  | { state: "not_pending"; status: DispatchStatus }
  | { state: "decided"; status: DispatchStatus };

export type BeginAttempt =
  | {
      proceed: true;
      context: AttemptContext;
      started_at: number;
      /**
       * The attempt's cancel signal (SPEC 13.1): yields one byte when a cancel request arrives while
       * the attempt runs and closes when the attempt ends. It rides on this answer, so watching for a
       * cancel costs no request of its own.
       */
      cancel: ReadableStream<Uint8Array>;
    }
  | {
      proceed: false;
      reason: "unknown_dispatch" | "terminal" | "duplicate" | "not_ready";
      status: DispatchStatus | null;
    };

type GateRow = {
  dispatch_id: string;
  event_id: string;
  trace_id: string;
  tenant_id: string | null;
  replay_of_event_id: string | null;
  status: DispatchStatus;
  attempt: number;
  attempt_running: number;
  attempt_started_at: number | null;
  max_attempts: number;
  cancel_requested: number;
  /** Set on DLQ replays: a success resolves that DLQ entry. */
  dlq_id: string | null;
  /** Why a `held` dispatch waits: `paused`, `circuit` (destination open, hold mode), `flow` (a flow-control wait). */
  held_reason: string | null;
  /** A batch leader's member event ids (JSON array, leader first). */
  batch_event_ids: string | null;
  /** The effective autonomy tier when the dispatch was created. */
  tier: string | null;
  /** `act_auto` decision bookkeeping: `counted` once admitted past flow control, `approved` by a reviewer. */
  decision: string | null;
  /** The pending approval request of a dispatch an autonomy budget stopped. */
  approval_id: string | null;
};

/**
 * `held_reason` also marks the pauses before flow control: `classifying` (a classifier call in flight,
 * status `pending`), `deferred` (budget `retry_later`, status `waiting`) and `approval` (`waiting`).
 */
type TimerKind = "attempt" | "lease" | "retention" | "flush" | "flow" | "predicate";

/** Extra time past the handler timeout before an unreported attempt is declared lost. */
const LEASE_GRACE_MS = 30_000;
/** An attempt message not confirmed sent is re-sent after this long. */
const SEND_RETRY_MS = 5_000;
/** A sent attempt nobody claimed (message lost) is re-sent after this long. */
const UNCLAIMED_ATTEMPT_MS = 5 * 60_000;
/** Safety net for D1 writes queued but not yet flushed (eviction, D1 errors). */
const FLUSH_RETRY_MS = 2_000;
/** How long a flush after an RPC waits for more transitions to share its D1 batch. */
const FLUSH_DELAY_MS = 20;
/** Statements per D1 batch when flushing the outbox (whole transitions, so a batch may exceed it a little). */
const FLUSH_BATCH_STATEMENTS = 64;

type OutboxStatement = { sql: string; params: unknown[] };
const RETENTION_MS = 7 * 86_400_000;

/** SPEC 13.1 error texts. */
const cancelError = {
  beforeAttempt: (n: number) => `trigger cancel request cancelled dispatch before attempt ${n}`,
  retryWait: "trigger cancel request cancelled retry wait",
  handler: "trigger cancel request cancelled handler",
};

export type CancelAnswer =
  | { state: "unknown" }
  | { state: "terminal"; status: DispatchStatus }
  | { state: "cancelled"; status: "cancelled" }
  | { state: "cancel_requested"; status: DispatchStatus };

export type CompleteAnswer =
  | { state: "unknown" }
  | { state: "not_waiting"; status: DispatchStatus }
  | { state: "completed"; status: "succeeded" | "failed" };

/** Migrations of the gate's SQLite schema, applied in order (see `migrate`). */
const GATE_SCHEMA = [
  `CREATE TABLE IF NOT EXISTS gate_dispatches (
     dispatch_id TEXT PRIMARY KEY,
     event_id TEXT NOT NULL,
     trace_id TEXT NOT NULL,
     tenant_id TEXT,
     replay_of_event_id TEXT,
     status TEXT NOT NULL,
     attempt INTEGER NOT NULL DEFAULT 0,
     attempt_running INTEGER NOT NULL DEFAULT 0,
     attempt_started_at INTEGER,
     max_attempts INTEGER NOT NULL,
     created_at INTEGER NOT NULL,
     updated_at INTEGER NOT NULL,
     terminal_at INTEGER
   );
   CREATE INDEX IF NOT EXISTS gate_dispatches_status ON gate_dispatches(status, created_at);
   CREATE TABLE IF NOT EXISTS timers (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     due_at INTEGER NOT NULL,
     kind TEXT NOT NULL,
     dispatch_id TEXT NOT NULL,
     attempt INTEGER NOT NULL,
     UNIQUE(kind, dispatch_id, attempt)
   );
   CREATE INDEX IF NOT EXISTS timers_due ON timers(due_at);
   CREATE TABLE IF NOT EXISTS d1_outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, stmt TEXT NOT NULL);`,
  `ALTER TABLE gate_dispatches ADD COLUMN cancel_requested INTEGER NOT NULL DEFAULT 0;
   ALTER TABLE gate_dispatches ADD COLUMN dlq_id TEXT;`,
  `ALTER TABLE gate_dispatches ADD COLUMN held_reason TEXT;`,
  `ALTER TABLE gate_dispatches ADD COLUMN batch_event_ids TEXT;
   ${FLOW_SCHEMA}`,
  `ALTER TABLE gate_dispatches ADD COLUMN tier TEXT;
   ALTER TABLE gate_dispatches ADD COLUMN decision TEXT;
   ALTER TABLE gate_dispatches ADD COLUMN approval_id TEXT;
   CREATE TABLE IF NOT EXISTS trust_outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, item TEXT NOT NULL);
   ${GATE_BUDGETS_SCHEMA}`,
];

export class BindingGate extends DurableObject<Env> {
  private readonly sql: SqlStorage;
  private readonly log: DispatchLog;
  private readonly budgets: GateBudgets;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    countDurableObjectOps(this, "BindingGate");
    this.sql = ctx.storage.sql;
    this.log = new DispatchLog(drizzle(env.DB));
    this.migrate();
    this.budgets = new GateBudgets(this.sql, { get: (k) => this.meta(k), set: (k, v) => this.setMeta(k, v) });
  }

  /** DO SQLite schema, versioned in gate_meta so existing objects pick up later columns. */
  private migrate(): void {
    this.sql.exec("CREATE TABLE IF NOT EXISTS gate_meta (k TEXT PRIMARY KEY, v TEXT NOT NULL)");
    const current = Number(this.meta("schema_version") ?? 0);
    for (let version = current; version < GATE_SCHEMA.length; version++) {
      this.sql.exec(GATE_SCHEMA[version] ?? "");
      this.setMeta("schema_version", String(version + 1));
    }
  }

  // ---- meta -------------------------------------------------------------------------------

  /** gate_meta as read or written by this instance: only this object writes its storage. */
  private readonly metaCache = new Map<string, string | null>();
  private parsedSpec: BindingSpec | null = null;

  private meta(key: string): string | null {
    const cached = this.metaCache.get(key);
    if (cached !== undefined) return cached;
    const row = this.sql.exec<{ v: string }>("SELECT v FROM gate_meta WHERE k = ?", key).toArray()[0];
    const value = row ? row.v : null;
    this.metaCache.set(key, value);
    return value;
  }

  private setMeta(key: string, value: string): void {
    if (this.metaCache.get(key) === value) return;
    this.sql.exec("INSERT INTO gate_meta (k, v) VALUES (?, ?) ON CONFLICT(k) DO UPDATE SET v = excluded.v", key, value);
    this.metaCache.set(key, value);
    if (key === "spec") this.parsedSpec = null;
  }

  private spec(): BindingSpec {
    if (this.parsedSpec) return this.parsedSpec;
    const text = this.meta("spec");
    if (!text) throw new Error("BindingGate has no binding spec yet");
    this.parsedSpec = JSON.parse(text) as BindingSpec;
    return this.parsedSpec;
  }

  private identity(row: GateRow): DispatchIdentity {
    const spec = this.spec();
    return {
      dispatch_id: row.dispatch_id,
      binding_key: this.meta("binding_key") ?? "",
      binding_id: this.meta("binding_id") ?? "",
      binding_version: Number(this.meta("binding_version") ?? 0),
      event_id: row.event_id,
      trace_id: row.trace_id,
      tenant_id: row.tenant_id,
      replay_of_event_id: row.replay_of_event_id,
      handler_kind: handlerKindOf(spec.handler),
      target_uri: spec.handler,
      dlq_id: row.dlq_id,
    };
  }

  private row(dispatchId: string): GateRow | null {
    return (
      this.sql.exec<GateRow>("SELECT * FROM gate_dispatches WHERE dispatch_id = ?", dispatchId).toArray()[0] ?? null
    );
  }

  private update(dispatchId: string, patch: Partial<GateRow> & { terminal_at?: number | null }, now: number): void {
    const entries = Object.entries(patch);
    const assignments = [...entries.map(([k]) => `${k} = ?`), "updated_at = ?"].join(", ");
    this.sql.exec(
      `UPDATE gate_dispatches SET ${assignments} WHERE dispatch_id = ?`,
      ...entries.map(([, v]) => v as SqlStorageValue),
      now,
      dispatchId,
    );
  }

  // ---- D1 outbox ---------------------------------------------------------------------------
  // Transitions are decided and stored synchronously in DO SQLite (no interleaving between a check
  // and its write); the D1 mirror statements are queued here in order and flushed in batches. One
  // outbox row holds the statements of one transition (a JSON array). While anything is queued the
  // alarm stays within FLUSH_RETRY_MS (`armAlarm`), which covers eviction and failed flushes.

  /**
   * The D1 insert of a dispatch created in the current synchronous section, held back until the first
   * other write so that a dispatch admitted at once is inserted `admitted` instead of written twice.
   * Every enqueue puts it first, so the causal order of the outbox is kept.
   */
  private pendingCreate: { identity: DispatchIdentity; now: number; status: "pending" | "admitted" } | null = null;

  private enqueue(queued: Item[]): void {
    const create = this.pendingCreate;
    this.pendingCreate = null;
    const items = create ? [...this.log.created(create.identity, create.now, create.status), ...queued] : queued;
    if (items.length === 0) return;
    const statements = items.map((item) => {
      const q = item.toSQL();
      return { sql: q.sql, params: q.params };
    });
    this.sql.exec("INSERT INTO d1_outbox (stmt) VALUES (?)", JSON.stringify(statements));
  }

  /** Whether D1 statements or trust records wait to be flushed. */
  private outboxPending(): boolean {
    return (
      this.sql.exec("SELECT 1 FROM d1_outbox LIMIT 1").toArray().length > 0 ||
      this.sql.exec("SELECT 1 FROM trust_outbox LIMIT 1").toArray().length > 0
    );
  }

  private flushing: Promise<void> | null = null;

  /**
   * Starts a flush unless one is pending or running. After an RPC it first waits FLUSH_DELAY_MS, so
   * the transitions of the next few requests (an attempt's begin and completion, other dispatches)
   * share its D1 batch; `delayMs` 0 flushes now. The alarm covers eviction or a failed flush.
   */
  private startFlush(delayMs = FLUSH_DELAY_MS): Promise<void> {
    if (!this.flushing) {
      const wait = delayMs > 0 ? new Promise((resolve) => setTimeout(resolve, delayMs)) : Promise.resolve();
      this.flushing = wait
        .then(() => this.flush())
        .finally(() => {
          this.flushing = null;
        });
    }
    // Failures reach the callers (and the alarm retries); the background copy must not go unhandled.
    this.ctx.waitUntil(this.flushing.catch(() => {}));
    return this.flushing;
  }

  private async flush(): Promise<void> {
    for (;;) {
      // Whole transitions, up to about FLUSH_BATCH_STATEMENTS statements per D1 batch.
      const cursor = this.sql.exec<{ seq: number; stmt: string }>("SELECT seq, stmt FROM d1_outbox ORDER BY seq");
      const statements: D1PreparedStatement[] = [];
      let last = 0;
      for (const row of cursor) {
        // A row is one statement `{sql, params}` (written by older versions) or a transition's array of them.
        const parsed = JSON.parse(row.stmt) as OutboxStatement | OutboxStatement[];
        for (const q of Array.isArray(parsed) ? parsed : [parsed]) {
          statements.push(this.env.DB.prepare(q.sql).bind(...q.params));
        }
        last = row.seq;
        if (statements.length >= FLUSH_BATCH_STATEMENTS) break;
      }
      if (last === 0) break;
      if (statements.length > 0) await this.env.DB.batch(statements);
      this.sql.exec("DELETE FROM d1_outbox WHERE seq <= ?", last);
    }
    // Trust records go to the binding id's ledger after the dispatch rows they describe.
    for (;;) {
      const rows = this.sql
        .exec<{ seq: number; item: string }>("SELECT seq, item FROM trust_outbox ORDER BY seq LIMIT 50")
        .toArray();
      if (rows.length === 0) break;
      const items = rows.map((r) => JSON.parse(r.item) as TrustAppend);
      await this.env.TRUST_LEDGER.getByName(items[0]?.binding_id ?? "").append(items);
      this.sql.exec("DELETE FROM trust_outbox WHERE seq <= ?", rows.at(-1)?.seq ?? 0);
    }
    if (this.meta("draining") === "1" && this.liveCount() === 0) {
      await terminateIfDrained(this.env.DB, this.meta("binding_key") ?? "", Date.now());
    }
  }

  /** Waits until every queued D1 write has landed (tests and the sweep use it). */
  async flushNow(): Promise<{ pending: number }> {
    await this.startFlush(0).catch(() => {});
    const pending =
      this.sql
        .exec<{ n: number }>("SELECT (SELECT COUNT(*) FROM d1_outbox) + (SELECT COUNT(*) FROM trust_outbox) AS n")
        .toArray()[0]?.n ?? 0;
    return { pending };
  }

  // ---- timers (one alarm serves them all) --------------------------------------------------

  private setTimer(kind: TimerKind, dispatchId: string, attempt: number, dueAt: number, replace = true): void {
    this.sql.exec(
      `INSERT INTO timers (due_at, kind, dispatch_id, attempt) VALUES (?, ?, ?, ?)
       ON CONFLICT(kind, dispatch_id, attempt) DO ${replace ? "UPDATE SET due_at = excluded.due_at" : "NOTHING"}`,
      dueAt,
      kind,
      dispatchId,
      attempt,
    );
  }

  private clearTimer(kind: TimerKind, dispatchId: string, attempt: number): void {
    this.sql.exec("DELETE FROM timers WHERE kind = ? AND dispatch_id = ? AND attempt = ?", kind, dispatchId, attempt);
  }

  /** The alarm as this instance last set or read it (undefined: not known yet). Only this object sets it. */
  private alarmAt: number | null | undefined;

  private async armAlarm(): Promise<void> {
    const due = this.sql.exec<{ due: number | null }>("SELECT MIN(due_at) AS due FROM timers").toArray()[0]?.due;
    // Queued D1 writes: flushed in the background now; the alarm retries them if that fails.
    const flushBy = this.outboxPending() ? Date.now() + FLUSH_RETRY_MS : null;
    const next = due == null ? flushBy : flushBy == null ? due : Math.min(due, flushBy);
    if (next == null) {
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

  /** Ends every RPC: flush D1 writes in the background and keep the alarm on the next timer. */
  private async settle(): Promise<void> {
    void this.startFlush().catch((error) => {
      console.error(JSON.stringify({ msg: "d1 flush failed", error: String(error) }));
    });
    await this.armAlarm();
  }

  override async alarm(): Promise<void> {
    // The alarm that woke us is used up.
    this.alarmAt = null;
    const now = Date.now();
    if (this.outboxPending()) {
      try {
        await this.startFlush(0);
      } catch (error) {
        console.error(JSON.stringify({ msg: "d1 flush failed", error: String(error) }));
      }
    }
    const due = this.sql
      .exec<{ id: number; kind: TimerKind; dispatch_id: string; attempt: number }>(
        "SELECT id, kind, dispatch_id, attempt FROM timers WHERE due_at <= ? ORDER BY due_at, id LIMIT 200",
        now,
      )
      .toArray();
    for (const timer of due) {
      try {
        await this.fireTimer(timer.kind, timer.dispatch_id, timer.attempt, now);
      } catch (error) {
        // Leave the row in place, pushed back, so a later alarm retries it.
        console.error(
          JSON.stringify({
            msg: "timer failed",
            kind: timer.kind,
            dispatch_id: timer.dispatch_id,
            error: String(error),
          }),
        );
        this.sql.exec("UPDATE timers SET due_at = ? WHERE id = ?", now + FLUSH_RETRY_MS, timer.id);
      }
    }
    await this.settle();
  }

  private async fireTimer(kind: TimerKind, dispatchId: string, attempt: number, now: number): Promise<void> {
    if (kind === "flush") {
      // A flush guard row of an older version: the outbox check of `alarm` took over.
      this.clearTimer(kind, dispatchId, attempt);
      return;
    }
    if (kind === "retention") {
      this.clearTimer(kind, dispatchId, attempt);
      this.sql.exec(
        "DELETE FROM gate_dispatches WHERE terminal_at IS NOT NULL AND terminal_at < ?",
        now - RETENTION_MS,
      );
      // Flow-control hygiene: expired sliding-log entries of every gate (idle keys are never pruned
      // otherwise), and leases/waits left by dispatches this gate no longer holds as live.
      const flow = this.flow();
      if (flow) {
        const isLive = (id: string) => {
          const live = this.row(id);
          return live !== null && !isTerminal(live.status);
        };
        this.applyFlowEffects(flow.sweep(now, isLive), now);
        await this.sendReady(now);
      }
      if (this.sql.exec("SELECT 1 FROM gate_dispatches WHERE terminal_at IS NOT NULL LIMIT 1").toArray().length > 0) {
        this.setTimer("retention", "_", 0, now + 86_400_000);
      }
      return;
    }
    if (kind === "predicate") {
      await this.predicateTimer(dispatchId, now);
      return;
    }
    const row = this.row(dispatchId);
    if (!row || isTerminal(row.status)) {
      this.clearTimer(kind, dispatchId, attempt);
      return;
    }
    if (kind === "flow") {
      this.clearTimer("flow", dispatchId, 0);
      const flow = this.flow();
      if (flow) {
        this.applyFlow(row, flow.onTimer(dispatchId, now), now);
        await this.sendReady(now);
      }
      return;
    }
    if (kind === "attempt") {
      // Retry wait over (or an unconfirmed send): hand the attempt to the dispatch queue.
      if (row.attempt_running === 0 && row.attempt === attempt - 1) await this.sendAttempt(row, attempt, now);
      else this.clearTimer(kind, dispatchId, attempt);
      return;
    }
    if (kind === "lease") {
      this.clearTimer(kind, dispatchId, attempt);
      if (row.attempt_running === 1 && row.attempt === attempt) {
        this.finishAttempt(
          row,
          attempt,
          {
            kind: "retryable",
            error: DispatchLog.leaseExpiredError,
            cause: { kind: "lease_expired" },
            retry_after_ms: null,
          },
          { started_at: row.attempt_started_at ?? now, completed_at: now },
        );
        await this.sendReady(now);
      }
    }
  }

  /** Hands attempt `attempt` to the dispatch queue; the timer row guards the send until it succeeds. */
  private async sendAttempt(row: GateRow, attempt: number, now: number, event?: unknown): Promise<void> {
    this.setTimer("attempt", row.dispatch_id, attempt, now + SEND_RETRY_MS);
    const message: DispatchMessage = {
      v: 1,
      binding_key: this.meta("binding_key") ?? "",
      dispatch_id: row.dispatch_id,
      attempt,
      circuit: this.circuitOf(),
      // The admitting caller's event rides along when small (attempt 1 then reads no event row).
      ...(event !== undefined && fitsInMessage(event) ? { event: event as TriggerEvent } : {}),
    };
    await this.env.DISPATCH_QUEUE.send(message, { contentType: "json" });
    // Sent: the guard now waits for a claim, unless one already arrived (a begin cleared it).
    const current = this.row(row.dispatch_id);
    if (current && current.attempt === attempt - 1 && current.attempt_running === 0) {
      this.setTimer("attempt", row.dispatch_id, attempt, Date.now() + UNCLAIMED_ATTEMPT_MS);
    }
  }

  // ---- RPC --------------------------------------------------------------------------------

  /**
   * Creates the dispatch (idempotent on dispatch_id) and runs the stages before the first attempt:
   * cancel check → predicate → autonomy → pause → flow control → attempt 1.
   */
  async admit(req: AdmitRequest): Promise<{ status: DispatchStatus; created: boolean }> {
    const existing = this.row(req.dispatch_id);
    if (existing && existing.status !== "pending") return { status: existing.status, created: false };
    if (!this.meta("spec")) {
      this.setMeta("spec", JSON.stringify(req.spec));
      this.setMeta("binding_key", req.binding_key);
      this.setMeta("binding_id", req.binding_id);
      this.setMeta("binding_version", String(req.binding_version));
      this.setMeta("signing_secret", req.signing_secret);
    }
    // A pause or resume that reached this object first wins over the flag the router read earlier.
    if (this.meta("paused") === null) this.setMeta("paused", req.paused ? "1" : "0");
    const now = Date.now();
    const maxAttempts = req.max_attempts ?? effectiveMaxAttempts(req.spec.retry.max_attempts);
    const row: GateRow = existing ?? {
      dispatch_id: req.dispatch_id,
      event_id: req.event_id,
      trace_id: req.trace_id,
      tenant_id: req.tenant_id,
      replay_of_event_id: req.replay_of_event_id,
      status: "pending",
      attempt: 0,
      attempt_running: 0,
      attempt_started_at: null,
      max_attempts: maxAttempts,
      cancel_requested: 0,
      dlq_id: req.dlq_id ?? null,
      held_reason: null,
      batch_event_ids: null,
      tier: req.autonomy_tier ?? req.spec.autonomy?.tier ?? DEFAULT_TIER,
      decision: null,
      approval_id: null,
    };
    if (!existing) {
      this.sql.exec(
        `INSERT INTO gate_dispatches (dispatch_id, event_id, trace_id, tenant_id, replay_of_event_id, status, attempt,
           attempt_running, max_attempts, dlq_id, tier, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, 'pending', 0, 0, ?, ?, ?, ?, ?)`,
        row.dispatch_id,
        row.event_id,
        row.trace_id,
        row.tenant_id,
        row.replay_of_event_id,
        maxAttempts,
        row.dlq_id,
        row.tier,
        now,
        now,
      );
      this.pendingCreate = { identity: this.identity(row), now, status: "pending" };
    }
    let status: DispatchStatus;
    try {
      status = this.runStages(row, now, req.event ?? null, req.cached_verdict ?? null);
    } finally {
      this.enqueue([]);
    }
    await this.sendReady(now, req.event);
    await this.settle();
    return { status, created: !existing };
  }

  /**
   * The stages of SPEC 6 steps 2–5, synchronous on DO storage: cancel check → predicate → autonomy
   * → flow control → pause → admitted. Returns the status they leave the dispatch in; dispatches that
   * became ready are queued in `ready` (and classifier calls in `classifyQueue`) for `sendReady`.
   */
  private runStages(
    row: GateRow,
    now: number,
    event: unknown,
    cached: { pass: boolean; reason: string | null } | null = null,
  ): DispatchStatus {
    if (row.cancel_requested === 1) return this.cancelNow(row, cancelError.beforeAttempt(row.attempt + 1), now);
    const spec = this.spec();
    if (spec.when !== undefined) {
      const outcome = this.predicateStage(row, spec, now, event, cached);
      if (outcome !== "passed") return outcome;
    }
    return this.autonomyStage(row, now, event);
  }

  // ---- predicates and budgets (SPEC 7) -------------------------------------------------------

  /** Classifier calls to start once the current synchronous section ends. */
  private classifyQueue: string[] = [];
  /** Event JSON already at hand for a queued classifier call. */
  private readonly classifyEvents = new Map<string, unknown>();
  private readonly classifying = new Map<string, Promise<void>>();

  /** Step 3. CEL runs here; a classifier call is started after this section (status stays `pending`). */
  private predicateStage(
    row: GateRow,
    spec: BindingSpec,
    now: number,
    event: unknown,
    cached: { pass: boolean; reason: string | null } | null,
  ): DispatchStatus | "passed" {
    const when = spec.when;
    if (when === undefined) return "passed";
    const label = typeof when === "string" ? when : when.classifier;
    if (breakerIsOpen(this.budgets.breaker(), now)) return this.predicateSkip(row, label, "circuit_open", now);
    if (typeof when === "string") return this.applyVerdict(row, evaluateCelPredicate(when, event), label, null, now);
    if (cached) return this.applyVerdict(row, cachedVerdict(cached), label, when.classifier, now);
    const budget = spec.budget;
    if (budget) {
      const spent = this.budgets.spent(now);
      const expected = expectedCost(this.budgets.recentCosts(), when.max_cost_usd);
      const reason = preflight(budget, spent, expected);
      if (reason) {
        const identity = this.identity(row);
        const detail = {
          reason,
          strategy: budget.on_exhausted,
          spent_hour_usd: spent.hour,
          spent_day_usd: spent.day,
          expected_cost_usd: expected,
        };
        this.enqueue(this.log.budgetExceeded(identity, detail, now));
        const outcome = onExhausted(budget, reason, now);
        switch (outcome.kind) {
          case "skip":
            return this.predicateSkip(row, label, reason, now);
          case "proceed":
            return "passed";
          case "dlq": {
            this.update(row.dispatch_id, { status: "dlq", held_reason: null, terminal_at: now }, now);
            this.enqueue(
              this.log.deadLettered(
                identity,
                0,
                outcome.error,
                "budget_exhausted",
                reason,
                now,
                graphIds.predicate(identity),
              ),
            );
            this.afterTerminal(row, now, "dlq", outcome.error);
            return "dlq";
          }
          case "defer": {
            const result = { deferred: true as const, reason, retry_at: iso(outcome.retry_at) };
            this.update(row.dispatch_id, { status: "waiting", held_reason: "deferred" }, now);
            this.enqueue(this.log.deferred(identity, result, now));
            this.setTimer("predicate", row.dispatch_id, 0, outcome.retry_at);
            return "waiting";
          }
        }
      }
    }
    this.update(row.dispatch_id, { status: "pending", held_reason: "classifying" }, now);
    this.setTimer("predicate", row.dispatch_id, 0, now + (when.timeout_ms ?? spec.timeout_ms) + LEASE_GRACE_MS);
    if (event !== null && event !== undefined) this.classifyEvents.set(row.dispatch_id, event);
    this.classifyQueue.push(row.dispatch_id);
    return "pending";
  }

  /** Records a verdict (breaker, spend, cache) and skips the dispatch unless it passed. */
  private applyVerdict(
    row: GateRow,
    verdict: PredicateVerdict,
    label: string,
    classifier: string | null,
    now: number,
  ): DispatchStatus | "passed" {
    this.enqueue(this.log.predicateEvaluated(this.identity(row), verdict, label, now));
    if (!verdict.cached) {
      this.budgets.setBreaker(afterEvaluation(this.budgets.breaker(), verdict.failed, now));
      if (classifier) {
        this.budgets.spend(verdict.cost_usd, now);
        if (!verdict.failed && verdict.overrun?.ceiling !== "timeout_ms") {
          this.enqueue(this.log.verdictCached(row.event_id, classifier, verdict, now));
        }
      }
    }
    if (verdict.result) return "passed";
    return this.predicateSkip(row, label, verdict.reason ?? "predicate returned false", now);
  }

  private predicateSkip(row: GateRow, predicate: string, reason: string, now: number): DispatchStatus {
    const detail = { skipped: true, predicate, reason };
    this.update(row.dispatch_id, { status: "skipped", held_reason: null, terminal_at: now }, now);
    this.enqueue(this.log.skipped(this.identity(row), "predicate", detail, now));
    this.afterTerminal(row, now, "skipped", reason);
    return "skipped";
  }

  private async loadEvent(eventId: string): Promise<TriggerEvent | null> {
    const row = await getEventRow(this.env.DB, eventId);
    return row ? eventFromRow(row) : null;
  }

  /** Starts the classifier calls queued by the last synchronous section. */
  private startClassifications(): void {
    const ids = this.classifyQueue;
    this.classifyQueue = [];
    for (const id of ids) {
      if (this.classifying.has(id)) continue;
      const run = this.classify(id)
        .catch((error) => {
          // The predicate timer starts the call again.
          console.error(JSON.stringify({ msg: "classifier evaluation failed", dispatch_id: id, error: String(error) }));
        })
        .finally(() => this.classifying.delete(id));
      this.classifying.set(id, run);
      this.ctx.waitUntil(run);
    }
  }

  /** One classifier call, then (synchronously again) the verdict and the stages after it. */
  private async classify(dispatchId: string): Promise<void> {
    const row = this.row(dispatchId);
    if (row?.status !== "pending" || row.held_reason !== "classifying") return;
    const spec = this.spec();
    const when = spec.when;
    if (when === undefined || typeof when === "string") return;
    const known = this.classifyEvents.get(dispatchId);
    this.classifyEvents.delete(dispatchId);
    const event = (known as TriggerEvent | undefined) ?? (await this.loadEvent(row.event_id));
    const timeoutMs = when.timeout_ms ?? spec.timeout_ms;
    const call = event
      ? await callClassifier(
          this.env,
          {
            classifier: when.classifier,
            dispatch_id: dispatchId,
            binding_id: this.meta("binding_id") ?? "",
            binding_key: this.meta("binding_key") ?? "",
            trace_id: row.trace_id,
            signing_secret: this.meta("signing_secret") ?? "",
            timeout_ms: timeoutMs,
            max_cost_usd: when.max_cost_usd,
            max_tokens: when.max_tokens,
            event,
          },
          () => Date.now(),
        )
      : ({ kind: "error", error: `event ${row.event_id} not found`, latency_ms: 0 } as const);
    const verdict = judgeClassifier(
      call,
      { timeout_ms: timeoutMs, max_cost_usd: when.max_cost_usd, max_tokens: when.max_tokens },
      spec.budget?.on_exhausted === "warn",
    );
    const current = this.row(dispatchId);
    // Cancelled (or otherwise moved on) while the classifier was thinking: the verdict is moot.
    if (current?.status !== "pending" || current.held_reason !== "classifying") return;
    const now = Date.now();
    this.clearTimer("predicate", dispatchId, 0);
    this.update(dispatchId, { held_reason: null }, now);
    const fresh = { ...current, held_reason: null };
    if (this.applyVerdict(fresh, verdict, when.classifier, when.classifier, now) === "passed") {
      this.autonomyStage(fresh, now, event);
    }
    await this.sendReady(now);
    await this.settle();
  }

  /** A classifier call lost with its object (restart again), or a `retry_later` deferral due (re-run). */
  private async predicateTimer(dispatchId: string, now: number): Promise<void> {
    const row = this.row(dispatchId);
    if (row?.status === "pending" && row.held_reason === "classifying") {
      const spec = this.spec();
      const when = spec.when;
      const timeoutMs = typeof when === "object" ? (when.timeout_ms ?? spec.timeout_ms) : spec.timeout_ms;
      this.setTimer("predicate", dispatchId, 0, now + timeoutMs + LEASE_GRACE_MS);
      this.classifyQueue.push(dispatchId);
      this.startClassifications();
      return;
    }
    if (row?.status !== "waiting" || row.held_reason !== "deferred") {
      this.clearTimer("predicate", dispatchId, 0);
      return;
    }
    const event = await this.loadEvent(row.event_id);
    const current = this.row(dispatchId);
    if (current?.status !== "waiting" || current.held_reason !== "deferred") return;
    const at = Date.now();
    this.clearTimer("predicate", dispatchId, 0);
    this.update(dispatchId, { status: "pending", held_reason: null }, at);
    this.enqueue(this.log.resumed(this.identity(current), at));
    this.runStages({ ...current, status: "pending", held_reason: null }, at, event);
    await this.sendReady(at);
  }

  // ---- autonomy (SPEC 8) ---------------------------------------------------------------------

  private tierOf(row: GateRow): Tier {
    return (row.tier as Tier | null) ?? this.spec().autonomy?.tier ?? DEFAULT_TIER;
  }

  private decisionsBudgeted(row: GateRow): boolean {
    return decisionsBudgeted(this.tierOf(row), this.spec().autonomy);
  }

  /** Step 4: an `act_auto` binding out of decisions asks a human instead of going on. */
  private autonomyStage(row: GateRow, now: number, event: unknown): DispatchStatus {
    const autonomy = this.spec().autonomy;
    if (autonomy && row.decision !== "approved" && this.decisionsBudgeted(row)) {
      const reason = decisionLimitReached(autonomy, this.budgets.decisions(now));
      if (reason) return this.requireApproval(row, reason, now);
    }
    return this.flowStage(row, now, event);
  }

  private requireApproval(row: GateRow, reason: string, now: number): DispatchStatus {
    const request: ApprovalRequest = {
      approval_required: true,
      request_id: newApprovalId(now),
      reason,
      reviewers: [...APPROVAL_REVIEWERS],
    };
    const tier = this.tierOf(row);
    this.update(row.dispatch_id, { status: "waiting", held_reason: "approval", approval_id: request.request_id }, now);
    this.enqueue(this.log.approvalRequired(this.identity(row), request, tier, now));
    this.trust(
      {
        record_key: `tier_transition:${request.request_id}`,
        action: "autonomy.tier_transition",
        outcome: "approval_required",
        tier: "act_with_approval",
        metadata: {
          from: tier,
          to: "act_with_approval",
          reason,
          request_id: request.request_id,
          dispatch_id: row.dispatch_id,
          binding_key: this.meta("binding_key"),
          event_id: row.event_id,
        },
      },
      now,
    );
    return "waiting";
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
    const row = this.row(dispatchId);
    if (!row || row.approval_id !== requestId) return { state: "unknown" };
    if (row.status !== "waiting" || row.held_reason !== "approval") return { state: "not_pending", status: row.status };
    const event = decision.approved ? await this.loadEvent(row.event_id) : null;
    const current = this.row(dispatchId);
    if (current?.status !== "waiting" || current.held_reason !== "approval") {
      return { state: "not_pending", status: current?.status ?? row.status };
    }
    const now = Date.now();
    const identity = this.identity(current);
    this.enqueue(this.log.approvalDecided(identity, requestId, decision, now));
    let status: DispatchStatus;
    if (decision.approved) {
      const resumed = { ...current, status: "pending" as const, held_reason: null, decision: "approved" };
      this.update(dispatchId, { status: "pending", held_reason: null, decision: "approved" }, now);
      status = this.flowStage(resumed, now, event);
    } else {
      const by = decision.reviewer ? ` by ${decision.reviewer}` : "";
      const error = `approval ${requestId} denied${by}${decision.reason ? `: ${decision.reason}` : ""}`;
      this.update(dispatchId, { status: "failed", held_reason: null, terminal_at: now }, now);
      this.enqueue(this.log.failedBeforeAttempt(identity, 0, error, now));
      this.afterTerminal(current, now, "failed", error);
      status = "failed";
    }
    await this.sendReady(now);
    await this.settle();
    return { state: "decided", status };
  }

  // ---- trust records (SPEC 8) ----------------------------------------------------------------

  /** Queues a trust record for the binding id's ledger (sent after the D1 writes, see `flush`). */
  private trust(
    item: Omit<TrustAppend, "binding_id" | "tenant_id" | "at" | "metadata_json"> & { metadata: object },
    now: number,
  ): void {
    const { metadata, ...rest } = item;
    const full: TrustAppend = {
      ...rest,
      metadata_json: JSON.stringify(metadata),
      binding_id: this.meta("binding_id") ?? "",
      // The chain belongs to the binding, so it carries the binding's tenant.
      tenant_id: this.spec().tenant_id ?? null,
      at: now,
    };
    this.sql.exec("INSERT INTO trust_outbox (item) VALUES (?)", JSON.stringify(full));
  }

  /** Step 5: flow control, or straight past it. */
  private flowStage(row: GateRow, now: number, event: unknown): DispatchStatus {
    const flow = this.flow();
    if (flow) {
      const decision = flow.admit({ dispatchId: row.dispatch_id, eventId: row.event_id, event, now });
      return this.applyFlow(row, decision, now);
    }
    return this.afterFlow(row, now);
  }

  /** Past flow control: held while the binding is paused, else ready for attempt 1. */
  private afterFlow(row: GateRow, now: number): DispatchStatus {
    const identity = this.identity(row);
    // SPEC 8: an autonomous decision is counted once, when flow control admits the dispatch.
    if (this.row(row.dispatch_id)?.decision === null && this.decisionsBudgeted(row)) {
      this.budgets.countDecision(now);
      this.update(row.dispatch_id, { decision: "counted" }, now);
    }
    if (this.meta("paused") === "1") {
      this.enqueue(this.log.status(identity, "held", now, { held: true, reason: "binding paused" }));
      this.update(row.dispatch_id, { status: "held", held_reason: "paused" }, now);
      return "held";
    }
    if (this.pendingCreate?.identity.dispatch_id === row.dispatch_id) {
      // Created and admitted in one step: one insert.
      this.pendingCreate.status = "admitted";
    } else {
      // Leaving a hold: drop the `{held: true, …}` detail so the admitted dispatch shows no stale result.
      this.enqueue(this.log.status(identity, "admitted", now, row.status === "held" ? null : undefined));
    }
    this.update(row.dispatch_id, { status: "admitted", held_reason: null }, now);
    this.ready.push(row.dispatch_id);
    return "admitted";
  }

  /** Dispatches admitted during a synchronous section, whose attempt 1 is sent right after it. */
  private ready: string[] = [];

  /** Sends attempt 1 of every ready dispatch; the one whose event `event` is carries it along. */
  private async sendReady(now: number, event?: unknown): Promise<void> {
    this.startClassifications();
    const ids = this.ready;
    this.ready = [];
    for (const id of ids) {
      const row = this.row(id);
      if (row?.status !== "admitted" || row.attempt !== 0) continue;
      const own = (event as { id?: unknown } | undefined)?.id === row.event_id;
      await this.sendAttempt(row, 1, now, own ? event : undefined);
    }
  }

  // ---- flow control (SPEC 9) ---------------------------------------------------------------

  private flowControl: FlowControl | null | undefined;

  /** The binding's flow-control engine over this object's storage, or null without flow_control. */
  private flow(): FlowControl | null {
    if (this.flowControl === undefined) {
      // Before the first admit stores the spec (e.g. a /v1/stats snapshot of an unused gate) there is
      // nothing to decide yet: answer null without caching it, or flow control would stay off.
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
  private applyFlow(row: GateRow, decision: FlowDecision, now: number): DispatchStatus {
    this.applyFlowEffects(decision, now);
    return this.applyFlowOutcome(row, decision, now);
  }

  private applyFlowEffects(effects: FlowEffects, now: number): void {
    for (const transition of effects.others) {
      const other = this.row(transition.dispatch_id);
      if (other && !isTerminal(other.status)) this.applyFlowOutcome(other, transition.outcome, now);
    }
    for (const entry of effects.audit) {
      const subject = this.row(entry.dispatch_id);
      if (!subject) continue;
      this.enqueue(
        this.log.audit(
          this.identity(subject),
          `${entry.topic}:${entry.kind}:${crypto.randomUUID()}`,
          entry.topic,
          entry.kind,
          entry.payload,
          now,
        ),
      );
    }
  }

  private applyFlowOutcome(row: GateRow, outcome: FlowOutcome, now: number): DispatchStatus {
    switch (outcome.kind) {
      case "admit": {
        this.clearTimer("flow", row.dispatch_id, 0);
        if (outcome.batch) {
          const ids = JSON.stringify(outcome.batch.members.map((m) => m.event_id));
          this.update(row.dispatch_id, { batch_event_ids: ids }, now);
        }
        return this.afterFlow(row, now);
      }
      case "skip": {
        this.clearTimer("flow", row.dispatch_id, 0);
        const detail = {
          skipped: true,
          flow_control: outcome.reason,
          ...(outcome.error ? { error: outcome.error } : {}),
        };
        this.update(row.dispatch_id, { status: "skipped", held_reason: null, terminal_at: now }, now);
        this.enqueue(this.log.skipped(this.identity(row), "flow_control", detail, now));
        this.afterTerminal(row, now, "skipped", outcome.reason);
        return "skipped";
      }
      case "wait": {
        if (outcome.until !== null) this.setTimer("flow", row.dispatch_id, 0, outcome.until);
        else this.clearTimer("flow", row.dispatch_id, 0);
        if (row.status !== "held" || row.held_reason !== "flow") {
          const detail = { held: true, flow_control: outcome.primitive, gate: outcome.gate, until: outcome.eta };
          this.update(row.dispatch_id, { status: "held", held_reason: "flow" }, now);
          this.enqueue(this.log.status(this.identity(row), "held", now, detail));
        }
        return "held";
      }
      case "none":
        this.clearTimer("flow", row.dispatch_id, 0);
        return row.status;
    }
  }

  /**
   * Claims attempt `attempt` for the caller. The claim is a synchronous storage write, so only the
   * first claim of a (dispatch, attempt) proceeds: a redelivered message never calls the handler twice.
   */
  async beginAttempt(dispatchId: string, attempt: number): Promise<BeginAttempt> {
    const row = this.row(dispatchId);
    if (!row) return { proceed: false, reason: "unknown_dispatch", status: null };
    if (isTerminal(row.status)) return { proceed: false, reason: "terminal", status: row.status };
    if (row.attempt >= attempt) return { proceed: false, reason: "duplicate", status: row.status };
    if (row.attempt !== attempt - 1 || (row.status !== "admitted" && row.status !== "retry_scheduled")) {
      return { proceed: false, reason: "not_ready", status: row.status };
    }
    const now = Date.now();
    if (row.cancel_requested === 1) {
      const status = this.cancelNow(row, cancelError.beforeAttempt(attempt), now);
      await this.sendReady(now);
      await this.settle();
      return { proceed: false, reason: "terminal", status };
    }
    const spec = this.spec();
    this.update(dispatchId, { status: "running", attempt, attempt_running: 1, attempt_started_at: now }, now);
    this.clearTimer("attempt", dispatchId, attempt);
    this.setTimer("lease", dispatchId, attempt, now + spec.timeout_ms + LEASE_GRACE_MS);
    this.enqueue(this.log.started(this.identity(row), attempt, now));
    await this.settle();
    return {
      proceed: true,
      started_at: now,
      cancel: this.cancelSignal(dispatchId, attempt),
      context: {
        dispatch_id: dispatchId,
        binding_key: this.meta("binding_key") ?? "",
        binding_id: this.meta("binding_id") ?? "",
        event_id: row.event_id,
        trace_id: row.trace_id,
        attempt,
        replay_of_event_id: row.replay_of_event_id,
        autonomy_tier: this.tierOf(row),
        timeout_ms: spec.timeout_ms,
        signing_secret: this.meta("signing_secret") ?? "",
        handler: spec.handler,
        binding_version: Number(this.meta("binding_version") ?? 0),
        allow_cleartext: spec.allow_cleartext,
        dispatch_priority: spec.dispatch_priority,
        batch_event_ids: row.batch_event_ids ? (JSON.parse(row.batch_event_ids) as string[]) : null,
      },
    };
  }

  /** Records the result of a claimed attempt and moves the dispatch on. Late or duplicate reports are ignored. */
  async completeAttempt(
    dispatchId: string,
    attempt: number,
    result: HandlerResult,
    timing: { started_at: number; completed_at: number },
    circuit?: { opened: boolean; error: string | null },
  ): Promise<{ status: DispatchStatus }> {
    const row = this.row(dispatchId);
    if (!row) return { status: "failed" };
    if (row.attempt !== attempt || row.attempt_running !== 1) return { status: row.status };
    const status = this.finishAttempt(row, attempt, result, timing, circuit?.opened ? circuit.error : null);
    await this.sendReady(Date.now());
    await this.settle();
    return { status };
  }

  private finishAttempt(
    row: GateRow,
    attempt: number,
    result: HandlerResult,
    timing: { started_at: number; completed_at: number },
    circuitOpenedError: string | null = null,
  ): DispatchStatus {
    this.notifyWatchers(row.dispatch_id, attempt, "done");
    const now = timing.completed_at;
    this.clearTimer("lease", row.dispatch_id, attempt);
    if (row.cancel_requested === 1 && result.kind !== "success") {
      // The attempt was aborted (or lost) because of the cancel request: report the real cause.
      this.enqueue(this.log.attemptEnded(this.identity(row), attempt, result, timing));
      return this.cancelNow({ ...row, attempt_running: 0 }, cancelError.handler, now);
    }
    const spec = this.spec();
    const decided = decideAfterAttempt({ attempt, maxAttempts: row.max_attempts, policy: spec.retry.policy, result });
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
    this.enqueue(this.log.finished(this.identity(row), attempt, result, decision, timing));
    if (decision.kind === "retry") {
      this.update(row.dispatch_id, { status: "retry_scheduled", attempt_running: 0 }, now);
      this.setTimer("attempt", row.dispatch_id, decision.nextAttempt, now + decision.delayMs);
      return "retry_scheduled";
    }
    const status: DispatchStatus = decision.kind;
    this.update(row.dispatch_id, { status, attempt_running: 0, terminal_at: now }, now);
    this.afterTerminal(row, now, status, "error" in decision ? decision.error : null);
    return status;
  }

  // ---- destination circuit (SPEC 10) --------------------------------------------------------

  /** The circuit settings attempts of this binding carry to the Destination object. */
  private circuitOf(): DispatchMessage["circuit"] {
    const spec = this.spec();
    const parsed = parseHandlerUri(spec.handler);
    if (!parsed.ok) return undefined;
    return {
      destination: destinationKey(parsed.value),
      ...circuitSettingsOf(spec.circuit),
      timeout_ms: spec.timeout_ms,
    };
  }

  /**
   * The destination refused attempt `attempt` before it started. Mode `dlq` dead-letters the dispatch
   * without consuming the attempt; mode `hold` parks it (`held`) until the Destination releases it.
   */
  async circuitRefused(
    dispatchId: string,
    attempt: number,
    refusal: { mode: "dlq" | "hold"; error: string },
  ): Promise<{ action: "dlq" | "parked" | "ignored" }> {
    const row = this.row(dispatchId);
    if (!row || row.attempt_running === 1 || row.attempt !== attempt - 1) return { action: "ignored" };
    if (row.status !== "admitted" && row.status !== "retry_scheduled") return { action: "ignored" };
    const now = Date.now();
    this.clearTimer("attempt", dispatchId, attempt);
    if (refusal.mode === "hold") {
      this.update(dispatchId, { status: "held", held_reason: "circuit" }, now);
      this.enqueue(this.log.status(this.identity(row), "held", now, { held: true, reason: refusal.error }));
      await this.settle();
      return { action: "parked" };
    }
    const errorClass = classifyError({ kind: "circuit_open" }, refusal.error);
    this.update(dispatchId, { status: "dlq", terminal_at: now }, now);
    this.enqueue(
      this.log.deadLettered(this.identity(row), row.attempt, refusal.error, errorClass, "circuit_open", now, null),
    );
    this.afterTerminal(row, now, "dlq", refusal.error);
    await this.sendReady(now);
    await this.settle();
    return { action: "dlq" };
  }

  /** The Destination lets a parked dispatch run again: re-send the attempt it was refused. */
  async releaseParked(dispatchId: string, attempt: number): Promise<{ released: boolean }> {
    const row = this.row(dispatchId);
    if (row?.status !== "held" || row.held_reason !== "circuit" || row.attempt !== attempt - 1) {
      return { released: false };
    }
    const now = Date.now();
    const status = attempt === 1 ? "admitted" : "retry_scheduled";
    this.update(dispatchId, { status, held_reason: null }, now);
    this.enqueue(this.log.status(this.identity(row), status, now, null));
    await this.sendAttempt({ ...row, status }, attempt, now);
    await this.settle();
    return { released: true };
  }

  // ---- cancellation and completion (SPEC 13.1, 13.2) --------------------------------------

  /** Ends a dispatch as `cancelled` now; its timers go with it. */
  private cancelNow(row: GateRow, error: string, now: number): DispatchStatus {
    this.sql.exec("DELETE FROM timers WHERE dispatch_id = ? AND kind IN ('attempt', 'lease')", row.dispatch_id);
    this.update(
      row.dispatch_id,
      { status: "cancelled", attempt_running: 0, cancel_requested: 1, terminal_at: now },
      now,
    );
    this.enqueue(this.log.cancelled(this.identity(row), row.attempt, error, now));
    this.afterTerminal(row, now, "cancelled", error);
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
    const row = this.row(dispatchId);
    if (!row) return { state: "unknown" };
    if (isTerminal(row.status)) return { state: "terminal", status: row.status };
    const now = Date.now();
    this.enqueue(this.log.cancelRequested(this.identity(row), request, row.status, now));
    let answer: CancelAnswer;
    if (row.attempt_running === 1) {
      this.update(dispatchId, { cancel_requested: 1 }, now);
      this.notifyWatchers(dispatchId, row.attempt, "cancelled");
      answer = { state: "cancel_requested", status: row.status };
    } else {
      const error =
        row.status === "retry_scheduled" ? cancelError.retryWait : cancelError.beforeAttempt(row.attempt + 1);
      answer = { state: "cancelled", status: this.cancelNow(row, error, now) as "cancelled" };
      await this.sendReady(now);
    }
    await this.settle();
    return answer;
  }

  private readonly watchers = new Map<string, Set<(signal: "cancelled" | "done") => void>>();

  private notifyWatchers(dispatchId: string, attempt: number, signal: "cancelled" | "done"): void {
    const key = `${dispatchId}#${attempt}`;
    for (const resolve of this.watchers.get(key) ?? []) resolve(signal);
    this.watchers.delete(key);
  }

  /**
   * The stream `beginAttempt` hands out: one byte when a cancel request arrives for the running
   * attempt, closed when the attempt ends. The attempt runner aborts its handler call on the byte.
   */
  private cancelSignal(dispatchId: string, attempt: number): ReadableStream<Uint8Array> {
    const key = `${dispatchId}#${attempt}`;
    const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
    const writer = writable.getWriter();
    const set = this.watchers.get(key) ?? new Set();
    set.add((signal) => {
      // The runner may be gone already (its reader cancelled): nothing to tell it then.
      if (signal === "cancelled") writer.write(new Uint8Array([1])).catch(() => {});
      writer.close().catch(() => {});
    });
    this.watchers.set(key, set);
    return readable;
  }

  /** Finishes a `waiting` dispatch with the caller's verdict. */
  async complete(
    dispatchId: string,
    verdict: { status: "succeeded" | "failed"; result?: unknown; error?: string | null },
  ): Promise<CompleteAnswer> {
    const row = this.row(dispatchId);
    if (!row) return { state: "unknown" };
    if (row.status !== "waiting") return { state: "not_waiting", status: row.status };
    const now = Date.now();
    const error = verdict.status === "failed" ? (verdict.error ?? "completed as failed") : null;
    this.update(dispatchId, { status: verdict.status, terminal_at: now }, now);
    this.enqueue(this.log.completed(this.identity(row), verdict.status, row.attempt, verdict.result, error, now));
    this.afterTerminal(row, now, verdict.status, error);
    await this.settle();
    return { state: "completed", status: verdict.status };
  }

  /** Bookkeeping every terminal transition shares, including its trust record. */
  private afterTerminal(row: GateRow, now: number, status: DispatchStatus, error: string | null = null): void {
    this.setTimer("retention", "_", 0, now + 86_400_000, false);
    this.trust(
      {
        record_key: `dispatch:${row.dispatch_id}:${status}`,
        action: "dispatch.outcome",
        outcome: status,
        tier: this.tierOf(row),
        metadata: {
          dispatch_id: row.dispatch_id,
          binding_key: this.meta("binding_key"),
          event_id: row.event_id,
          replay_of_event_id: row.replay_of_event_id,
          attempt_count: this.row(row.dispatch_id)?.attempt ?? row.attempt,
          error,
        },
      },
      now,
    );
    // Leases and waits end with the dispatch (and while it waits); freed slots admit the next waiters.
    const flow = this.flow();
    if (flow) this.applyFlowEffects(flow.release(row.dispatch_id, now), now);
  }

  private liveCount(): number {
    return (
      this.sql
        .exec<{ n: number }>(
          "SELECT COUNT(*) AS n FROM gate_dispatches WHERE status IN ('pending','admitted','running','retry_scheduled','held')",
        )
        .toArray()[0]?.n ?? 0
    );
  }

  /** Pause holds new dispatches; resume releases held ones in arrival order. */
  async setPaused(paused: boolean): Promise<{ released: number }> {
    this.setMeta("paused", paused ? "1" : "0");
    if (paused || !this.meta("spec")) return { released: 0 };
    const held = this.sql
      .exec<GateRow>(
        "SELECT * FROM gate_dispatches WHERE status = 'held' AND held_reason = 'paused' ORDER BY created_at, dispatch_id",
      )
      .toArray();
    const now = Date.now();
    // Held dispatches already passed flow control (pause comes after it), so they only need releasing.
    for (const row of held) this.afterFlow(row, now);
    await this.sendReady(now);
    await this.settle();
    return { released: held.length };
  }

  /** Marks this version draining; it terminates once no dispatch is live (checked after each flush). */
  async drain(bindingKey: string): Promise<{ live: number }> {
    this.setMeta("draining", "1");
    if (!this.meta("binding_key")) this.setMeta("binding_key", bindingKey);
    const live = this.liveCount();
    await this.startFlush(0).catch(() => {});
    return { live };
  }

  /** Sweep hook: re-sends the next attempt of a dispatch whose queue message may have been lost. */
  async rearm(dispatchId: string): Promise<{ status: DispatchStatus | null }> {
    const row = this.row(dispatchId);
    if (!row) return { status: null };
    if ((row.status === "admitted" || row.status === "retry_scheduled") && row.attempt_running === 0) {
      const pending = this.sql
        .exec("SELECT 1 FROM timers WHERE kind = 'attempt' AND dispatch_id = ? AND due_at > ?", dispatchId, Date.now())
        .toArray();
      if (pending.length === 0) await this.sendAttempt(row, row.attempt + 1, Date.now());
    }
    await this.settle();
    return { status: row.status };
  }

  /** Gate state for `/v1/stats`: dispatch counts plus every flow-control gate in use. */
  async snapshot(): Promise<{
    in_flight: number;
    scheduled_retries: number;
    held: number;
    paused: boolean;
    gates: ReturnType<FlowControl["snapshot"]>["gates"];
  }> {
    const count = (where: string) =>
      this.sql.exec<{ n: number }>(`SELECT COUNT(*) AS n FROM gate_dispatches WHERE ${where}`).toArray()[0]?.n ?? 0;
    return {
      in_flight: this.liveCount(),
      scheduled_retries: count("status = 'retry_scheduled'"),
      held: count("status = 'held'"),
      paused: this.meta("paused") === "1",
      gates: this.flow()?.snapshot(Date.now()).gates ?? [],
    };
  }
}

export function handlerKindOf(uri: string): string {
  const parsed = parseHandlerUri(uri);
  return parsed.ok ? parsed.value.kind : "unknown";
}
