/**
 * Layout of an action graph (SPEC 14) for the console's inline SVG. Pure: graph in, coordinates out.
 *
 * Nodes go into columns by causal depth: the longest path from a root along the graph's edges, so a
 * retry chain reads left to right (trigger → dispatch → retry → dispatch → dlq). Edges that close a
 * cycle (found by a depth-first walk in input order) do not count for depth and are drawn as curves
 * below the nodes. Within a column, nodes are ordered by the mean row of their predecessors (fewer
 * crossings), then by input order. Edges naming a node that is not in the graph are returned apart.
 */
import type { GraphEdge, GraphNode } from "../observability/action-graph";

export interface LayoutOptions {
  nodeWidth: number;
  nodeHeight: number;
  columnGap: number;
  rowGap: number;
  margin: number;
}

export const DEFAULT_LAYOUT: LayoutOptions = { nodeWidth: 210, nodeHeight: 54, columnGap: 120, rowGap: 30, margin: 20 };

/** Colour family of a node, from its status. */
export type Tone = "ok" | "bad" | "busy" | "wait" | "muted" | "info" | "neutral";

export interface PlacedNode {
  node: GraphNode;
  column: number;
  row: number;
  x: number;
  y: number;
  width: number;
  height: number;
  tone: Tone;
}

export interface PlacedEdge {
  edge: GraphEdge;
  /** SVG path data from the source's side to the target's side. */
  path: string;
  labelX: number;
  labelY: number;
  /** True for an edge that does not point to a later column (a cycle or same-depth link). */
  back: boolean;
}

export interface GraphLayout {
  width: number;
  height: number;
  columns: number;
  nodes: PlacedNode[];
  edges: PlacedEdge[];
  /** Edges whose `from` or `to` is not a node of the graph. */
  dangling: GraphEdge[];
}

const TONES: Record<string, Tone> = {
  succeeded: "ok",
  approved: "ok",
  resolved: "ok",
  failed: "bad",
  dlq: "bad",
  denied: "bad",
  rejected: "bad",
  running: "busy",
  pending: "busy",
  admitted: "busy",
  scheduled: "busy",
  retry_scheduled: "busy",
  held: "busy",
  deferred: "busy",
  waiting: "wait",
  approval_required: "wait",
  skipped: "muted",
  cancelled: "muted",
  accepted: "info",
  replayed: "info",
};

/** The colour family for a node or dispatch status; unknown and missing statuses are neutral. */
export function statusTone(status: string | null | undefined): Tone {
  return (status && TONES[status]) || "neutral";
}

/** Indexes of edges that close a cycle, from an iterative depth-first walk in input order. */
function backEdges(count: number, out: number[][], edgeTargets: number[]): Set<number> {
  const state = new Uint8Array(count); // 0 unseen, 1 on the stack, 2 done
  const back = new Set<number>();
  for (let root = 0; root < count; root++) {
    if (state[root] !== 0) continue;
    const stack: [node: number, next: number][] = [[root, 0]];
    state[root] = 1;
    while (stack.length > 0) {
      const top = stack[stack.length - 1]!;
      const [node, next] = top;
      const edges = out[node]!;
      if (next >= edges.length) {
        state[node] = 2;
        stack.pop();
        continue;
      }
      top[1] = next + 1;
      const edgeIndex = edges[next]!;
      const target = edgeTargets[edgeIndex]!;
      if (state[target] === 1) back.add(edgeIndex);
      else if (state[target] === 0) {
        state[target] = 1;
        stack.push([target, 0]);
      }
    }
  }
  return back;
}

/** Longest-path depth over the forward edges (a DAG once back edges are removed). */
function depths(count: number, forward: [number, number][]): number[] {
  const incoming = new Array<number>(count).fill(0);
  const out: number[][] = Array.from({ length: count }, () => []);
  for (const [from, to] of forward) {
    incoming[to]! += 1;
    out[from]!.push(to);
  }
  const depth = new Array<number>(count).fill(0);
  const queue: number[] = [];
  for (let i = 0; i < count; i++) if (incoming[i] === 0) queue.push(i);
  for (let head = 0; head < queue.length; head++) {
    const node = queue[head]!;
    for (const next of out[node]!) {
      depth[next] = Math.max(depth[next]!, depth[node]! + 1);
      incoming[next]! -= 1;
      if (incoming[next] === 0) queue.push(next);
    }
  }
  return depth;
}

/** Places every node and routes every edge. Nodes with a repeated id keep their first occurrence. */
export function layoutGraph(
  graph: { nodes: readonly GraphNode[]; edges: readonly GraphEdge[] },
  options: LayoutOptions = DEFAULT_LAYOUT,
): GraphLayout {
  const index = new Map<string, number>();
  const nodes: GraphNode[] = [];
  for (const node of graph.nodes) {
    if (index.has(node.id)) continue;
    index.set(node.id, nodes.length);
    nodes.push(node);
  }
  const edges: { edge: GraphEdge; from: number; to: number }[] = [];
  const dangling: GraphEdge[] = [];
  for (const edge of graph.edges) {
    const from = index.get(edge.from);
    const to = index.get(edge.to);
    if (from === undefined || to === undefined) dangling.push(edge);
    else edges.push({ edge, from, to });
  }

  const out: number[][] = nodes.map(() => []);
  edges.forEach((e, i) => {
    if (e.from !== e.to) out[e.from]!.push(i);
  });
  const cycles = backEdges(
    nodes.length,
    out,
    edges.map((e) => e.to),
  );
  const forward = edges
    .filter((e, i) => e.from !== e.to && !cycles.has(i))
    .map((e) => [e.from, e.to] as [number, number]);
  const depth = depths(nodes.length, forward);

  // Rows: column by column, by the mean row of already-placed predecessors, then input order.
  const columns = nodes.length === 0 ? 0 : depth.reduce((max, d) => Math.max(max, d), 0) + 1;
  const preds: number[][] = nodes.map(() => []);
  for (const [from, to] of forward) preds[to]!.push(from);
  const byColumn: number[][] = Array.from({ length: columns }, () => []);
  depth.forEach((d, i) => {
    byColumn[d]!.push(i);
  });
  const row = new Array<number>(nodes.length).fill(0);
  let tallest = 0;
  for (let column = 0; column < columns; column++) {
    const members = byColumn[column]!;
    const weight = (i: number) => {
      const placed = preds[i]!.filter((p) => depth[p]! < column);
      return placed.length === 0 ? Number.POSITIVE_INFINITY : placed.reduce((s, p) => s + row[p]!, 0) / placed.length;
    };
    const weights = new Map(members.map((i) => [i, weight(i)]));
    members.sort((a, b) => {
      const wa = weights.get(a)!;
      const wb = weights.get(b)!;
      if (wa !== wb) return wa === Number.POSITIVE_INFINITY ? 1 : wb === Number.POSITIVE_INFINITY ? -1 : wa - wb;
      return a - b;
    });
    members.forEach((i, r) => {
      row[i] = r;
    });
    tallest = Math.max(tallest, members.length);
  }

  const { nodeWidth: w, nodeHeight: h, columnGap, rowGap, margin } = options;
  const hasBack = edges.some((e, i) => e.from === e.to || cycles.has(i) || depth[e.to]! <= depth[e.from]!);
  const belowRoom = hasBack ? 40 : 0;
  const placed: PlacedNode[] = nodes.map((node, i) => ({
    node,
    column: depth[i]!,
    row: row[i]!,
    x: margin + depth[i]! * (w + columnGap),
    y: margin + row[i]! * (h + rowGap),
    width: w,
    height: h,
    tone: statusTone(node.status),
  }));

  const routed: PlacedEdge[] = edges.map(({ edge, from, to }) => {
    const a = placed[from]!;
    const b = placed[to]!;
    if (b.column > a.column) {
      const x1 = a.x + w;
      const y1 = a.y + h / 2;
      const x2 = b.x;
      const y2 = b.y + h / 2;
      const bend = (x2 - x1) / 2;
      return {
        edge,
        path: `M ${x1} ${y1} C ${x1 + bend} ${y1}, ${x2 - bend} ${y2}, ${x2} ${y2}`,
        labelX: (x1 + x2) / 2,
        labelY: (y1 + y2) / 2 - 6,
        back: false,
      };
    }
    // Backwards, same column or a self-loop: a curve under the nodes, from bottom to bottom.
    const x1 = a.x + w / 2;
    const y1 = a.y + h;
    const x2 = b.x + w / 2 + (from === to ? 24 : 0);
    const y2 = b.y + h;
    const dip = Math.max(y1, y2) + rowGap + 14;
    return {
      edge,
      path: `M ${x1} ${y1} C ${x1} ${dip}, ${x2} ${dip}, ${x2} ${y2}`,
      labelX: (x1 + x2) / 2,
      labelY: dip - 4,
      back: true,
    };
  });

  return {
    width: columns === 0 ? 2 * margin : 2 * margin + columns * w + (columns - 1) * columnGap,
    height: tallest === 0 ? 2 * margin : 2 * margin + tallest * h + (tallest - 1) * rowGap + belowRoom,
    columns,
    nodes: placed,
    edges: routed,
    dangling,
  };
}
