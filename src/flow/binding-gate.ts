/**
 * BindingGate: one Durable Object per binding_key. It owns the dispatch state machine of its
 * binding version (SPEC 6): stages before the first attempt, attempt start/finish, retry waits and
 * attempt leases as rows of one timers table multiplexed onto a single alarm. State lives in DO
 * SQLite, so eviction or a restart loses nothing; D1 holds the queryable mirror (DispatchLog).
 */
import { DurableObject } from "cloudflare:workers";
import { drizzle } from "drizzle-orm/d1";
import type { BindingSpec } from "../contracts/binding-spec";
import { type DispatchStatus, type HandlerResult, isTerminal } from "../contracts/dispatch";
import type { DispatchMessage } from "../contracts/messages";
import { terminateIfDrained } from "../db/bindings-repo";
import { decideAfterAttempt } from "../dispatch/attempt-decision";
import { type DispatchIdentity, DispatchLog } from "../dispatch/dispatch-log";
import { effectiveMaxAttempts } from "../dispatch/retry-policy";
import type { AttemptContext } from "../handlers/envelope";

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
}

export type BeginAttempt =
  | { proceed: true; context: AttemptContext; started_at: number }
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
};

type TimerKind = "attempt" | "lease" | "retention";

/** Extra time past the handler timeout before an unreported attempt is declared lost. */
const LEASE_GRACE_MS = 30_000;
/** An attempt message not confirmed sent is re-sent after this long. */
const SEND_RETRY_MS = 5_000;
const RETENTION_MS = 7 * 86_400_000;

export class BindingGate extends DurableObject<Env> {
  private readonly sql: SqlStorage;
  private readonly log: DispatchLog;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.log = new DispatchLog(drizzle(env.DB));
    this.sql.exec(`
      CREATE TABLE IF NOT EXISTS gate_meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS gate_dispatches (
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
    `);
  }

  // ---- meta -------------------------------------------------------------------------------

  private meta(key: string): string | null {
    const row = this.sql.exec<{ v: string }>("SELECT v FROM gate_meta WHERE k = ?", key).toArray()[0];
    return row ? row.v : null;
  }

  private setMeta(key: string, value: string): void {
    this.sql.exec("INSERT INTO gate_meta (k, v) VALUES (?, ?) ON CONFLICT(k) DO UPDATE SET v = excluded.v", key, value);
  }

  private spec(): BindingSpec {
    const text = this.meta("spec");
    if (!text) throw new Error("BindingGate has no binding spec yet");
    return JSON.parse(text) as BindingSpec;
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

  // ---- timers (one alarm serves them all) --------------------------------------------------

  private setTimer(kind: TimerKind, dispatchId: string, attempt: number, dueAt: number): void {
    this.sql.exec(
      `INSERT INTO timers (due_at, kind, dispatch_id, attempt) VALUES (?, ?, ?, ?)
       ON CONFLICT(kind, dispatch_id, attempt) DO UPDATE SET due_at = excluded.due_at`,
      dueAt,
      kind,
      dispatchId,
      attempt,
    );
  }

  private clearTimer(kind: TimerKind, dispatchId: string, attempt: number): void {
    this.sql.exec("DELETE FROM timers WHERE kind = ? AND dispatch_id = ? AND attempt = ?", kind, dispatchId, attempt);
  }

  private async armAlarm(): Promise<void> {
    const next = this.sql.exec<{ due: number | null }>("SELECT MIN(due_at) AS due FROM timers").toArray()[0]?.due;
    if (next == null) {
      await this.ctx.storage.deleteAlarm();
      return;
    }
    const current = await this.ctx.storage.getAlarm();
    if (current === null || current > next || current < Date.now() - 60_000) await this.ctx.storage.setAlarm(next);
  }

  override async alarm(): Promise<void> {
    const now = Date.now();
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
        // Leave the row in place, pushed back, so the next alarm retries it.
        console.error(
          JSON.stringify({
            msg: "timer failed",
            kind: timer.kind,
            dispatch_id: timer.dispatch_id,
            error: String(error),
          }),
        );
        this.sql.exec("UPDATE timers SET due_at = ? WHERE id = ?", now + SEND_RETRY_MS, timer.id);
      }
    }
    await this.armAlarm();
  }

  private async fireTimer(kind: TimerKind, dispatchId: string, attempt: number, now: number): Promise<void> {
    if (kind === "retention") {
      this.sql.exec(
        "DELETE FROM gate_dispatches WHERE terminal_at IS NOT NULL AND terminal_at < ?",
        now - RETENTION_MS,
      );
      this.clearTimer(kind, dispatchId, attempt);
      if (this.sql.exec("SELECT 1 FROM gate_dispatches WHERE terminal_at IS NOT NULL LIMIT 1").toArray().length > 0) {
        this.setTimer("retention", "_", 0, now + 86_400_000);
      }
      return;
    }
    const row = this.row(dispatchId);
    if (!row || isTerminal(row.status)) {
      this.clearTimer(kind, dispatchId, attempt);
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
        await this.finishAttempt(
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
      }
    }
  }

  /** Sends attempt `attempt` to the dispatch queue; the timer row stays as a resend guard until then. */
  private async sendAttempt(row: GateRow, attempt: number, now: number): Promise<void> {
    this.setTimer("attempt", row.dispatch_id, attempt, now + SEND_RETRY_MS);
    const message: DispatchMessage = {
      v: 1,
      binding_key: this.meta("binding_key") ?? "",
      dispatch_id: row.dispatch_id,
      attempt,
    };
    await this.env.DISPATCH_QUEUE.send(message, { contentType: "json" });
    this.clearTimer("attempt", row.dispatch_id, attempt);
  }

  // ---- RPC --------------------------------------------------------------------------------

  /**
   * Creates the dispatch (idempotent on dispatch_id) and runs the stages before the first attempt:
   * cancel check → predicate → autonomy → pause → flow control → attempt 1.
   */
  async admit(req: AdmitRequest): Promise<{ status: DispatchStatus; created: boolean }> {
    const existing = this.row(req.dispatch_id);
    if (existing) return { status: existing.status, created: false };
    if (!this.meta("spec")) {
      this.setMeta("spec", JSON.stringify(req.spec));
      this.setMeta("binding_key", req.binding_key);
      this.setMeta("binding_id", req.binding_id);
      this.setMeta("binding_version", String(req.binding_version));
      this.setMeta("signing_secret", req.signing_secret);
      this.setMeta("paused", req.paused ? "1" : "0");
    }
    const now = Date.now();
    const maxAttempts = req.max_attempts ?? effectiveMaxAttempts(req.spec.retry.max_attempts);
    const row: GateRow = {
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
    };
    const identity = this.identity(row);
    await this.batch(this.log.created(identity, now));
    this.sql.exec(
      `INSERT INTO gate_dispatches (dispatch_id, event_id, trace_id, tenant_id, replay_of_event_id, status, attempt,
         attempt_running, max_attempts, created_at, updated_at) VALUES (?, ?, ?, ?, ?, 'pending', 0, 0, ?, ?, ?)`,
      row.dispatch_id,
      row.event_id,
      row.trace_id,
      row.tenant_id,
      row.replay_of_event_id,
      maxAttempts,
      now,
      now,
    );
    const status = await this.runStages(row, now);
    await this.armAlarm();
    return { status, created: true };
  }

  /** The stages of SPEC 6 steps 2–5. Later stages (predicate, autonomy, flow control) plug in here. */
  private async runStages(row: GateRow, now: number): Promise<DispatchStatus> {
    const identity = this.identity(row);
    if (this.meta("paused") === "1") {
      await this.batch(this.log.status(identity, "held", now, { held: true, reason: "binding paused" }));
      this.update(row.dispatch_id, { status: "held" }, now);
      return "held";
    }
    await this.batch(this.log.status(identity, "admitted", now));
    this.update(row.dispatch_id, { status: "admitted" }, now);
    await this.sendAttempt({ ...row, status: "admitted" }, 1, now);
    return "admitted";
  }

  /**
   * Claims attempt `attempt` for the caller. Only the first claim of a (dispatch, attempt) proceeds,
   * so a redelivered queue message never invokes the handler twice.
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
    const spec = this.spec();
    await this.batch(this.log.started(this.identity(row), attempt, now));
    this.update(dispatchId, { status: "running", attempt, attempt_running: 1, attempt_started_at: now }, now);
    this.clearTimer("attempt", dispatchId, attempt);
    this.setTimer("lease", dispatchId, attempt, now + spec.timeout_ms + LEASE_GRACE_MS);
    await this.armAlarm();
    return {
      proceed: true,
      started_at: now,
      context: {
        dispatch_id: dispatchId,
        binding_key: this.meta("binding_key") ?? "",
        binding_id: this.meta("binding_id") ?? "",
        event_id: row.event_id,
        trace_id: row.trace_id,
        attempt,
        replay_of_event_id: row.replay_of_event_id,
        autonomy_tier: spec.autonomy?.tier ?? "act_auto",
        timeout_ms: spec.timeout_ms,
        signing_secret: this.meta("signing_secret") ?? "",
        handler: spec.handler,
      },
    };
  }

  /** Records the result of a claimed attempt and moves the dispatch on. Late or duplicate reports are ignored. */
  async completeAttempt(
    dispatchId: string,
    attempt: number,
    result: HandlerResult,
    timing: { started_at: number; completed_at: number },
  ): Promise<{ status: DispatchStatus }> {
    const row = this.row(dispatchId);
    if (!row) return { status: "failed" };
    if (row.attempt !== attempt || row.attempt_running !== 1) return { status: row.status };
    const status = await this.finishAttempt(row, attempt, result, timing);
    await this.armAlarm();
    return { status };
  }

  private async finishAttempt(
    row: GateRow,
    attempt: number,
    result: HandlerResult,
    timing: { started_at: number; completed_at: number },
  ): Promise<DispatchStatus> {
    const spec = this.spec();
    const decision = decideAfterAttempt({ attempt, maxAttempts: row.max_attempts, policy: spec.retry.policy, result });
    const now = timing.completed_at;
    await this.batch(this.log.finished(this.identity(row), attempt, result, decision, timing));
    this.clearTimer("lease", row.dispatch_id, attempt);
    if (decision.kind === "retry") {
      this.update(row.dispatch_id, { status: "retry_scheduled", attempt_running: 0 }, now);
      this.setTimer("attempt", row.dispatch_id, decision.nextAttempt, now + decision.delayMs);
      return "retry_scheduled";
    }
    const status: DispatchStatus = decision.kind;
    this.update(row.dispatch_id, { status, attempt_running: 0, terminal_at: now }, now);
    await this.afterTerminal(now);
    return status;
  }

  private async afterTerminal(now: number): Promise<void> {
    this.setTimer("retention", "_", 0, now + 86_400_000);
    if (this.meta("draining") === "1" && this.liveCount() === 0) {
      await terminateIfDrained(this.env.DB, this.meta("binding_key") ?? "", now);
    }
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
      .exec<GateRow>("SELECT * FROM gate_dispatches WHERE status = 'held' ORDER BY created_at, dispatch_id")
      .toArray();
    const now = Date.now();
    for (const row of held) await this.runStages(row, now);
    await this.armAlarm();
    return { released: held.length };
  }

  /** Marks this version draining; it terminates once no dispatch is live (now or at the last terminal). */
  async drain(bindingKey: string): Promise<{ live: number }> {
    this.setMeta("draining", "1");
    const live = this.liveCount();
    if (live === 0) await terminateIfDrained(this.env.DB, bindingKey, Date.now());
    return { live };
  }

  /** Sweep hook: re-sends the next attempt of a dispatch whose queue message may have been lost. */
  async rearm(dispatchId: string): Promise<{ status: DispatchStatus | null }> {
    const row = this.row(dispatchId);
    if (!row) return { status: null };
    if ((row.status === "admitted" || row.status === "retry_scheduled") && row.attempt_running === 0) {
      const pending = this.sql
        .exec("SELECT 1 FROM timers WHERE kind = 'attempt' AND dispatch_id = ?", dispatchId)
        .toArray();
      if (pending.length === 0) await this.sendAttempt(row, row.attempt + 1, Date.now());
    }
    await this.armAlarm();
    return { status: row.status };
  }

  /** Gate state for `/v1/stats`. */
  async snapshot(): Promise<{ in_flight: number; scheduled_retries: number; held: number; paused: boolean }> {
    const count = (where: string) =>
      this.sql.exec<{ n: number }>(`SELECT COUNT(*) AS n FROM gate_dispatches WHERE ${where}`).toArray()[0]?.n ?? 0;
    return {
      in_flight: this.liveCount(),
      scheduled_retries: count("status = 'retry_scheduled'"),
      held: count("status = 'held'"),
      paused: this.meta("paused") === "1",
    };
  }

  private async batch(items: ReturnType<DispatchLog["created"]>): Promise<void> {
    if (items.length === 0) return;
    const db = drizzle(this.env.DB);
    await db.batch(items as [(typeof items)[number], ...(typeof items)[number][]]);
  }
}

export function handlerKindOf(uri: string): string {
  const scheme = uri.slice(0, Math.max(0, uri.indexOf("://"))).toLowerCase();
  return scheme === "http" ? "https" : scheme;
}
