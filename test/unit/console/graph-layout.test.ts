import { describe, expect, it } from "vitest";
import { DEFAULT_LAYOUT, layoutGraph, statusTone } from "../../../src/console/graph-layout";
import type { GraphEdge, GraphNode } from "../../../src/observability/action-graph";

const node = (id: string, kind = "dispatch", status: string | null = null): GraphNode => ({
  id,
  kind,
  label: id,
  status,
  outcome: null,
  metadata: {},
});
const edge = (from: string, to: string, kind = "trigger_dispatch", label: string | null = null): GraphEdge => ({
  from,
  to,
  kind,
  label,
});

/** `id → [column, row]` for compact assertions. */
function grid(layout: ReturnType<typeof layoutGraph>) {
  return Object.fromEntries(layout.nodes.map((n) => [n.node.id, [n.column, n.row]]));
}

describe("layoutGraph columns by causal depth", () => {
  it.each([
    {
      name: "a succeeded dispatch: trigger then dispatch",
      nodes: ["trigger:e", "dispatch:b@v1:e:1"],
      edges: [["trigger:e", "dispatch:b@v1:e:1"]],
      want: { "trigger:e": [0, 0], "dispatch:b@v1:e:1": [1, 0] },
    },
    {
      name: "a retry chain reads left to right and ends in the DLQ",
      nodes: ["t", "d1", "r2", "d2", "q"],
      edges: [
        ["t", "d1"],
        ["d1", "r2"],
        ["r2", "d2"],
        ["d2", "q"],
      ],
      want: { t: [0, 0], d1: [1, 0], r2: [2, 0], d2: [3, 0], q: [4, 0] },
    },
    {
      name: "two bindings fan out from one trigger into one column",
      nodes: ["t", "p:a", "d:a", "d:b"],
      edges: [
        ["t", "p:a"],
        ["p:a", "d:a"],
        ["t", "d:b"],
      ],
      want: { t: [0, 0], "p:a": [1, 0], "d:b": [1, 1], "d:a": [2, 0] },
    },
    {
      name: "depth is the longest path, not the first one found",
      nodes: ["a", "b", "c"],
      edges: [
        ["a", "c"],
        ["a", "b"],
        ["b", "c"],
      ],
      want: { a: [0, 0], b: [1, 0], c: [2, 0] },
    },
    {
      name: "nodes without edges are roots in column 0, in input order",
      nodes: ["x", "y"],
      edges: [],
      want: { x: [0, 0], y: [0, 1] },
    },
  ])("$name", ({ nodes, edges, want }) => {
    const layout = layoutGraph({ nodes: nodes.map((id) => node(id)), edges: edges.map(([f, t]) => edge(f!, t!)) });
    expect(grid(layout)).toEqual(want);
    expect(layout.columns).toBe(Math.max(...Object.values(want).map(([c]) => c!)) + 1);
  });
});

describe("layoutGraph rows", () => {
  it("orders a column by the mean row of its predecessors, so children line up with their parents", () => {
    // Two triggers; the second one's child is listed first, yet it belongs next to the second trigger.
    const layout = layoutGraph({
      nodes: [node("t1"), node("t2"), node("child-of-t2"), node("child-of-t1")],
      edges: [edge("t2", "child-of-t2"), edge("t1", "child-of-t1")],
    });
    expect(grid(layout)).toMatchObject({ t1: [0, 0], t2: [0, 1], "child-of-t1": [1, 0], "child-of-t2": [1, 1] });
  });
});

describe("layoutGraph cycles, loops and missing nodes", () => {
  it("a cycle terminates, keeps forward depth, and its closing edge is drawn as a back curve", () => {
    const layout = layoutGraph({
      nodes: [node("a"), node("b")],
      edges: [edge("a", "b"), edge("b", "a", "replay_chain")],
    });
    expect(grid(layout)).toEqual({ a: [0, 0], b: [1, 0] });
    expect(layout.edges.map((e) => [e.edge.kind, e.back])).toEqual([
      ["trigger_dispatch", false],
      ["replay_chain", true],
    ]);
  });

  it("a self-loop stays in place", () => {
    const layout = layoutGraph({ nodes: [node("a")], edges: [edge("a", "a", "retry")] });
    expect(grid(layout)).toEqual({ a: [0, 0] });
    expect(layout.edges[0]!.back).toBe(true);
  });

  it("edges to unknown nodes are set apart, not drawn", () => {
    const layout = layoutGraph({ nodes: [node("a")], edges: [edge("a", "ghost"), edge("nobody", "a")] });
    expect(layout.edges).toEqual([]);
    expect(layout.dangling.map((e) => `${e.from}->${e.to}`)).toEqual(["a->ghost", "nobody->a"]);
  });

  it("a repeated node id keeps its first occurrence", () => {
    const layout = layoutGraph({ nodes: [node("a", "trigger"), node("a", "dispatch")], edges: [] });
    expect(layout.nodes.map((n) => n.node.kind)).toEqual(["trigger"]);
  });

  it("a long chain (no recursion limit) lays out in linear columns", () => {
    const ids = Array.from({ length: 5_000 }, (_, i) => `n${i}`);
    const layout = layoutGraph({
      nodes: ids.map((id) => node(id)),
      edges: ids.slice(1).map((id, i) => edge(ids[i]!, id)),
    });
    expect(layout.columns).toBe(5_000);
    expect(layout.nodes.at(-1)!.column).toBe(4_999);
  });
});

describe("layoutGraph geometry", () => {
  const o = DEFAULT_LAYOUT;

  it("places nodes on a grid and sizes the drawing to hold them", () => {
    const layout = layoutGraph({
      nodes: [node("t"), node("a"), node("b")],
      edges: [edge("t", "a"), edge("t", "b")],
    });
    const b = layout.nodes.find((n) => n.node.id === "b")!;
    expect([b.x, b.y]).toEqual([o.margin + o.nodeWidth + o.columnGap, o.margin + o.nodeHeight + o.rowGap]);
    expect(layout.width).toBe(2 * o.margin + 2 * o.nodeWidth + o.columnGap);
    expect(layout.height).toBe(2 * o.margin + 2 * o.nodeHeight + o.rowGap);
    for (const n of layout.nodes) {
      expect(n.x + n.width).toBeLessThanOrEqual(layout.width);
      expect(n.y + n.height).toBeLessThanOrEqual(layout.height);
    }
  });

  it("a forward edge runs from the source's right side to the target's left side", () => {
    const layout = layoutGraph({ nodes: [node("t"), node("d")], edges: [edge("t", "d", "trigger_dispatch", "go")] });
    const [e] = layout.edges;
    const x1 = o.margin + o.nodeWidth;
    const x2 = o.margin + o.nodeWidth + o.columnGap;
    const y = o.margin + o.nodeHeight / 2;
    expect(e!.path.startsWith(`M ${x1} ${y} C`)).toBe(true);
    expect(e!.path.endsWith(`${x2} ${y}`)).toBe(true);
    expect([e!.labelX, e!.back]).toEqual([(x1 + x2) / 2, false]);
  });

  it("leaves room below the nodes for back curves", () => {
    const plain = layoutGraph({ nodes: [node("a"), node("b")], edges: [edge("a", "b")] });
    const looped = layoutGraph({ nodes: [node("a"), node("b")], edges: [edge("a", "b"), edge("b", "a")] });
    expect(looped.height).toBeGreaterThan(plain.height);
  });

  it("an empty graph is an empty drawing", () => {
    expect(layoutGraph({ nodes: [], edges: [] })).toEqual({
      width: 2 * o.margin,
      height: 2 * o.margin,
      columns: 0,
      nodes: [],
      edges: [],
      dangling: [],
    });
  });
});

describe("statusTone", () => {
  it.each([
    ["succeeded", "ok"],
    ["failed", "bad"],
    ["dlq", "bad"],
    ["running", "busy"],
    ["scheduled", "busy"],
    ["waiting", "wait"],
    ["skipped", "muted"],
    ["cancelled", "muted"],
    ["accepted", "info"],
    ["something-new", "neutral"],
    [null, "neutral"],
  ] as const)("%s → %s", (status, tone) => {
    expect(statusTone(status)).toBe(tone);
  });

  it("colours placed nodes by their status", () => {
    const layout = layoutGraph({ nodes: [node("a", "dispatch", "succeeded"), node("b", "dlq", "dlq")], edges: [] });
    expect(layout.nodes.map((n) => n.tone)).toEqual(["ok", "bad"]);
  });
});
