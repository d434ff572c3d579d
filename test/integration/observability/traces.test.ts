/** `GET /v1/traces/:trace_id/graph` end to end: dispatches through queues and the BindingGate, then the graph. */
import { describe, expect, it } from "vitest";
import { api, eventually, waitForDispatch } from "../../support/api";
import { publish, scriptedBinding } from "../../support/dispatch";
import { login } from "../console/support";

const TERMINAL = ["succeeded", "skipped", "waiting", "dlq", "failed", "cancelled"];
const fast = { retry: { max_attempts: 3, policy: { linear: { delay_ms: 20 } } } };

interface Graph {
  trace_id: string;
  nodes: { id: string; kind: string; label: string | null; status: string | null; outcome: string | null }[];
  edges: { from: string; to: string; kind: string; label: string | null }[];
}

async function graphOf(traceId: string): Promise<Graph> {
  const res = await api("GET", `/v1/traces/${traceId}/graph`);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body as Graph;
}

const node = (g: Graph, id: string) => g.nodes.find((n) => n.id === id);
const edgeList = (g: Graph) => g.edges.map((e) => `${e.from} -${e.kind}-> ${e.to}`);

describe("action graph", () => {
  it("a succeeded dispatch: trigger → dispatch, with the final status merged into the node", async () => {
    const b = await scriptedBinding({ responses: [], otherwise: { status: 200, body: { ok: true } } }, fast);
    const { event_id, trace_id } = await publish(b.provider);
    await waitForDispatch(b.bindingKey, event_id, TERMINAL);
    const g = await graphOf(trace_id);
    const dispatch = `dispatch:${b.bindingKey}:${event_id}:1`;
    expect(g.trace_id).toBe(trace_id);
    expect(g.nodes).toEqual([
      { id: `trigger:${event_id}`, kind: "trigger", label: event_id, status: "accepted", outcome: null, metadata: {} },
      {
        id: dispatch,
        kind: "dispatch",
        label: `${b.bindingKey} attempt 1`,
        status: "succeeded",
        outcome: "succeeded",
        metadata: { attempt: 1, target_uri: expect.stringContaining(b.hook) },
      },
    ]);
    expect(g.edges).toEqual([{ from: `trigger:${event_id}`, to: dispatch, kind: "trigger_dispatch", label: null }]);
  });

  it("a retried dispatch: dispatch → retry → dispatch", async () => {
    const b = await scriptedBinding({ responses: [{ status: 500 }, { status: 200 }] }, fast);
    const { event_id, trace_id } = await publish(b.provider);
    expect(await waitForDispatch(b.bindingKey, event_id, TERMINAL)).toMatchObject({ status: "succeeded" });
    const g = await graphOf(trace_id);
    const d1 = `dispatch:${b.bindingKey}:${event_id}:1`;
    const r2 = `retry:${b.bindingKey}:${event_id}:2`;
    const d2 = `dispatch:${b.bindingKey}:${event_id}:2`;
    expect(node(g, d1)).toMatchObject({ kind: "dispatch", status: "failed", outcome: "retry" });
    expect(node(g, r2)).toMatchObject({ kind: "retry", status: "fired", label: "retry in 20ms" });
    expect(node(g, d2)).toMatchObject({ kind: "dispatch", status: "succeeded", outcome: "succeeded" });
    expect(edgeList(g)).toEqual([
      `trigger:${event_id} -trigger_dispatch-> ${d1}`,
      `${d1} -retry-> ${r2}`,
      `${r2} -retry-> ${d2}`,
    ]);
  });

  it("a dead-lettered dispatch: the last attempt → dlq node by a dlq_move edge", async () => {
    const b = await scriptedBinding(
      { responses: [], otherwise: { status: 500 } },
      { retry: { max_attempts: 2, policy: { linear: { delay_ms: 10 } } } },
    );
    const { event_id, trace_id } = await publish(b.provider);
    expect(await waitForDispatch(b.bindingKey, event_id, TERMINAL)).toMatchObject({ status: "dlq" });
    const g = await graphOf(trace_id);
    const d2 = `dispatch:${b.bindingKey}:${event_id}:2`;
    const dlq = `dlq:${b.bindingKey}:${event_id}`;
    expect(node(g, d2)).toMatchObject({ status: "failed", outcome: "dlq" });
    expect(node(g, dlq)).toMatchObject({ kind: "dlq", status: "dlq", label: "retry_exhausted" });
    expect(edgeList(g)).toContain(`${d2} -dlq_move-> ${dlq}`);
    expect(g.nodes.map((n) => n.kind)).toEqual(["trigger", "dispatch", "retry", "dispatch", "dlq"]);
  });

  it("a replay adds a historical node and a replay_chain edge to the trigger", async () => {
    const b = await scriptedBinding({ responses: [], otherwise: { status: 200 } }, fast);
    const { event_id, trace_id } = await publish(b.provider);
    await waitForDispatch(b.bindingKey, event_id, TERMINAL);
    const replay = await api("POST", `/v1/events/${event_id}/replay`, {});
    expect(replay.status, JSON.stringify(replay.body)).toBe(202);
    await eventually(async () => {
      const res = await api("GET", `/v1/dispatches?replay_of_event_id=${event_id}`);
      return res.body.items?.[0]?.status === "succeeded" ? true : undefined;
    });
    const g = await graphOf(trace_id);
    expect(node(g, `historical:${event_id}`)).toMatchObject({
      kind: "historical",
      status: "replayed",
      label: event_id,
    });
    expect(g.edges).toContainEqual({
      from: `historical:${event_id}`,
      to: `trigger:${event_id}`,
      kind: "replay_chain",
      label: null,
    });
    // Original and replay write the same SPEC 14 ids (same event, same attempt number): they merge.
    expect(g.nodes.filter((n) => n.id === `dispatch:${b.bindingKey}:${event_id}:1`)).toHaveLength(1);
  });

  it("a DLQ replay links to its original too, and the console draws both", async () => {
    const b = await scriptedBinding(
      { responses: [{ status: 500 }], otherwise: { status: 200 } },
      {
        retry: { max_attempts: 1 },
      },
    );
    const { event_id, trace_id } = await publish(b.provider);
    await waitForDispatch(b.bindingKey, event_id, TERMINAL);
    const entry = await eventually(async () => {
      const res = await api("GET", `/v1/dlq?binding_key=${encodeURIComponent(b.bindingKey)}`);
      return res.body.items?.[0] as { id: string } | undefined;
    });
    expect((await api("POST", `/v1/dlq/${entry.id}/replay`, {})).status).toBe(202);
    const replayed = await eventually(async () => {
      const res = await api("GET", `/v1/dispatches?replay_of_event_id=${event_id}`);
      return res.body.items?.[0]?.status === "succeeded" ? true : undefined;
    });
    expect(replayed).toBe(true);
    const g = await graphOf(trace_id);
    expect(node(g, `historical:${event_id}`)).toMatchObject({ kind: "historical", status: "replayed" });
    expect(edgeList(g)).toContain(`historical:${event_id} -replay_chain-> trigger:${event_id}`);
    // The original attempt (to the DLQ) and the replay's attempt are separate nodes.
    const attempts = g.nodes.filter((n) => n.kind === "dispatch");
    expect(attempts.map((n) => n.outcome).sort()).toEqual(["dlq", "succeeded"]);

    const client = await login();
    const page = await client.get(`/console/traces/${trace_id}`);
    expect(page.status).toBe(200);
    expect(page.html).toContain('data-kind="historical"');
    expect(page.html).toContain('data-kind="replay_chain"');
  });

  it("a trace whose event matched no binding has an empty graph", async () => {
    const { trace_id } = await publish("nobody-listens-here");
    expect(await graphOf(trace_id)).toEqual({ trace_id, nodes: [], edges: [] });
  });

  it("404 for an unknown or malformed trace id; 401 without the admin token", async () => {
    expect((await api("GET", "/v1/traces/trace-that-never-was/graph")).status).toBe(404);
    const malformed = await api("GET", `/v1/traces/${encodeURIComponent("bad id!")}/graph`);
    expect(malformed.status).toBe(404);
    expect(malformed.body.error.code).toBe("not_found");
    expect((await api("GET", "/v1/traces/x/graph", undefined, { authorization: "" })).status).toBe(401);
  });
});
