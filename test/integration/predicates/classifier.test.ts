/**
 * SPEC 7 classifier predicates end to end: the call protocol, per-evaluation ceilings, aggregate
 * budgets with each exhaustion strategy, preflight, and the per-event verdict cache used by replays.
 */

import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { api, eventually, waitForDispatch } from "../../support/api";
import { fireGateTimers } from "../../support/storage";
import {
  answer,
  boundHandler,
  classifier,
  graph,
  handlerCalls,
  publishAndSettle,
  recordEventually,
  records,
} from "./support";

describe("classifier predicates", () => {
  it("posts the event to the classifier and follows its verdict, recording cost and tokens", async () => {
    const cls = await classifier({
      responses: [
        answer({ pass: true, reason: "bug report", cost_usd: 0.002, tokens: 120 }),
        answer({ pass: false, reason: "spam" }),
      ],
    });
    const b = await boundHandler({ when: { classifier: cls.url, timeout_ms: "5s" } });
    const yes = await publishAndSettle(b, { title: "Crash on start" });
    const no = await publishAndSettle(b, { title: "Buy now" });
    expect(yes.detail).toMatchObject({ status: "succeeded", attempt_count: 1 });
    expect(no.detail).toMatchObject({
      status: "skipped",
      attempt_count: 0,
      result: { skipped: true, predicate: cls.url, reason: "spam" },
    });
    expect(await handlerCalls(b.hook)).toEqual([yes.event_id]);

    const calls = await cls.calls();
    expect(calls).toHaveLength(2);
    const body = JSON.parse(calls[0].body);
    expect(body).toMatchObject({
      type: "switchyard.classify",
      event: { id: yes.event_id, payload: { title: "Crash on start" } },
    });
    expect(calls[0].headers["webhook-signature"]).toMatch(/^v1,/);

    const [evaluated] = await recordEventually(yes.event_id, "predicate.evaluated");
    expect(evaluated?.payload).toMatchObject({
      result: true,
      reason: "bug report",
      cost_usd: 0.002,
      tokens: 120,
      cached: false,
    });
    expect(typeof evaluated?.payload.latency_ms).toBe("number");
  });

  it("an answer that writes absent optional fields as null is followed, with budgets and the cache", async () => {
    const cls = await classifier({
      responses: [],
      otherwise: answer({ pass: true, reason: null, cost_usd: 0, tokens: 0 }),
    });
    const b = await boundHandler({ when: { classifier: cls.url }, budget: { daily_cost_usd: 1 } });
    const sent = await publishAndSettle(b, { title: "pydantic" });
    expect(sent.detail).toMatchObject({ status: "succeeded", attempt_count: 1 });
    const [evaluated] = await recordEventually(sent.event_id, "predicate.evaluated");
    expect(evaluated?.payload).toMatchObject({ result: true, reason: null, cost_usd: 0, tokens: 0, cached: false });
  });

  it("a malformed answer is a predicate failure that names the field", async () => {
    const cls = await classifier({ responses: [], otherwise: answer({ pass: "yes" }) });
    const b = await boundHandler({ when: { classifier: cls.url } });
    const sent = await publishAndSettle(b);
    expect(sent.detail).toMatchObject({ status: "skipped", attempt_count: 0 });
    expect((sent.detail as { result: { reason: string } }).result.reason).toMatch(
      /^invalid classifier answer: pass: .*boolean/,
    );
  });

  it("an answer over max_cost_usd is false and records predicate.invocation_budget_exceeded", async () => {
    const cls = await classifier({ responses: [], otherwise: answer({ pass: true, cost_usd: 0.5 }) });
    const b = await boundHandler({ when: { classifier: cls.url, max_cost_usd: 0.1 } });
    const over = await publishAndSettle(b);
    expect(over.detail).toMatchObject({
      status: "skipped",
      result: { reason: "classifier cost 0.5 exceeds max_cost_usd 0.1" },
    });
    const [exceeded] = await recordEventually(over.event_id, "predicate.invocation_budget_exceeded");
    expect(exceeded?.payload).toMatchObject({ ceiling: "max_cost_usd", limit: 0.1, actual: 0.5, passed: false });
  });

  it("a timeout is false, but counts as a pass under warn", async () => {
    const slow = await classifier({ responses: [], otherwise: answer({ pass: true }, 1500) });
    const strict = await boundHandler({ when: { classifier: slow.url, timeout_ms: 200 } });
    const lenient = await boundHandler({
      when: { classifier: slow.url, timeout_ms: 200 },
      budget: { daily_cost_usd: 10, on_exhausted: "warn" },
    });
    const a = await publishAndSettle(strict);
    const b = await publishAndSettle(lenient);
    expect(a.detail).toMatchObject({ status: "skipped", result: { reason: "classifier timed out after 200ms" } });
    expect(b.detail).toMatchObject({ status: "succeeded", attempt_count: 1 });
  });

  it("a replay reuses the cached verdict at no cost", async () => {
    const cls = await classifier({
      responses: [],
      otherwise: answer({ pass: true, cost_usd: 0.01, reason: "relevant" }),
    });
    const b = await boundHandler({ when: { classifier: cls.url } });
    const first = await publishAndSettle(b);
    expect(first.detail.status).toBe("succeeded");
    await recordEventually(first.event_id, "predicate.evaluated");
    const replay = await api("POST", `/v1/events/${first.event_id}/replay`, {});
    expect(replay.status).toBe(202);
    const replayed = await eventually(async () => {
      const res = await api("GET", `/v1/dispatches?replay_of_event_id=${first.event_id}`);
      const item = res.body.items?.[0];
      return item && item.status === "succeeded" ? item : undefined;
    });
    expect(replayed).toMatchObject({ status: "succeeded", replay_of_event_id: first.event_id });
    expect(await cls.calls()).toHaveLength(1);
    const evaluations = await recordEventually(first.event_id, "predicate.evaluated", 2);
    expect(evaluations.map((r) => [r.payload.cached, r.payload.cost_usd])).toEqual([
      [false, 0.01],
      [true, 0],
    ]);
  });
});

/**
 * A binding whose classifier costs 0.02 per call with a 0.03 daily budget: the first call is
 * expected to cost nothing and runs; the second would reach 0.04 (> 0.03), so it is over.
 */
async function overBudget(strategy: string) {
  const cls = await classifier({ responses: [], otherwise: answer({ pass: true, cost_usd: 0.02 }) });
  const b = await boundHandler({
    when: { classifier: cls.url },
    budget: { daily_cost_usd: 0.03, on_exhausted: strategy },
  });
  const first = await publishAndSettle(b);
  expect(first.detail.status).toBe("succeeded");
  const second = await publishAndSettle(b);
  return { cls, b, first, second };
}

describe("aggregate budgets", () => {
  it("skip (default): skipped with the budget reason, classifier not called", async () => {
    const { cls, b, second } = await overBudget("skip");
    expect(second.detail).toMatchObject({
      status: "skipped",
      attempt_count: 0,
      result: { skipped: true, reason: "daily_budget_exceeded" },
    });
    expect(await cls.calls()).toHaveLength(1);
    expect(await handlerCalls(b.hook)).toHaveLength(1);
    const [exceeded] = await recordEventually(second.event_id, "predicate.budget_exceeded");
    expect(exceeded?.payload).toMatchObject({ reason: "daily_budget_exceeded", strategy: "skip", spent_day_usd: 0.02 });
  });

  it("warn: the dispatch proceeds without a classifier call", async () => {
    const { cls, b, second } = await overBudget("warn");
    expect(second.detail).toMatchObject({ status: "succeeded", attempt_count: 1 });
    expect(await cls.calls()).toHaveLength(1);
    expect(await handlerCalls(b.hook)).toHaveLength(2);
    await recordEventually(second.event_id, "predicate.budget_exceeded");
    // The stage still shows: a predicate.evaluated that cost nothing, after the budget record.
    const lifecycle = (await records(second.event_id, "triggers.lifecycle")).map((r) => r.kind);
    expect(lifecycle.slice(0, 3)).toEqual(["predicate.budget_exceeded", "predicate.evaluated", "DispatchStarted"]);
    const [evaluated] = await records(second.event_id, "triggers.lifecycle", "predicate.evaluated");
    expect(evaluated?.payload).toMatchObject({
      result: true,
      reason: "daily_budget_exceeded: passed without calling the classifier (warn)",
      cost_usd: 0,
      tokens: 0,
    });
    const g = await graph(second.trace_id);
    const predicateId = `predicate:${b.bindingKey}:${second.event_id}`;
    expect(g.nodes.find((n) => n.id === predicateId)).toMatchObject({ kind: "predicate", status: "passed" });
  });

  it("fail: dlq with attempt_count 0 and error class budget_exhausted", async () => {
    const { b, second } = await overBudget("fail");
    expect(second.detail).toMatchObject({
      status: "dlq",
      attempt_count: 0,
      error: "trigger budget exhausted: daily_budget_exceeded",
    });
    const dlq = await eventually(async () => {
      const res = await api("GET", `/v1/dlq?binding_key=${encodeURIComponent(b.bindingKey)}`);
      return res.body.items?.[0];
    });
    expect(dlq).toMatchObject({ error_class: "budget_exhausted", reason: "daily_budget_exceeded", attempt_count: 0 });
    await recordEventually(second.event_id, "DlqMoved");
  });

  it("retry_later: waiting with retry_at at the next UTC midnight, then re-run automatically", async () => {
    const { cls, b, second } = await overBudget("retry_later");
    const now = new Date();
    const midnight = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + 1)).toISOString();
    expect(second.detail).toMatchObject({
      status: "waiting",
      attempt_count: 0,
      result: { deferred: true, reason: "daily_budget_exceeded", retry_at: midnight },
    });
    const [deferred] = await recordEventually(second.event_id, "dispatch_skipped");
    expect(deferred?.payload).toMatchObject({ deferred: true, skip_stage: "predicate" });

    // Move the gate's clock to retry_at: a new day has no spend, and the deferral timer is due.
    const gate = env.BINDING_GATE.getByName(b.bindingKey);
    await runInDurableObject(gate, (_instance, state) => {
      state.storage.sql.exec("DELETE FROM budget_buckets");
    });
    await fireGateTimers(b.bindingKey, "predicate");
    const done = await waitForDispatch(b.bindingKey, second.event_id, ["succeeded"]);
    expect(done).toMatchObject({ status: "succeeded", attempt_count: 1 });
    expect(await cls.calls()).toHaveLength(2);
  });

  it("retry_later: a cancel request ends the deferral before its re-run", async () => {
    const { cls, b, second } = await overBudget("retry_later");
    expect(second.detail).toMatchObject({ status: "waiting", result: { deferred: true } });
    const path = `/v1/dispatches/${encodeURIComponent(b.bindingKey)}/${second.event_id}`;
    const res = await api("POST", `${path}/cancel`);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body).toMatchObject({
      status: "cancelled",
      attempt_count: 0,
      error: "trigger cancel request cancelled budget deferral",
    });
    await fireGateTimers(b.bindingKey, "predicate");
    expect((await api("GET", path)).body.status).toBe("cancelled");
    expect(await cls.calls()).toHaveLength(1);
  });

  it("with an hourly limit, retry_later waits for the next UTC hour", async () => {
    const cls = await classifier({ responses: [], otherwise: answer({ pass: true, cost_usd: 0.02 }) });
    const b = await boundHandler({
      when: { classifier: cls.url },
      budget: { hourly_cost_usd: 0.01, daily_cost_usd: 5, on_exhausted: "retry_later" },
    });
    await publishAndSettle(b);
    const second = await publishAndSettle(b);
    const now = new Date();
    const nextHour = new Date(
      Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate(), now.getUTCHours() + 1),
    ).toISOString();
    expect(second.detail.result).toEqual({ deferred: true, reason: "hourly_budget_exceeded", retry_at: nextHour });
  });

  it("preflight blocks before any classifier call when the expected cost alone breaks the limit", async () => {
    const cls = await classifier({ responses: [], otherwise: answer({ pass: true, cost_usd: 0.2 }) });
    const b = await boundHandler({
      when: { classifier: cls.url, max_cost_usd: 0.5 },
      budget: { hourly_cost_usd: 0.25, on_exhausted: "skip" },
    });
    const blocked = await publishAndSettle(b);
    expect(blocked.detail).toMatchObject({ status: "skipped", result: { reason: "hourly_budget_exceeded" } });
    expect(await cls.calls()).toHaveLength(0);
    expect(await records(blocked.event_id, "triggers.lifecycle", "predicate.evaluated")).toEqual([]);
  });
});
