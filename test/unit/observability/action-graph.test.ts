import { describe, expect, it } from "vitest";
import { assembleActionGraph, type GraphRecord } from "../../../src/observability/action-graph";

const T = "trace-1";
let seq = 0;
const node = (payload: Record<string, unknown>): GraphRecord => ({
  seq: ++seq,
  kind: "node",
  payload: { trace_id: T, ...payload },
});
const edge = (payload: Record<string, unknown>): GraphRecord => ({
  seq: ++seq,
  kind: "edge",
  payload: { trace_id: T, ...payload },
});

describe("assembleActionGraph (SPEC 14, 19)", () => {
  it("returns the wire shape with defaults for fields never written", () => {
    expect(assembleActionGraph(T, [node({ id: "trigger:e1", kind: "trigger" })])).toEqual({
      trace_id: T,
      nodes: [{ id: "trigger:e1", kind: "trigger", label: null, status: null, outcome: null, metadata: {} }],
      edges: [],
    });
  });

  it("merges repeated node ids in seq order: later fields win, metadata merges, kind stays", () => {
    const started = node({
      id: "a2a:dispatch:b@v1:e1:1",
      kind: "a2a_hop",
      label: "b@v1 attempt 1",
      status: "running",
      metadata: { attempt: 1, target_uri: "a2a://x/agent" },
    });
    const done = node({ id: "a2a:dispatch:b@v1:e1:1", kind: "dispatch", status: "succeeded", outcome: "succeeded" });
    const extra = node({ id: "a2a:dispatch:b@v1:e1:1", metadata: { task_id: "t1" } });
    // Given out of order: assembly sorts by seq.
    const graph = assembleActionGraph(T, [extra, done, started]);
    expect(graph.nodes).toEqual([
      {
        id: "a2a:dispatch:b@v1:e1:1",
        kind: "a2a_hop",
        label: "b@v1 attempt 1",
        status: "succeeded",
        outcome: "succeeded",
        metadata: { attempt: 1, target_uri: "a2a://x/agent", task_id: "t1" },
      },
    ]);
  });

  it("an explicit null in a later write clears the field", () => {
    const graph = assembleActionGraph(T, [
      node({ id: "n", kind: "dispatch", label: "x", outcome: "retry" }),
      node({ id: "n", outcome: null }),
    ]);
    expect(graph.nodes[0]).toMatchObject({ label: "x", outcome: null });
  });

  it("dedupes edges by (from, to, kind), keeping first-seen order", () => {
    const graph = assembleActionGraph(T, [
      edge({ from: "a", to: "b", kind: "retry" }),
      edge({ from: "a", to: "b", kind: "retry" }),
      edge({ from: "a", to: "b", kind: "dlq_move" }),
      edge({ from: "b", to: "c", kind: "retry", label: "second" }),
      edge({ from: "a", to: "b", kind: "retry", label: "named later" }),
    ]);
    expect(graph.edges).toEqual([
      { from: "a", to: "b", kind: "retry", label: "named later" },
      { from: "a", to: "b", kind: "dlq_move", label: null },
      { from: "b", to: "c", kind: "retry", label: "second" },
    ]);
  });

  it("draws a retried dispatch that dead-letters", () => {
    const bk = "b@v1";
    const d = (n: number) => `dispatch:${bk}:e1:${n}`;
    const graph = assembleActionGraph(T, [
      node({ id: "trigger:e1", kind: "trigger", label: "e1", status: "accepted" }),
      node({ id: d(1), kind: "dispatch", status: "running", metadata: { attempt: 1 } }),
      edge({ from: "trigger:e1", to: d(1), kind: "trigger_dispatch" }),
      node({ id: d(1), kind: "dispatch", status: "failed", outcome: "retry" }),
      node({ id: `retry:${bk}:e1:2`, kind: "retry", status: "scheduled" }),
      edge({ from: d(1), to: `retry:${bk}:e1:2`, kind: "retry" }),
      node({ id: d(2), kind: "dispatch", status: "running", metadata: { attempt: 2 } }),
      edge({ from: `retry:${bk}:e1:2`, to: d(2), kind: "retry" }),
      node({ id: d(2), kind: "dispatch", status: "failed", outcome: "dlq" }),
      node({ id: `dlq:${bk}:e1`, kind: "dlq", label: "retry_exhausted", status: "dlq" }),
      edge({ from: d(2), to: `dlq:${bk}:e1`, kind: "dlq_move" }),
    ]);
    expect(graph.nodes.map((n) => [n.id, n.kind, n.status, n.outcome])).toEqual([
      ["trigger:e1", "trigger", "accepted", null],
      [d(1), "dispatch", "failed", "retry"],
      [`retry:${bk}:e1:2`, "retry", "scheduled", null],
      [d(2), "dispatch", "failed", "dlq"],
      [`dlq:${bk}:e1`, "dlq", "dlq", null],
    ]);
    expect(graph.edges.map((e) => `${e.from} -${e.kind}-> ${e.to}`)).toEqual([
      `trigger:e1 -trigger_dispatch-> ${d(1)}`,
      `${d(1)} -retry-> retry:${bk}:e1:2`,
      `retry:${bk}:e1:2 -retry-> ${d(2)}`,
      `${d(2)} -dlq_move-> dlq:${bk}:e1`,
    ]);
  });

  it("skips malformed payloads and unknown record kinds", () => {
    const graph = assembleActionGraph(T, [
      { seq: 1, kind: "node", payload: null },
      { seq: 2, kind: "node", payload: { kind: "trigger" } },
      { seq: 3, kind: "edge", payload: { from: "a", kind: "retry" } },
      { seq: 4, kind: "note", payload: { id: "x" } },
      node({ id: "ok" }),
    ]);
    expect(graph.nodes).toEqual([
      { id: "ok", kind: "unknown", label: null, status: null, outcome: null, metadata: {} },
    ]);
    expect(graph.edges).toEqual([]);
  });
});
