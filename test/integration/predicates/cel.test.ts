/** SPEC 7 CEL predicates end to end: true, false, runtime error, non-bool, and the predicate breaker. */
import { describe, expect, it } from "vitest";
import { api } from "../../support/api";
import { boundHandler, graph, handlerCalls, publishAndSettle, recordEventually, records } from "./support";

const issuesOpened = (draft: boolean) => ({
  action: "opened",
  issue: { number: 7, title: "Crash", labels: [{ name: "bug" }], draft },
  repository: { full_name: "acme/app" },
});

describe("CEL predicates", () => {
  it("true dispatches, false skips with the predicate and reason, records in causal order", async () => {
    const when = 'event.payload.issue.labels.exists(l, l.name == "bug") && !event.payload.issue.draft';
    const b = await boundHandler({ when });
    const yes = await publishAndSettle(b, issuesOpened(false), "issues.opened");
    const no = await publishAndSettle(b, issuesOpened(true), "issues.opened");

    expect(yes.detail).toMatchObject({ status: "succeeded", attempt_count: 1 });
    expect(no.detail).toMatchObject({
      status: "skipped",
      attempt_count: 0,
      result: { skipped: true, predicate: when, reason: "predicate returned false" },
      error: null,
    });
    expect(no.detail.attempts).toEqual([]);
    expect(await handlerCalls(b.hook)).toEqual([yes.event_id]);

    // predicate.evaluated comes before DispatchStarted, which comes before DispatchSucceeded.
    await recordEventually(yes.event_id, "DispatchSucceeded");
    const kinds = (await records(yes.event_id, "triggers.lifecycle")).map((r) => r.kind);
    expect(kinds).toEqual(["predicate.evaluated", "DispatchStarted", "DispatchSucceeded"]);
    const [evaluated] = await records(yes.event_id, "triggers.lifecycle", "predicate.evaluated");
    expect(evaluated?.payload).toMatchObject({ result: true, reason: null, cost_usd: 0, tokens: 0, cached: false });

    const skipped = await recordEventually(no.event_id, "dispatch_skipped");
    expect(skipped[0]?.payload).toMatchObject({
      status: "skipped",
      skip_stage: "predicate",
      detail: { skipped: true, predicate: when, reason: "predicate returned false" },
    });

    // Action graph: a predicate node gated from the trigger.
    const g = await graph(no.trace_id);
    const predicateId = `predicate:${b.bindingKey}:${no.event_id}`;
    expect(g.nodes.find((n) => n.id === predicateId)).toMatchObject({ kind: "predicate", status: "rejected" });
    expect(g.edges).toContainEqual(
      expect.objectContaining({ from: `trigger:${no.event_id}`, to: predicateId, kind: "predicate_gate" }),
    );
  });

  it("a runtime error or a non-bool result skips with the error text as reason", async () => {
    const failing = await boundHandler({ when: "event.payload.pull_request.draft == false" });
    const err = await publishAndSettle(failing, { action: "opened" });
    expect(err.detail.status).toBe("skipped");
    expect(err.detail.result.reason).toMatch(/pull_request/);

    const nonBool = await boundHandler({ when: "event.payload.action" });
    const nb = await publishAndSettle(nonBool, { action: "opened" });
    expect(nb.detail).toMatchObject({
      status: "skipped",
      result: { skipped: true, reason: 'predicate must return a bool, got string: "opened"' },
    });
    expect(await handlerCalls(failing.hook)).toEqual([]);
    expect(await handlerCalls(nonBool.hook)).toEqual([]);
  });

  it("three consecutive failures open the breaker: later dispatches skip as circuit_open without evaluating", async () => {
    const b = await boundHandler({ when: "event.payload.x > 1.0" });
    // A success first: it must not count.
    const ok = await publishAndSettle(b, { x: 2 });
    expect(ok.detail.status).toBe("succeeded");
    for (let i = 0; i < 3; i++) {
      const failed = await publishAndSettle(b, { y: i });
      expect(failed.detail.result.reason).not.toBe("circuit_open");
    }
    const blocked = await publishAndSettle(b, { x: 5 });
    expect(blocked.detail).toMatchObject({ status: "skipped", result: { skipped: true, reason: "circuit_open" } });
    // The expression was not evaluated, yet the predicate stage still shows: its record says why and
    // costs nothing, and the graph has its predicate node.
    await recordEventually(blocked.event_id, "dispatch_skipped");
    const evaluated = await records(blocked.event_id, "triggers.lifecycle", "predicate.evaluated");
    expect(evaluated.map((r) => r.payload)).toEqual([
      expect.objectContaining({ result: false, reason: "circuit_open", cost_usd: 0, tokens: 0, cached: false }),
    ]);
    const predicateId = `predicate:${b.bindingKey}:${blocked.event_id}`;
    const g = await graph(blocked.trace_id);
    expect(g.nodes.find((n) => n.id === predicateId)).toMatchObject({ kind: "predicate", status: "rejected" });
    expect(g.edges).toContainEqual(expect.objectContaining({ to: predicateId, kind: "predicate_gate" }));
  });

  it("rejects an invalid expression at binding creation with its position", async () => {
    const res = await api("PUT", "/v1/bindings/bad-cel", {
      provider: "github",
      handler: "https://example.com/h",
      when: "event.payload.action ==",
    });
    expect(res.status).toBe(400);
    expect(res.body.error.details.problems[0]).toMatchObject({ path: "when" });
    expect(res.body.error.details.problems[0].message).toMatch(/invalid CEL expression \(line 1, column \d+\)/);
  });
});
