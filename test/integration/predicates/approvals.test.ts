/** SPEC 8 end to end: act_auto decision budgets, approval requests, approve/deny, counting order. */
import { describe, expect, it } from "vitest";
import { api, eventually, waitForDispatch } from "../../support/api";
import { boundHandler, graph, handlerCalls, publishAndSettle, recordEventually } from "./support";

async function pendingApproval(requestId: string) {
  return eventually(async () => {
    const res = await api("GET", "/v1/approvals?state=pending&limit=500");
    return res.body.items.find((a: { id: string }) => a.id === requestId);
  });
}

describe("autonomy approvals", () => {
  it("over the hourly decision budget a dispatch waits for approval; approve runs the handler, deny fails it", async () => {
    const b = await boundHandler({ autonomy: { tier: "act_auto", max_decisions_per_hour: 1 } });
    const first = await publishAndSettle(b);
    expect(first.detail).toMatchObject({ status: "succeeded", attempt_count: 1 });

    const second = await publishAndSettle(b);
    expect(second.detail).toMatchObject({
      status: "waiting",
      attempt_count: 0,
      result: { approval_required: true, reason: "hourly_decision_limit_reached", reviewers: ["operator"] },
    });
    const requestId = second.detail.result.request_id as string;
    expect(requestId).toMatch(/^apr_/);
    // The handler has not been called for the waiting dispatch.
    expect(await handlerCalls(b.hook)).toEqual([first.event_id]);

    const approval = await pendingApproval(requestId);
    expect(approval).toMatchObject({
      id: requestId,
      binding_key: b.bindingKey,
      event_id: second.event_id,
      reason: "hourly_decision_limit_reached",
      reviewers: ["operator"],
      state: "pending",
    });

    const [exceeded] = await recordEventually(second.event_id, "autonomy.budget_exceeded");
    expect(exceeded?.payload).toMatchObject({ reason: "hourly_decision_limit_reached", request_id: requestId });
    const g = await graph(second.trace_id);
    const approvalNode = `approval:${b.bindingKey}:${second.event_id}`;
    expect(g.nodes.find((n) => n.id === approvalNode)).toMatchObject({ kind: "approval", status: "pending" });
    expect(g.edges).toContainEqual(expect.objectContaining({ to: approvalNode, kind: "approval_gate" }));

    const approved = await api("POST", `/v1/approvals/${requestId}/approve`, {
      reviewer: "alice",
      reason: "looks fine",
    });
    expect(approved.status).toBe(200);
    expect(approved.body).toMatchObject({
      id: requestId,
      state: "approved",
      reviewer: "alice",
      decision_reason: "looks fine",
    });
    const done = await waitForDispatch(b.bindingKey, second.event_id, ["succeeded"]);
    expect(done).toMatchObject({ status: "succeeded", attempt_count: 1 });
    expect(await handlerCalls(b.hook)).toEqual([first.event_id, second.event_id]);
    expect((await graph(second.trace_id)).nodes.find((n) => n.id === approvalNode)?.status).toBe("approved");

    // Deciding twice is a conflict.
    const again = await api("POST", `/v1/approvals/${requestId}/deny`, {});
    expect(again.status).toBe(409);

    // The approved dispatch did not consume a decision: the next one still needs approval, and deny fails it.
    const third = await publishAndSettle(b);
    expect(third.detail.status).toBe("waiting");
    const denied = await api("POST", `/v1/approvals/${third.detail.result.request_id}/deny`, {
      reviewer: "bob",
      reason: "not now",
    });
    expect(denied.status).toBe(200);
    expect(denied.body.state).toBe("denied");
    const failed = await waitForDispatch(b.bindingKey, third.event_id, ["failed"]);
    expect(failed).toMatchObject({ status: "failed", attempt_count: 0 });
    expect(failed.error).toBe(`approval ${third.detail.result.request_id} denied by bob: not now`);
    expect(await handlerCalls(b.hook)).toHaveLength(2);
  });

  it("decisions are counted only once flow control admits a dispatch", async () => {
    const b = await boundHandler({
      autonomy: { tier: "act_auto", max_decisions_per_hour: 2 },
      flow_control: { rate_limit: { key: "event.payload.customer", period: "1h", max: 1 } },
    });
    const a1 = await publishAndSettle(b, { customer: "a" });
    const a2 = await publishAndSettle(b, { customer: "a" }); // rate limited: no decision
    const b1 = await publishAndSettle(b, { customer: "b" });
    const c1 = await publishAndSettle(b, { customer: "c" });
    expect(a1.detail.status).toBe("succeeded");
    expect(a2.detail).toMatchObject({ status: "skipped", result: { flow_control: "rate_limited" } });
    expect(b1.detail.status).toBe("succeeded");
    expect(c1.detail).toMatchObject({ status: "waiting", result: { approval_required: true } });
  });

  it("a decision budget of a non-act_auto tier does not apply; the tier reaches the handler", async () => {
    const b = await boundHandler({ autonomy: { tier: "suggest", max_decisions_per_hour: 0 } });
    const e = await publishAndSettle(b);
    expect(e.detail.status).toBe("succeeded");
  });

  it("approval errors: unknown id 404, bad body 400", async () => {
    expect((await api("POST", "/v1/approvals/apr_nope/approve", {})).status).toBe(404);
    const bad = await api("POST", "/v1/approvals/apr_nope/approve", { reviewer: 5 });
    expect(bad.status).toBe(400);
    expect((await api("GET", "/v1/approvals?state=maybe")).status).toBe(400);
  });

  it("a cancel request ends an approval wait: the dispatch is cancelled and the request is no longer pending", async () => {
    const b = await boundHandler({ autonomy: { tier: "act_auto", max_decisions_per_hour: 0 } });
    const waiting = await publishAndSettle(b);
    expect(waiting.detail).toMatchObject({ status: "waiting", result: { approval_required: true } });
    const requestId = waiting.detail.result.request_id as string;
    await pendingApproval(requestId);
    const path = `/v1/dispatches/${encodeURIComponent(b.bindingKey)}/${waiting.event_id}`;
    const res = await api("POST", `${path}/cancel`, { reason: "no longer needed" });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body).toMatchObject({
      status: "cancelled",
      attempt_count: 0,
      error: "trigger cancel request cancelled approval wait",
    });
    const approval = await eventually(async () => {
      const found = (await api("GET", `/v1/approvals/${requestId}`)).body;
      return found?.state === "cancelled" ? found : undefined;
    });
    expect(approval).toMatchObject({ state: "cancelled" });
    expect((await api("POST", `/v1/approvals/${requestId}/approve`, {})).status).toBe(409);
    expect(await handlerCalls(b.hook)).toEqual([]);
  });
});
