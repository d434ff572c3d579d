/** `GET /v1/traces/{trace_id}/graph` (SPEC 14, 19): the action graph assembled from a trace's records. */
import { z } from "zod";
import { eventsOfTrace, recordsOfEvents, withSeq } from "../../history/record-queries";
import { notFound } from "../../lib/errors";
import { assembleActionGraph } from "../../observability/action-graph";
import { TOPICS } from "../../observability/topics";
import { tenantScope } from "../auth";
import { named, RouteGroup } from "../openapi/route";
import * as s from "../openapi/schemas";

/** Trace ids as intake and publishing accept them (SPEC 4, 19). */
const TRACE_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * Upper bound on the records used for one graph. A client may reuse a trace id across many
 * events; past this the graph is cut and `x-switchyard-graph-truncated: true` says so.
 */
export const MAX_GRAPH_RECORDS = 5_000;

function isGraphTopic(topic: string): boolean {
  return topic === TOPICS.actionGraph || (topic.startsWith("tenant.") && topic.endsWith(`.${TOPICS.actionGraph}`));
}

export function traceRoutes() {
  return new RouteGroup("/v1/traces", "Observability").on(
    {
      method: "get",
      path: "/{trace_id}/graph",
      operationId: "getActionGraph",
      summary: "The action graph of a trace",
      auth: "admin",
      params: z.object({ trace_id: z.string().regex(TRACE_ID) }),
      responses: {
        200: {
          description: "Nodes and edges of the trace.",
          json: named("ActionGraph", s.actionGraphSchema),
          headers: {
            "x-switchyard-graph-truncated": {
              description: "`true` when the trace has more graph records than one answer holds.",
              schema: { type: "string", enum: ["true"] },
            },
          },
        },
      },
      errors: [404],
    },
    async (c, { params }) => {
      const traceId = params.trace_id;
      // A malformed id cannot name a trace: answer as for any unknown trace without reading anything.
      if (!TRACE_ID.test(traceId)) throw notFound(`trace '${traceId.slice(0, 128)}'`);
      const scope = tenantScope(c);
      const events = (await eventsOfTrace(c.env, traceId)).filter((e) => scope === null || e.event.tenant_id === scope);
      // A trace whose events matched no binding has records but no graph yet: an empty graph, not 404.
      if (events.length === 0) throw notFound(`trace '${traceId}'`);
      const rows = withSeq(await recordsOfEvents(c.env, events)).filter(
        (r) => (r.kind === "node" || r.kind === "edge") && isGraphTopic(r.topic),
      );
      if (rows.length > MAX_GRAPH_RECORDS) c.header("x-switchyard-graph-truncated", "true");
      return c.json(
        assembleActionGraph(
          traceId,
          rows.slice(0, MAX_GRAPH_RECORDS).map((r) => ({ seq: r.seq, kind: r.kind, payload: r.payload })),
        ),
      );
    },
  );
}
