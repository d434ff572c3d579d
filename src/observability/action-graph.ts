/**
 * The action graph of a trace (SPEC 14, 19), assembled from its `observability.action_graph`
 * records. Pure: records in seq order in, `{trace_id, nodes, edges}` out. The dispatch log writes a
 * node again as it progresses (running → succeeded), so repeated node ids merge in seq order with
 * later fields winning; edges are deduplicated by (from, to, kind).
 */
import { z } from "zod";

/** Stored payload of a `node` record (dispatch-log.ts). Unknown keys such as `trace_id` are ignored. */
const nodePayloadSchema = z.object({
  id: z.string().min(1),
  kind: z.string().min(1).optional(),
  label: z.string().nullable().optional(),
  status: z.string().nullable().optional(),
  outcome: z.string().nullable().optional(),
  metadata: z.record(z.string(), z.unknown()).nullable().optional(),
});

/** Stored payload of an `edge` record. */
const edgePayloadSchema = z.object({
  from: z.string().min(1),
  to: z.string().min(1),
  kind: z.string().min(1),
  label: z.string().nullable().optional(),
});

export interface GraphNode {
  id: string;
  kind: string;
  label: string | null;
  status: string | null;
  outcome: string | null;
  metadata: Record<string, unknown>;
}

export interface GraphEdge {
  from: string;
  to: string;
  kind: string;
  label: string | null;
}

export interface ActionGraph {
  trace_id: string;
  nodes: GraphNode[];
  edges: GraphEdge[];
}

/** One action-graph record: its `seq`, record kind (`node` | `edge`) and parsed payload. */
export interface GraphRecord {
  seq: number;
  kind: string;
  payload: unknown;
}

/**
 * Merges node and edge records into the wire graph. Nodes and edges keep the order of their first
 * record. A later write of a node overrides each field it carries (metadata keys merge shallowly),
 * except `kind`: a node's kind is fixed by its first write, so a completion write that only means
 * "this attempt ended" cannot turn an `a2a_hop` into a `dispatch`. Malformed payloads are skipped.
 */
export function assembleActionGraph(traceId: string, records: readonly GraphRecord[]): ActionGraph {
  const nodes = new Map<string, GraphNode>();
  const edges = new Map<string, GraphEdge>();
  const ordered = [...records].sort((a, b) => a.seq - b.seq);
  for (const record of ordered) {
    if (record.kind === "node") {
      const parsed = nodePayloadSchema.safeParse(record.payload);
      if (!parsed.success) continue;
      const p = parsed.data;
      const node = nodes.get(p.id);
      if (!node) {
        nodes.set(p.id, {
          id: p.id,
          kind: p.kind ?? "unknown",
          label: p.label ?? null,
          status: p.status ?? null,
          outcome: p.outcome ?? null,
          metadata: { ...(p.metadata ?? {}) },
        });
        continue;
      }
      if (node.kind === "unknown" && p.kind !== undefined) node.kind = p.kind;
      if (p.label !== undefined) node.label = p.label;
      if (p.status !== undefined) node.status = p.status;
      if (p.outcome !== undefined) node.outcome = p.outcome;
      if (p.metadata) node.metadata = { ...node.metadata, ...p.metadata };
    } else if (record.kind === "edge") {
      const parsed = edgePayloadSchema.safeParse(record.payload);
      if (!parsed.success) continue;
      const p = parsed.data;
      const key = JSON.stringify([p.from, p.to, p.kind]);
      const edge = edges.get(key);
      if (!edge) edges.set(key, { from: p.from, to: p.to, kind: p.kind, label: p.label ?? null });
      else if (p.label !== undefined) edge.label = p.label;
    }
  }
  return { trace_id: traceId, nodes: [...nodes.values()], edges: [...edges.values()] };
}
