/**
 * The oracle must be able to fail: a consistent hand-made run passes, and each kind of broken
 * guarantee (a duplicated invocation, a wrong terminal status, a second accepted delivery, an
 * answer recorded differently than sent, a count off by one) is reported.
 */
import { describe, expect, it } from "vitest";
import { checkRun, type RunBinding } from "./oracle";
import { BINDINGS, type BindingPlan, type HookEvent } from "./plan";
import type { Snapshot } from "./snapshot";
import { STATUSES } from "./snapshot";
import { type Answers, emptyAnswers } from "./traffic";

const T0 = Date.parse("2026-11-01T00:00:00.000Z");
const at = (ms: number) => new Date(T0 + ms).toISOString();
const plain = BINDINGS.find((b) => b.role === "plain") as BindingPlan;
const KEY = "b1@v1";
const EVENT = "evt_1";

function world() {
  const run: RunBinding = {
    plan: plain,
    bindingId: "b1",
    bindingKey: KEY,
    hook: "h1",
    script: [{ status: 500 }, { status: 200, delay_ms: 5 }],
  };
  const event: HookEvent = {
    via: "hook",
    identity: "d1",
    kind: "issues.opened",
    event: "issues",
    delivery: "d1",
    body: "{}",
    pick: true,
  };
  const answers: Answers = emptyAnswers();
  answers.byIdentity.set("d1", { accepted: [EVENT], duplicateOf: [EVENT], unavailable: 0 });
  answers.counts.hook = { accepted: 1, duplicate: 1 };
  const call = (attempt: number, ms: number) => ({
    headers: { "webhook-id": `${KEY}/${EVENT}`, "x-switchyard-attempt": String(attempt) },
    at: T0 + ms,
    aborted: false,
  });
  const records = [
    ["triggers.lifecycle", "DispatchSucceeded", 1],
    ["trigger.outbox", "dispatch_succeeded", 1],
    ["triggers.lifecycle", "DispatchStarted", 2],
    ["trigger.attempts", "attempt_recorded", 2],
    ["triggers.lifecycle", "RetryScheduled", 1],
    ["triggers.lifecycle", "DispatchFailed", 1],
  ] as const;
  const snap: Snapshot = {
    events: [{ id: EVENT, source: "src", kind: "issues.opened", dedupe_key: "d1" }],
    dispatches: [
      {
        dispatch_id: `${KEY}|${EVENT}`,
        binding_key: KEY,
        binding_id: "b1",
        event_id: EVENT,
        status: "succeeded",
        attempt_count: 2,
        error: null,
        created_at: at(0),
        terminal_at: at(220),
      },
    ],
    attempts: [
      {
        dispatch_id: `${KEY}|${EVENT}`,
        attempt: 1,
        started_at: at(10),
        completed_at: at(20),
        outcome: "failed",
        error_msg: "HTTP 500",
        status_code: 500,
        duration_ms: 10,
      },
      {
        dispatch_id: `${KEY}|${EVENT}`,
        attempt: 2,
        started_at: at(200),
        completed_at: at(210),
        outcome: "succeeded",
        error_msg: null,
        status_code: 200,
        duration_ms: 10,
      },
    ],
    dlq: [],
    records: records.map(([topic, kind, n]) => ({ binding_key: KEY, topic, kind, n })),
    calls: new Map([["h1", [call(1, 12), call(2, 202)]]]),
    listed: new Map([[KEY, new Map(STATUSES.map((s) => [s, s === "succeeded" ? [EVENT] : []]))]]),
    dlqListed: new Map([[KEY, 0]]),
    metrics: [
      { name: "switchyard_dispatches_total", labels: { trigger: "b1", status: "succeeded" }, value: 1 },
      { name: "switchyard_retries_total", labels: { trigger: "b1" }, value: 1 },
      { name: "switchyard_intake_total", labels: { source: "src", outcome: "accepted" }, value: 1 },
      { name: "switchyard_intake_total", labels: { source: "src", outcome: "duplicate" }, value: 1 },
    ],
  };
  return { runs: [run], events: new Map([["d1", event]]), answers, snap };
}

const check = (w: ReturnType<typeof world>) => checkRun(w.runs, w.events, w.answers, "src", w.snap).violations;

describe("reliability oracle", () => {
  it("passes a consistent run", () => {
    expect(check(world())).toEqual([]);
  });

  it("reports a handler invoked twice for one attempt", () => {
    const w = world();
    const calls = w.snap.calls.get("h1") ?? [];
    calls.push({ ...(calls[1] as (typeof calls)[number]), at: T0 + 205 });
    expect(check(w)).toContain(`${KEY}|${EVENT}: attempt 2 invoked the handler 2 times`);
  });

  it("reports a terminal status that is not the last attempt's outcome", () => {
    const w = world();
    (w.snap.dispatches[0] as { status: string }).status = "dlq";
    expect(check(w)).toContain(`${KEY}|${EVENT}: last attempt succeeded but status dlq`);
  });

  it("reports a delivery accepted twice", () => {
    const w = world();
    w.answers.byIdentity.set("d1", { accepted: [EVENT, "evt_2"], duplicateOf: [], unavailable: 0 });
    expect(check(w)).toContain(`intake: d1 accepted 2 times (${EVENT}, evt_2)`);
  });

  it("reports an answer recorded differently than the handler sent it", () => {
    const w = world();
    const calls = w.snap.calls.get("h1") ?? [];
    (calls[1] as { aborted: boolean }).aborted = true;
    expect(check(w).join("\n")).toMatch(/#2: recorded a different answer than the handler sent/);
  });

  it("reports a retry that came before its delay", () => {
    const w = world();
    (w.snap.attempts[1] as { started_at: string }).started_at = at(60);
    expect(check(w)).toContain(`${KEY}|${EVENT}: attempt 2 started 40ms after attempt 1, expected ≥ 100ms`);
  });

  it("reports counts that do not reconcile", () => {
    const w = world();
    (w.snap.metrics[0] as { value: number }).value = 2;
    (w.snap.records[0] as { n: number }).n = 0;
    expect(check(w)).toEqual([
      `${KEY}: records DispatchSucceeded = 0, expected 1`,
      `${KEY}: metric dispatches_total{status=succeeded} = 2, expected 1`,
    ]);
  });
});
