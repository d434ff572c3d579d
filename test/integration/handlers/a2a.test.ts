/**
 * SPEC 12.2 end to end: bindings with `a2a://` handlers, events published through the API, and real
 * `@a2a-js/sdk` agents on 127.0.0.1 (test/support/a2a-agents.ts) answering over A2A 1.0 and 0.3.
 */
import { describe, expect, inject, it } from "vitest";
import { api, waitForDispatch } from "../../support/api";
import { bindingTo, publish } from "../../support/dispatch";

const TERMINAL = ["succeeded", "skipped", "waiting", "dlq", "failed", "cancelled"];
type Agent = "completing" | "working" | "flaky" | "legacy";

const port = (agent: Agent) => inject("a2aAgentPorts")[agent];
const agentUri = (agent: Agent) => `a2a://127.0.0.1:${port(agent)}/triage`;
const rpcUrl = (agent: Agent) => `http://127.0.0.1:${port(agent)}/a2a/jsonrpc`;
const cleartext = { allow_cleartext: true };

interface AgentCall {
  path: string;
  method: string;
  headers: Record<string, string | undefined>;
  // biome-ignore lint/suspicious/noExplicitAny: recorded JSON-RPC bodies are asserted field by field
  body: any;
}

/** Requests an agent received: the JSON-RPC calls of one trace, or the card requests. */
async function agentCalls(agent: Agent, filter: { context_id?: string; path?: string }): Promise<AgentCall[]> {
  const query = new URLSearchParams(filter as Record<string, string>).toString();
  return (await fetch(`http://127.0.0.1:${port(agent)}/__calls?${query}`)).json();
}

describe("a2a:// handler against @a2a-js/sdk agents", () => {
  it("a completed A2A 1.0 task succeeds with the agent's JSON answer", async () => {
    const b = await bindingTo(agentUri("completing"), cleartext);
    const { event_id, trace_id } = await publish(b.provider, "issue.opened", { n: 1 });
    const d = await waitForDispatch(b.bindingKey, event_id, TERMINAL);
    expect(d).toMatchObject({
      status: "succeeded",
      attempt_count: 1,
      handler_kind: "a2a",
      target_uri: agentUri("completing"),
      error: null,
      result: {
        agent: "completing",
        protocol: "1.0",
        echo: {
          type: "switchyard.dispatch",
          event_id,
          kind: "issue.opened",
          trace_id,
          binding_key: b.bindingKey,
          attempt: 1,
        },
      },
    });
    const graph = await api("GET", `/v1/records?topic=observability.action_graph&event_id=${event_id}&limit=100`);
    const nodes = (graph.body.items as { kind: string; payload: { id?: string; kind?: string } }[])
      .filter((r) => r.kind === "node")
      .map((r) => r.payload);
    expect(nodes).toContainEqual(
      expect.objectContaining({ id: `a2a:dispatch:${b.bindingKey}:${event_id}:1`, kind: "a2a_hop" }),
    );
  });

  it("sends A2A-Version, A2A-Trace-Id, the message id and contextId as specified", async () => {
    const cardRequestsBefore = (await agentCalls("completing", { path: "/.well-known/agent-card.json" })).length;
    const b = await bindingTo(agentUri("completing"), cleartext);
    const { event_id, trace_id } = await publish(b.provider, "issue.opened", { n: 2 });
    await waitForDispatch(b.bindingKey, event_id, TERMINAL);

    const cards = await agentCalls("completing", { path: "/.well-known/agent-card.json" });
    expect(cards.length).toBe(cardRequestsBefore + 1);
    expect(cards.at(-1)?.headers["a2a-version"]).toBe("1.0");

    const [call, ...more] = await agentCalls("completing", { context_id: trace_id });
    expect(more).toHaveLength(0);
    expect(call?.path).toBe("/a2a/jsonrpc");
    expect(call?.headers["a2a-version"]).toBe("1.0");
    expect(call?.headers["a2a-trace-id"]).toBe(trace_id);
    expect(call?.body).toMatchObject({
      jsonrpc: "2.0",
      method: "SendMessage",
      params: { message: { messageId: `${trace_id}.${event_id}`, contextId: trace_id, role: "ROLE_USER" } },
    });
    const parts = call?.body.params.message.parts;
    expect(parts).toHaveLength(1);
    expect(JSON.parse(parts[0].text)).toMatchObject({
      type: "switchyard.dispatch",
      trigger_id: b.id,
      binding_key: b.bindingKey,
      attempt: 1,
      trace_id,
      event: { id: event_id, kind: "issue.opened", payload: { n: 2 } },
    });
  });

  it("a direct message answer succeeds with its parsed text", async () => {
    const b = await bindingTo(agentUri("completing"), cleartext);
    const { event_id } = await publish(b.provider, "issue.opened", { a2a_mode: "message" });
    expect(await waitForDispatch(b.bindingKey, event_id, TERMINAL)).toMatchObject({
      status: "succeeded",
      result: { agent: "completing", echo: { event_id } },
    });
  });

  it("a task left working ends the dispatch waiting with a pending task handle", async () => {
    const b = await bindingTo(agentUri("working"), cleartext);
    const { event_id } = await publish(b.provider, "issue.opened");
    const d = await waitForDispatch(b.bindingKey, event_id, TERMINAL);
    expect(d).toMatchObject({ status: "waiting", attempt_count: 1, error: null });
    expect(d.result).toEqual({
      kind: "a2a_task_handle",
      task_id: expect.any(String),
      state: "TASK_STATE_WORKING",
      target_agent: "triage",
      rpc_url: rpcUrl("working"),
    });
    expect(d.result.task_id).not.toBe("");

    // SPEC 13.2: a waiting A2A dispatch is finished by the completion API.
    const done = await api("POST", `/v1/dispatches/${encodeURIComponent(b.bindingKey)}/${event_id}/complete`, {
      status: "succeeded",
      result: { answer: 42 },
    });
    expect(done.status, JSON.stringify(done.body)).toBe(200);
    expect(done.body).toMatchObject({ status: "succeeded", result: { answer: 42 } });
  });

  it("refuses cleartext without allow_cleartext: nothing reaches the agent, the error says why", async () => {
    const cardRequestsBefore = (await agentCalls("completing", { path: "/.well-known/agent-card.json" })).length;
    const b = await bindingTo(agentUri("completing"), { retry: { max_attempts: 1, policy: "svix" } });
    const { event_id, trace_id } = await publish(b.provider, "issue.opened");
    const d = await waitForDispatch(b.bindingKey, event_id, TERMINAL);
    // Over https the plain-http agent only looks unreachable (a TLS failure), which Switchyard cannot
    // tell from an outage without opening a cleartext connection: retryable, so it dead-letters here.
    expect(d).toMatchObject({ status: "dlq", attempt_count: 1 });
    expect(d.error).toContain(
      `A2A agent card discovery failed for 127.0.0.1:${port("completing")}: GET https://127.0.0.1:${port("completing")}/.well-known/agent-card.json: network error:`,
    );
    expect(d.error).toContain("cleartext http is not tried because the binding does not set allow_cleartext: true");
    expect(await agentCalls("completing", { context_id: trace_id })).toHaveLength(0);
    expect(await agentCalls("completing", { path: "/.well-known/agent-card.json" })).toHaveLength(cardRequestsBefore);
  });

  it("retries HTTP 500 answers under a linear policy and then succeeds", async () => {
    const b = await bindingTo(agentUri("flaky"), {
      ...cleartext,
      retry: { max_attempts: 5, policy: { linear: { delay_ms: 50 } } },
    });
    const { event_id, trace_id } = await publish(b.provider, "issue.opened");
    const d = await waitForDispatch(b.bindingKey, event_id, TERMINAL);
    expect(d).toMatchObject({
      status: "succeeded",
      attempt_count: 3,
      result: { agent: "flaky", echo: { event_id, attempt: 3 } },
    });
    expect(d.attempts.map((a: { outcome: string }) => a.outcome)).toEqual(["failed", "failed", "succeeded"]);
    expect(d.attempts[0]).toMatchObject({ error_msg: "A2A task dispatch returned HTTP 500", status_code: 500 });
    expect(d.attempts[1]).toMatchObject({ error_msg: "A2A task dispatch returned HTTP 500", status_code: 500 });

    const calls = await agentCalls("flaky", { context_id: trace_id });
    expect(calls).toHaveLength(3);
    expect(new Set(calls.map((c) => c.body.params.message.messageId))).toEqual(new Set([`${trace_id}.${event_id}`]));
    expect(calls.map((c) => JSON.parse(c.body.params.message.parts[0].text).attempt)).toEqual([1, 2, 3]);
  });

  it("speaks A2A 0.3 (message/send) to an agent whose card says 0.3", async () => {
    const b = await bindingTo(agentUri("legacy"), cleartext);
    const { event_id, trace_id } = await publish(b.provider, "issue.opened");
    const d = await waitForDispatch(b.bindingKey, event_id, TERMINAL);
    expect(d).toMatchObject({
      status: "succeeded",
      result: { agent: "legacy", protocol: "0.3", echo: { event_id, trace_id, attempt: 1 } },
    });
    const [call] = await agentCalls("legacy", { context_id: trace_id });
    expect(call?.headers["a2a-version"]).toBe("0.3");
    expect(call?.headers["a2a-trace-id"]).toBe(trace_id);
    expect(call?.body).toMatchObject({
      method: "message/send",
      params: {
        message: { kind: "message", messageId: `${trace_id}.${event_id}`, contextId: trace_id, role: "user" },
      },
    });
    expect(call?.body.params.message.parts).toEqual([{ kind: "text", text: expect.any(String) }]);
    // The 0.3 card lives only at the legacy well-known path.
    expect((await agentCalls("legacy", { path: "/.well-known/agent-card.json" })).length).toBeGreaterThan(0);
    expect((await agentCalls("legacy", { path: "/.well-known/agent.json" })).length).toBeGreaterThan(0);
  });

  it("keeps the 0.3 spelling of the state in a pending handle", async () => {
    const b = await bindingTo(agentUri("legacy"), cleartext);
    const { event_id } = await publish(b.provider, "issue.opened", { a2a_mode: "working" });
    const d = await waitForDispatch(b.bindingKey, event_id, TERMINAL);
    expect(d).toMatchObject({
      status: "waiting",
      result: { kind: "a2a_task_handle", state: "working", target_agent: "triage", rpc_url: rpcUrl("legacy") },
    });
  });
});
