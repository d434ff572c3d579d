/**
 * The invariants of SPEC 6 and 14 checked over one settled run. Pure: takes the plan, the intake
 * answers and a snapshot, and returns every violation found (not just the first) plus figures.
 */
import type { BindingPlan, PlannedEvent, ScriptedResponse } from "./plan";
import { expectedOf, OTHERWISE, providerOf, RETRY_AFTER_S } from "./plan";
import type { AttemptRow, DispatchRow, HandlerCall, Snapshot } from "./snapshot";
import { STATUSES } from "./snapshot";
import type { Answers } from "./traffic";

export interface RunBinding {
  plan: BindingPlan;
  bindingId: string;
  bindingKey: string;
  hook: string;
  script: ScriptedResponse[];
}

export interface Figures extends Tally {
  events: number;
  dispatches: number;
  byStatus: Record<string, Record<string, number>>;
  spanMs: Record<string, number>;
  calls: number;
  abortedCalls: number;
  attempts: number;
  /** p50/p95 in ms: created → attempt 1, retry start past its due time, attempt duration. */
  latency: Record<string, { p50: number; p95: number }>;
  /** Attempt outcomes by error text (digits folded). */
  attemptErrors: Record<string, number>;
}

const TERMINAL = new Set(["succeeded", "skipped", "waiting", "dlq", "failed", "cancelled"]);
const header = (c: HandlerCall, name: string) => {
  const v = c.headers[name];
  return Array.isArray(v) ? v[0] : v;
};
const ms = (iso: string | null) => (iso ? Date.parse(iso) : Number.NaN);

class Violations {
  readonly list: string[] = [];
  add(message: string) {
    // Enough to diagnose; a systematic failure would otherwise print thousands of lines.
    if (this.list.length < 200) this.list.push(message);
    else if (this.list.length === 200) this.list.push("… more violations omitted");
  }
}

/** Invariant 1 (intake half): one accepted event per dedupe identity; duplicates name it and add nothing. */
function checkIntake(v: Violations, events: Map<string, PlannedEvent>, answers: Answers, snap: Snapshot) {
  for (const u of answers.unexpected) v.add(`intake: unexpected answer ${u}`);
  const byKey = new Map<string, string[]>();
  for (const e of snap.events) byKey.set(e.dedupe_key, [...(byKey.get(e.dedupe_key) ?? []), e.id]);
  const eventsById = new Map(snap.events.map((e) => [e.id, e]));
  for (const [identity, planned] of events) {
    const a = answers.byIdentity.get(identity);
    if (!a) {
      v.add(`intake: ${identity} was never answered`);
      continue;
    }
    const stored = byKey.get(identity) ?? [];
    if (stored.length !== 1) v.add(`intake: ${identity} stored ${stored.length} events (${stored.join(", ")})`);
    const accepted = a.accepted;
    if (accepted.length > 1) v.add(`intake: ${identity} accepted ${accepted.length} times (${accepted.join(", ")})`);
    if (accepted.length === 0 && a.unavailable === 0) v.add(`intake: ${identity} never accepted`);
    const id = accepted[0] ?? stored[0];
    if (id !== undefined && stored[0] !== undefined && id !== stored[0]) {
      v.add(`intake: ${identity} answered ${id} but stored ${stored[0]}`);
    }
    for (const dup of a.duplicateOf) if (dup !== id) v.add(`intake: duplicate of ${identity} named ${dup}, not ${id}`);
    const row = stored[0] === undefined ? undefined : eventsById.get(stored[0]);
    if (row && row.kind !== planned.kind) v.add(`intake: ${identity} stored kind ${row.kind}, sent ${planned.kind}`);
  }
  if (snap.events.length !== events.size)
    v.add(`intake: ${snap.events.length} events stored for ${events.size} identities`);
}

/** How attempts met their calls, for the report (none of these is a violation). */
export interface Tally {
  /** Answered in time by the script, but recorded as a timeout: the dispatcher read it too late. */
  lateReads: number;
  /** Scripted slower than the timeout, and recorded as a timeout. */
  timeouts: number;
  /** Scripted slower than the timeout, yet read before the timer fired (the timer ran late). */
  slowButRead: number;
  /** Attempts whose request never reached the handler (deadline or lost connection). */
  unreached: number;
  /** Calls that reached the handler but whose connection was lost before the answer was read. */
  networkErrors: number;
  /** Attempts that died with their gate (evicted mid-call): the call was cut, the lease settled it. */
  lostWithGate: number;
}

const isTimeout = (row: AttemptRow, timeoutMs: number) =>
  row.outcome === "failed" && row.status_code === null && row.error_msg === `handler timed out after ${timeoutMs}ms`;
/** A connection failure (e.g. a pooled keep-alive connection the handler's server had just closed). */
const isNetworkError = (row: AttemptRow) =>
  row.outcome === "failed" && row.status_code === null && (row.error_msg ?? "").startsWith("network error:");
/** The gate running the attempt was evicted mid-call: nobody read the answer, the lease settled it. */
const isLeaseExpired = (row: AttemptRow) =>
  row.outcome === "failed" && row.status_code === null && row.error_msg === "attempt outcome unknown: lease expired";

/**
 * Invariants 2 and 3 for one dispatch that ran attempts. What the dispatcher recorded must be what
 * the handler did: a status code it read is the status the handler sent (on a call the handler
 * finished); any other attempt is a timeout or a lost connection, and only those may lack a
 * recorded call (the request never reached the handler). Timing is not assumed: on a saturated
 * machine timers fire late, so a fast answer may still be read as a timeout (the retry then calls
 * again, which at-least-once allows) and a slow one may be read in time.
 */
function checkAttempts(
  v: Violations,
  tally: Tally,
  b: RunBinding,
  d: DispatchRow,
  calls: { call: HandlerCall; index: number }[],
  rows: AttemptRow[],
  dlqReason: string | undefined,
) {
  const id = d.dispatch_id;
  const byAttempt = new Map<number, { call: HandlerCall; index: number }[]>();
  for (const c of calls) {
    const n = Number(header(c.call, "x-switchyard-attempt"));
    byAttempt.set(n, [...(byAttempt.get(n) ?? []), c]);
  }
  for (const [n, list] of byAttempt) {
    if (list.length > 1) v.add(`${id}: attempt ${n} invoked the handler ${list.length} times`);
  }
  const n = d.attempt_count;
  if (rows.length !== n) v.add(`${id}: attempt_count ${n} but ${rows.length} attempt rows`);
  for (const [attempt] of byAttempt) {
    if (!(attempt >= 1 && attempt <= n))
      v.add(`${id}: handler called for attempt ${attempt} beyond attempt_count ${n}`);
  }
  if (n < 1) {
    v.add(`${id}: ${d.status} with attempt_count ${n}`);
    return;
  }
  let last: AttemptRow | undefined;
  for (let attempt = 1; attempt <= n; attempt++) {
    const row = rows.find((r) => r.attempt === attempt);
    const call = byAttempt.get(attempt)?.[0];
    if (!row) {
      v.add(`${id}: no attempt row for attempt ${attempt}`);
      continue;
    }
    last = row;
    const seen = `row {outcome: ${row.outcome}, status_code: ${row.status_code}, error: ${row.error_msg}, duration: ${row.duration_ms}ms}`;
    if (attempt < n && row.outcome === "succeeded")
      v.add(`${id}: attempt ${attempt} succeeded but attempt ${attempt + 1} ran`);
    const next = rows.find((r) => r.attempt === attempt + 1);
    if (next && row.completed_at) {
      // Timers fire late, never early: the policy delay (raised by Retry-After on a 429) is a floor.
      const waited = ms(next.started_at) - ms(row.completed_at);
      const floor = Math.max(b.plan.delay_ms, row.status_code === 429 ? RETRY_AFTER_S * 1000 : 0);
      if (waited < floor)
        v.add(`${id}: attempt ${attempt + 1} started ${waited}ms after attempt ${attempt}, expected ≥ ${floor}ms`);
    }
    if (!call) {
      // The request never reached the handler: only a deadline or a lost connection explain that.
      if (isTimeout(row, b.plan.timeout_ms) || isNetworkError(row) || isLeaseExpired(row)) tally.unreached += 1;
      else v.add(`${id}#${attempt}: no handler call, yet ${seen}`);
      continue;
    }
    const script = b.script[call.index] ?? OTHERWISE;
    const expected = expectedOf(script, b.plan.timeout_ms);
    const detail = `${seen}; call #${call.index} reached the handler ${call.call.at - ms(row.started_at)}ms after the start, scripted ${script.status} after ${script.delay_ms ?? 0}ms, aborted ${call.call.aborted}`;
    if (row.status_code !== null) {
      const wanted = script.status >= 200 && script.status < 300 ? "succeeded" : "failed";
      if (row.status_code !== script.status || row.outcome !== wanted || call.call.aborted) {
        v.add(`${id}#${attempt}: recorded a different answer than the handler sent: ${detail}`);
      }
      if (expected.kind === "timeout") tally.slowButRead += 1;
    } else if (isTimeout(row, b.plan.timeout_ms)) {
      if (expected.kind === "timeout") tally.timeouts += 1;
      else tally.lateReads += 1;
    } else if (isNetworkError(row)) {
      tally.networkErrors += 1;
    } else if (isLeaseExpired(row) && call.call.aborted) {
      tally.lostWithGate += 1;
    } else {
      v.add(`${id}#${attempt}: unexplained outcome: ${detail}`);
    }
  }
  if (!last) return;
  if (last.outcome === "succeeded") {
    if (d.status !== "succeeded") v.add(`${id}: last attempt succeeded but status ${d.status}`);
    return;
  }
  if (d.status !== "dlq") v.add(`${id}: last attempt ${last.outcome} (${last.error_msg}) but status ${d.status}`);
  else if (n !== b.plan.max_attempts) v.add(`${id}: dlq after ${n} of ${b.plan.max_attempts} attempts`);
  if (dlqReason !== "retry_exhausted")
    v.add(`${id}: dlq entry reason ${dlqReason ?? "missing"}, expected retry_exhausted`);
}

/**
 * SPEC 9.6 for the flow binding: per concurrency key, never more dispatches between their first
 * attempt and their end than `max` (leases span retry waits, so this is a lower bound on the lease).
 */
function checkConcurrency(
  v: Violations,
  b: RunBinding,
  dispatches: DispatchRow[],
  attempts: Map<string, AttemptRow[]>,
  keyOf: (eventId: string) => string | undefined,
) {
  const max = (b.plan.flow_control?.concurrency as { max?: number } | undefined)?.max;
  if (!max) return;
  const edges = new Map<string, { t: number; delta: number }[]>();
  for (const d of dispatches) {
    const first = attempts.get(d.dispatch_id)?.find((a) => a.attempt === 1);
    const key = keyOf(d.event_id);
    if (!first || !d.terminal_at || key === undefined) continue;
    const list = edges.get(key) ?? [];
    list.push({ t: ms(first.started_at), delta: 1 }, { t: ms(d.terminal_at), delta: -1 });
    edges.set(key, list);
  }
  for (const [key, list] of edges) {
    // An end and a start at the same millisecond: the slot was freed first.
    list.sort((x, y) => x.t - y.t || x.delta - y.delta);
    let active = 0;
    let peak = 0;
    for (const e of list) {
      active += e.delta;
      peak = Math.max(peak, active);
    }
    if (peak > max)
      v.add(`${b.bindingKey}: concurrency key ${key} had ${peak} dispatches running at once (max ${max})`);
  }
}

/** Invariant 1 (dispatch half), 2 and 3 for one binding. */
function checkBinding(
  v: Violations,
  tally: Tally,
  b: RunBinding,
  events: Map<string, PlannedEvent>,
  snap: Snapshot,
  attemptsOf: Map<string, AttemptRow[]>,
) {
  const planned = new Map(snap.events.map((e) => [e.id, events.get(e.dedupe_key)]));
  const mine = snap.dispatches.filter((d) => d.binding_key === b.bindingKey);
  const byEvent = new Map(mine.map((d) => [d.event_id, d]));
  const dlqOf = new Map(snap.dlq.map((x) => [x.dispatch_id, x]));
  const calls = snap.calls.get(b.hook) ?? [];
  const callsOf = new Map<string, { call: HandlerCall; index: number }[]>();
  calls.forEach((call, index) => {
    const wid = header(call, "webhook-id") ?? "";
    callsOf.set(wid, [...(callsOf.get(wid) ?? []), { call, index }]);
  });
  for (const d of mine)
    if (!planned.has(d.event_id)) v.add(`${d.dispatch_id}: dispatch for an event that was not accepted`);
  for (const e of snap.events) {
    const p = planned.get(e.id);
    if (!p) continue;
    const matches = providerOf(p) === b.plan.provider && b.plan.matches(e.kind);
    const d = byEvent.get(e.id);
    if (!matches) {
      if (d) v.add(`${d.dispatch_id}: dispatched although ${b.plan.role} does not match ${e.kind}`);
      continue;
    }
    if (!d) {
      v.add(`${b.bindingKey}|${e.id}: no dispatch for a matching event (${e.kind})`);
      continue;
    }
    if (!TERMINAL.has(d.status)) {
      v.add(`${d.dispatch_id}: not terminal (${d.status}, attempt ${d.attempt_count})`);
      continue;
    }
    const mineCalls = callsOf.get(`${b.bindingKey}/${e.id}`) ?? [];
    const rows = attemptsOf.get(d.dispatch_id) ?? [];
    if (!b.plan.passes({ pick: p.pick })) {
      if (d.status !== "skipped" || d.attempt_count !== 0 || mineCalls.length > 0 || rows.length > 0) {
        v.add(
          `${d.dispatch_id}: predicate false but ${d.status}, ${d.attempt_count} attempts, ${mineCalls.length} calls`,
        );
      }
      continue;
    }
    checkAttempts(v, tally, b, d, mineCalls, rows, dlqOf.get(d.dispatch_id)?.reason);
  }
  const known = new Set(mine.map((d) => `${b.bindingKey}/${d.event_id}`));
  for (const [wid, list] of callsOf)
    if (!known.has(wid)) v.add(`${b.hook}: ${list.length} calls for unknown dispatch ${wid}`);
  const customer = new Map(
    snap.events.map((e) => {
      const p = planned.get(e.id);
      return [e.id, p?.via === "api" ? p.payload.customer : undefined] as const;
    }),
  );
  checkConcurrency(v, b, mine, attemptsOf, (id) => customer.get(id));
}

const count = (rows: { status: string }[], status: string) => rows.filter((r) => r.status === status).length;

/** Invariant 4: D1 counts against the API lists, the records log, the DLQ and `/metrics`. */
function checkCounts(v: Violations, runs: RunBinding[], answers: Answers, source: string, snap: Snapshot) {
  const metric = (name: string, labels: Record<string, string>) =>
    snap.metrics
      .filter((s) => s.name === name && Object.entries(labels).every(([k, val]) => s.labels[k] === val))
      .reduce((sum, s) => sum + s.value, 0);
  let dlqTotal = 0;
  for (const b of runs) {
    const mine = snap.dispatches.filter((d) => d.binding_key === b.bindingKey);
    const ids = new Set(mine.map((d) => d.dispatch_id));
    const rowsOfMine = snap.attempts.filter((a) => ids.has(a.dispatch_id));
    const retries = mine.reduce((sum, d) => sum + Math.max(0, d.attempt_count - 1), 0);
    const records = (topic: string, kind: string) =>
      snap.records.find((r) => r.binding_key === b.bindingKey && r.topic === topic && r.kind === kind)?.n ?? 0;
    const expect = (what: string, actual: number, wanted: number) => {
      if (actual !== wanted) v.add(`${b.bindingKey}: ${what} = ${actual}, expected ${wanted}`);
    };
    for (const status of STATUSES) {
      const listed = snap.listed.get(b.bindingKey)?.get(status) ?? [];
      const d1 = mine.filter((d) => d.status === status).map((d) => d.event_id);
      expect(`GET /v1/dispatches status=${status} count`, listed.length, d1.length);
      const listedSet = new Set(listed);
      const missing = d1.filter((id) => !listedSet.has(id));
      if (missing.length > 0)
        v.add(`${b.bindingKey}: ${status} dispatches missing from the list: ${missing.slice(0, 5).join(", ")}`);
    }
    const succeeded = count(mine, "succeeded");
    const dlq = count(mine, "dlq");
    const skipped = count(mine, "skipped");
    dlqTotal += dlq;
    expect("records DispatchSucceeded", records("triggers.lifecycle", "DispatchSucceeded"), succeeded);
    expect("records dispatch_succeeded", records("trigger.outbox", "dispatch_succeeded"), succeeded);
    expect("records DlqMoved", records("triggers.lifecycle", "DlqMoved"), dlq);
    expect("records dlq_moved", records("trigger.dlq", "dlq_moved"), dlq);
    expect("dlq_entries rows", snap.dlq.filter((x) => x.binding_key === b.bindingKey).length, dlq);
    expect("GET /v1/dlq count", snap.dlqListed.get(b.bindingKey) ?? 0, dlq);
    expect("records dispatch_skipped", records("trigger.outbox", "dispatch_skipped"), skipped);
    expect("records DispatchStarted", records("triggers.lifecycle", "DispatchStarted"), rowsOfMine.length);
    expect("records attempt_recorded", records("trigger.attempts", "attempt_recorded"), rowsOfMine.length);
    expect("records RetryScheduled", records("triggers.lifecycle", "RetryScheduled"), retries);
    expect("records DispatchFailed", records("triggers.lifecycle", "DispatchFailed"), rowsOfMine.length - succeeded);
    for (const status of ["succeeded", "skipped", "dlq", "failed", "cancelled"]) {
      expect(
        `metric dispatches_total{status=${status}}`,
        metric("switchyard_dispatches_total", { trigger: b.bindingId, status }),
        count(mine, status),
      );
    }
    expect("metric dispatches_open", metric("switchyard_dispatches_open", { trigger: b.bindingId }), 0);
    expect("metric retries_total", metric("switchyard_retries_total", { trigger: b.bindingId }), retries);
  }
  const expectGlobal = (what: string, actual: number, wanted: number) => {
    if (actual !== wanted) v.add(`${what} = ${actual}, expected ${wanted}`);
  };
  const stored = (s: string | null) => snap.events.filter((e) => e.source === s).length;
  expectGlobal(
    "metric dlq_total{reason=retry_exhausted}",
    metric("switchyard_dlq_total", { reason: "retry_exhausted" }),
    dlqTotal,
  );
  expectGlobal("metric dlq_total", metric("switchyard_dlq_total", {}), dlqTotal);
  expectGlobal(
    `metric intake_total{source=${source},outcome=accepted}`,
    metric("switchyard_intake_total", { source, outcome: "accepted" }),
    stored(source),
  );
  expectGlobal(
    "metric intake_total{source=_api,outcome=accepted}",
    metric("switchyard_intake_total", { source: "_api", outcome: "accepted" }),
    stored(null),
  );
  expectGlobal(
    `metric intake_total{source=${source},outcome=duplicate}`,
    metric("switchyard_intake_total", { source, outcome: "duplicate" }),
    answers.counts.hook.duplicate,
  );
  expectGlobal(
    "metric intake_total{source=_api,outcome=duplicate}",
    metric("switchyard_intake_total", { source: "_api", outcome: "duplicate" }),
    answers.counts.api.duplicate,
  );
  // Accepted answers match stored events unless a 503 `unavailable` hid an acceptance.
  const unavailable = [...answers.byIdentity.values()].some((a) => a.unavailable > 0);
  if (!unavailable) {
    expectGlobal("accepted webhook answers vs stored events", answers.counts.hook.accepted, stored(source));
    expectGlobal("accepted API answers vs stored events", answers.counts.api.accepted, stored(null));
  }
}

function percentiles(values: number[]): { p50: number; p95: number } {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
  return { p50: at(0.5), p95: at(0.95) };
}

/** Where the time of a run went, for the report. */
function latencies(snap: Snapshot): Figures["latency"] {
  const created = new Map(snap.dispatches.map((d) => [d.dispatch_id, ms(d.created_at)]));
  const byDispatch = new Map<string, AttemptRow[]>();
  for (const a of snap.attempts) byDispatch.set(a.dispatch_id, [...(byDispatch.get(a.dispatch_id) ?? []), a]);
  const toFirst: number[] = [];
  const retryGap: number[] = [];
  for (const [id, rows] of byDispatch) {
    rows.sort((x, y) => x.attempt - y.attempt);
    const first = rows[0];
    if (first?.attempt === 1) toFirst.push(ms(first.started_at) - (created.get(id) ?? Number.NaN));
    for (let i = 1; i < rows.length; i++) {
      const prev = rows[i - 1] as AttemptRow;
      retryGap.push(ms((rows[i] as AttemptRow).started_at) - ms(prev.completed_at));
    }
  }
  return {
    createdToFirstAttempt: percentiles(toFirst),
    retryGap: percentiles(retryGap),
    attemptDuration: percentiles(snap.attempts.map((a) => a.duration_ms ?? 0)),
  };
}

export function checkRun(
  runs: RunBinding[],
  events: Map<string, PlannedEvent>,
  answers: Answers,
  source: string,
  snap: Snapshot,
): { violations: string[]; figures: Figures } {
  const v = new Violations();
  const attemptsOf = new Map<string, AttemptRow[]>();
  for (const a of snap.attempts) attemptsOf.set(a.dispatch_id, [...(attemptsOf.get(a.dispatch_id) ?? []), a]);
  checkIntake(v, events, answers, snap);
  const tally: Tally = { lateReads: 0, timeouts: 0, slowButRead: 0, unreached: 0, networkErrors: 0, lostWithGate: 0 };
  for (const b of runs) checkBinding(v, tally, b, events, snap, attemptsOf);
  checkCounts(v, runs, answers, source, snap);
  const byStatus: Record<string, Record<string, number>> = {};
  /** First dispatch created → last one ended, per binding. */
  const spanMs: Record<string, number> = {};
  for (const b of runs) {
    const mine = snap.dispatches.filter((d) => d.binding_key === b.bindingKey);
    byStatus[b.plan.role] = Object.fromEntries(STATUSES.map((s) => [s, count(mine, s)]).filter(([, n]) => n !== 0));
    const first = Math.min(...mine.map((d) => ms(d.created_at)));
    const end = Math.max(...mine.map((d) => ms(d.terminal_at)));
    spanMs[b.plan.role] = end - first;
  }
  const allCalls = [...snap.calls.values()].flat();
  const latency = latencies(snap);
  const attemptErrors: Record<string, number> = {};
  for (const a of snap.attempts) {
    const key = a.outcome === "succeeded" ? "succeeded" : (a.error_msg ?? "").replace(/\d+/g, "N");
    attemptErrors[key] = (attemptErrors[key] ?? 0) + 1;
  }
  return {
    violations: v.list,
    figures: {
      events: snap.events.length,
      dispatches: snap.dispatches.length,
      byStatus,
      spanMs,
      calls: allCalls.length,
      abortedCalls: allCalls.filter((c) => c.aborted).length,
      attempts: snap.attempts.length,
      attemptErrors,
      latency,
      ...tally,
    },
  };
}
