/**
 * SPEC 12.2 (edition 2): A2A tasks followed to their end, against real `@a2a-js/sdk` agents
 * (test/support/a2a-agents.ts) whose tasks finish, fail or get cancelled seconds after `SendMessage`
 * answered. Polling runs on gate timers, so it survives eviction; a cancel request on a followed
 * dispatch also cancels the task at the agent.
 */
import { evictDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, inject, it } from "vitest";
import { api, eventually, waitForDispatch } from "../../support/api";
import { bindingTo, publish } from "../../support/dispatch";

type Agent = "completing" | "legacy";
const FINAL = ["succeeded", "failed", "cancelled", "dlq", "skipped"];

const port = (agent: Agent) => inject("a2aAgentPorts")[agent];
const agentUri = (agent: Agent) => `a2a://127.0.0.1:${port(agent)}/triage`;
const cleartext = { allow_cleartext: true };
const path = (bindingKey: string, eventId: string) => `/v1/dispatches/${encodeURIComponent(bindingKey)}/${eventId}`;

interface RpcCall {
  body: { method?: string; params?: { id?: string } };
}

/** JSON-RPC calls an agent received about one task. */
async function taskCalls(agent: Agent, taskId: string): Promise<string[]> {
  const calls: RpcCall[] = await (await fetch(`http://127.0.0.1:${port(agent)}/__calls?path=/a2a/jsonrpc`)).json();
  return calls.filter((c) => c.body?.params?.id === taskId).map((c) => c.body.method ?? "");
}

async function followed(agent: Agent, later: { state: string; after_ms?: number }, extra = {}) {
  const b = await bindingTo(agentUri(agent), { ...cleartext, ...extra });
  const { event_id, trace_id } = await publish(b.provider, "issue.opened", { a2a_later: later });
  const waiting = await waitForDispatch(b.bindingKey, event_id, ["waiting", ...FINAL]);
  expect(waiting).toMatchObject({ status: "waiting", attempt_count: 1 });
  return { b, event_id, trace_id, taskId: waiting.result.task_id as string, handle: waiting.result };
}

describe("A2A tasks followed to their end", () => {
  it("1.0: a task completed later ends succeeded with its artifact's text as the result", async () => {
    const { b, event_id, trace_id, taskId } = await followed("completing", { state: "completed", after_ms: 1_500 });
    const done = await waitForDispatch(b.bindingKey, event_id, FINAL, 20_000);
    expect(done).toMatchObject({
      status: "succeeded",
      attempt_count: 1,
      error: null,
      result: { agent: "completing", echo: { event_id } },
    });
    expect(done.attempts).toEqual([expect.objectContaining({ attempt: 1, outcome: "waiting" })]);
    const calls = await taskCalls("completing", taskId);
    expect(calls.filter((m) => m === "GetTask").length).toBeGreaterThanOrEqual(1);
    expect(calls).not.toContain("CancelTask");

    // The records and the graph show the task's states: working, then its end on the a2a_hop node.
    const records = await api("GET", `/v1/records?event_id=${event_id}&limit=500`);
    const kinds = records.body.items.map((r: { kind: string }) => r.kind);
    expect(kinds.indexOf("DispatchSucceeded")).toBeGreaterThan(kinds.indexOf("dispatch_waiting"));
    const graph = await api("GET", `/v1/traces/${trace_id}/graph`);
    const hop = graph.body.nodes.find((n: { id: string }) => n.id === `a2a:dispatch:${b.bindingKey}:${event_id}:1`);
    expect(hop).toMatchObject({ kind: "a2a_hop", status: "succeeded" });
  });

  it("0.3: a task that fails later ends failed with the agent's message, not retried, circuit untouched", async () => {
    const { b, event_id, taskId } = await followed("legacy", { state: "failed", after_ms: 500 });
    const done = await waitForDispatch(b.bindingKey, event_id, FINAL, 20_000);
    expect(done).toMatchObject({ status: "failed", attempt_count: 1, error: "agent says: failed" });
    const calls = await taskCalls("legacy", taskId);
    expect(calls).toContain("tasks/get");
    expect(calls).not.toContain("GetTask");
    const circuits = await api("GET", "/v1/circuits");
    const mine = circuits.body.items.find((c: { destination: string }) =>
      c.destination.includes(String(port("legacy"))),
    );
    expect(mine?.failures ?? 0).toBe(0);
  });

  it("a rejected task ends failed; a task the agent cancels ends cancelled", async () => {
    const rejected = await followed("completing", { state: "rejected", after_ms: 300 });
    const canceled = await followed("completing", { state: "canceled", after_ms: 300 });
    expect(await waitForDispatch(rejected.b.bindingKey, rejected.event_id, FINAL, 20_000)).toMatchObject({
      status: "failed",
      error: "agent says: rejected",
    });
    const end = await waitForDispatch(canceled.b.bindingKey, canceled.event_id, FINAL, 20_000);
    expect(end.status).toBe("cancelled");
    expect(end.error).toMatch(/^A2A task .* was canceled by the agent: stopped by the agent$/);
  });

  it("input-required stays waiting for an operator, and polling stops", async () => {
    const { b, event_id, taskId } = await followed("completing", { state: "input-required", after_ms: 300 });
    const seen = await eventually(async () => {
      const d = (await api("GET", path(b.bindingKey, event_id))).body;
      return d.result?.state === "TASK_STATE_INPUT_REQUIRED" ? d : undefined;
    }, 15_000);
    expect(seen).toMatchObject({ status: "waiting", result: { kind: "a2a_task_handle", task_id: taskId } });
    const polls = (await taskCalls("completing", taskId)).length;
    await new Promise((r) => setTimeout(r, 2_500));
    expect((await taskCalls("completing", taskId)).length).toBe(polls);
    const records = await api("GET", `/v1/records?event_id=${event_id}&kind=a2a.task_state`);
    expect(records.body.items.map((r: { payload: { state: string } }) => r.payload.state)).toContain(
      "TASK_STATE_INPUT_REQUIRED",
    );
    const done = await api("POST", `${path(b.bindingKey, event_id)}/complete`, { status: "succeeded", result: 1 });
    expect(done.body).toMatchObject({ status: "succeeded", result: 1 });
  });

  it("a task that never finishes is cancelled at the agent when follow_for runs out, and the dispatch fails", async () => {
    const { b, event_id, taskId } = await followed("completing", { state: "never" }, { a2a: { follow_for: "2s" } });
    const done = await waitForDispatch(b.bindingKey, event_id, FINAL, 20_000);
    expect(done).toMatchObject({ status: "failed", error: `A2A task ${taskId} did not finish within 2s` });
    await eventually(async () => ((await taskCalls("completing", taskId)).includes("CancelTask") ? true : undefined));
  });

  it("a cancel request ends a followed dispatch cancelled and cancels the task at the agent (0.3)", async () => {
    const { b, event_id, trace_id, taskId } = await followed("legacy", { state: "never" });
    const res = await api("POST", `${path(b.bindingKey, event_id)}/cancel`, { reason: "not needed" });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body).toMatchObject({
      status: "cancelled",
      attempt_count: 1,
      error: "trigger cancel request cancelled waiting dispatch",
    });
    await eventually(async () => ((await taskCalls("legacy", taskId)).includes("tasks/cancel") ? true : undefined));
    expect((await api("POST", `${path(b.bindingKey, event_id)}/cancel`)).status).toBe(409);
    const graph = await api("GET", `/v1/traces/${trace_id}/graph`);
    const hop = graph.body.nodes.find((n: { id: string }) => n.id === `a2a:dispatch:${b.bindingKey}:${event_id}:1`);
    expect(hop).toMatchObject({ kind: "a2a_hop", status: "cancelled", outcome: "cancelled" });
  });

  it("polling survives the gate's eviction", async () => {
    const { b, event_id } = await followed("completing", { state: "completed", after_ms: 2_000 });
    await evictDurableObject(env.BINDING_GATE.getByName(b.bindingKey));
    const done = await waitForDispatch(b.bindingKey, event_id, FINAL, 20_000);
    expect(done).toMatchObject({ status: "succeeded", result: { echo: { event_id } } });
  });

  it("rejects a malformed follow_for with the field named", async () => {
    const res = await api("PUT", "/v1/bindings/bad-follow", {
      provider: "github",
      handler: "a2a://agents.example.com/triage",
      a2a: { follow_for: "soon" },
    });
    expect(res.status).toBe(400);
    expect(res.body.error.details.problems[0]).toMatchObject({ path: "a2a.follow_for" });
  });
});
