/** The action graph of a trace (`GET /v1/traces/:trace_id/graph`) drawn as an inline SVG. */
import type { Hono } from "hono";
import { apiPath } from "../api-client";
import { type ConsoleEnv, render } from "../context";
import { DEFAULT_LAYOUT, type GraphLayout, layoutGraph } from "../graph-layout";
import { Badge, Failure, Json, LiveBox, Time } from "../layout";
import { links, v1 } from "../links";
import type { ActionGraph, ListPage, TriggerEvent } from "../views";

/** Characters of an edge label that fit between two columns (about 6 px each at the label size). */
const LABEL_CHARS = Math.floor(DEFAULT_LAYOUT.columnGap / 6.2);

const clip = (text: string, max: number) => (text.length > max ? `${text.slice(0, max - 1)}…` : text);

function GraphSvg(props: { layout: GraphLayout; traceId: string }) {
  const { layout } = props;
  return (
    <svg
      xmlns="http://www.w3.org/2000/svg"
      width={layout.width}
      height={layout.height}
      viewBox={`0 0 ${layout.width} ${layout.height}`}
      role="img"
      aria-labelledby="graph-title"
    >
      <title id="graph-title">{`Action graph of trace ${props.traceId}`}</title>
      <defs>
        <marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto">
          <path d="M 0 0 L 10 5 L 0 10 z" fill="#8a96a3" />
        </marker>
      </defs>
      {layout.edges.map((e) => (
        <g data-edge={`${e.edge.from} -> ${e.edge.to}`} data-kind={e.edge.kind}>
          <path class={e.back ? "edge back" : "edge"} d={e.path} markerEnd="url(#arrow)" />
          <text class="elabel" x={e.labelX} y={e.labelY} textAnchor="middle">
            {clip(e.edge.label ? `${e.edge.kind}: ${e.edge.label}` : e.edge.kind, e.back ? 40 : LABEL_CHARS)}
          </text>
        </g>
      ))}
      {layout.nodes.map((n) => {
        const trigger = n.node.kind === "trigger" && n.node.id.startsWith("trigger:");
        const box = (
          <g
            class={`node n-${n.tone}`}
            data-node-id={n.node.id}
            data-kind={n.node.kind}
            data-status={n.node.status ?? ""}
            transform={`translate(${n.x} ${n.y})`}
          >
            <title>
              {[
                n.node.id,
                `kind: ${n.node.kind}`,
                `status: ${n.node.status ?? "—"}`,
                `outcome: ${n.node.outcome ?? "—"}`,
              ].join("\n")}
            </title>
            <rect width={n.width} height={n.height} rx="8" />
            <text x="10" y="20">
              <tspan font-weight="600">{n.node.kind}</tspan>
              {` · ${n.node.status ?? "—"}`}
            </text>
            <text class="sub" x="10" y="39">
              {clip(n.node.label ?? n.node.id, 30)}
            </text>
          </g>
        );
        return trigger ? <a href={links.event(n.node.id.slice("trigger:".length))}>{box}</a> : box;
      })}
    </svg>
  );
}

export function traceRoutes(app: Hono<ConsoleEnv>) {
  app.get("/console/traces/:trace_id", async (c) => {
    const api = c.get("api");
    const traceId = c.req.param("trace_id");
    const [graph, events] = await Promise.all([
      api.get<ActionGraph>(`/v1/traces/${v1(traceId)}/graph`),
      api.get<ListPage<TriggerEvent>>(apiPath("/v1/events", { trace_id: traceId, limit: 20 })),
    ]);
    if (!graph.ok) {
      return render(c, {
        title: "Trace",
        active: "events",
        status: graph.status === 404 ? 404 : 200,
        body: (
          <>
            <h1 class="mono">{`Trace ${traceId}`}</h1>
            <Failure what="the action graph" failure={graph} />
          </>
        ),
      });
    }
    const layout = layoutGraph(graph.data);
    const truncated = graph.headers.get("x-switchyard-graph-truncated") === "true";
    // Settled once something past the trigger exists and no running or scheduled node is a frontier
    // (a retry node keeps status "scheduled" after the attempt it scheduled has run).
    const hasNext = new Set(layout.edges.map((e) => e.edge.from));
    const settled =
      layout.nodes.some((n) => n.node.kind !== "trigger") &&
      !layout.nodes.some((n) => n.tone === "busy" && !hasNext.has(n.node.id));
    const live = {
      id: "graph-live",
      every: 3000,
      final: settled,
      content: (
        <>
          {truncated && <div class="flash info">This trace is large: the graph shows its first records only.</div>}
          {layout.nodes.length === 0 ? (
            <p class="muted">No action graph yet: no binding has dispatched an event of this trace.</p>
          ) : (
            <div class="graph">
              <GraphSvg layout={layout} traceId={traceId} />
            </div>
          )}
          {layout.dangling.length > 0 && (
            <p class="small muted">{`${layout.dangling.length} edges name nodes outside this graph.`}</p>
          )}
          <h2>{`Nodes (${layout.nodes.length})`}</h2>
          <table>
            <thead>
              <tr>
                <th>Node</th>
                <th>Kind</th>
                <th>Status</th>
                <th>Outcome</th>
                <th>Metadata</th>
              </tr>
            </thead>
            <tbody>
              {layout.nodes.map((n) => (
                <tr>
                  <td class="mono small">{n.node.id}</td>
                  <td>{n.node.kind}</td>
                  <td>
                    <Badge status={n.node.status} />
                  </td>
                  <td>{n.node.outcome ?? ""}</td>
                  <td>
                    {Object.keys(n.node.metadata).length > 0 && (
                      <details>
                        <summary>metadata</summary>
                        <Json value={n.node.metadata} max={5_000} />
                      </details>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      ),
    };
    return render(c, {
      title: `Trace ${traceId}`,
      active: "events",
      live,
      body: (
        <>
          <h1 class="mono">{`Trace ${traceId}`}</h1>
          {events.ok && events.data.items.length > 0 && (
            <p class="row small">
              <span class="muted">Events:</span>
              {events.data.items.map((e) => (
                <span>
                  <a class="mono" href={links.event(e.id)}>
                    {e.id}
                  </a>{" "}
                  <span class="muted">
                    {e.kind} · <Time at={e.received_at} />
                  </span>
                </span>
              ))}
            </p>
          )}
          <LiveBox live={live} />
        </>
      ),
    });
  });
}
