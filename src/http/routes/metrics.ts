/**
 * `GET /metrics` in Prometheus text format (SPEC 14, 19): public unless `METRICS_TOKEN` is set, then
 * it needs `Authorization: Bearer <METRICS_TOKEN>` (compared in constant time).
 */
import { AppError } from "../../lib/errors";
import { buildMetricFamilies, readMetricsSnapshot } from "../../observability/metrics";
import { PROMETHEUS_CONTENT_TYPE, renderExposition } from "../../observability/prometheus";
import { secretsEqual } from "../auth";
import { RouteGroup } from "../openapi/route";

const challenge = { "www-authenticate": 'Bearer realm="metrics"' };

export function metricsRoutes() {
  return new RouteGroup("/metrics", "Ops").on(
    {
      method: "get",
      path: "/",
      operationId: "getMetrics",
      summary: "Prometheus metrics",
      description: "Public unless `METRICS_TOKEN` is set; then it needs `Authorization: Bearer <METRICS_TOKEN>`.",
      auth: "metrics",
      responses: {
        200: {
          description: "Prometheus text exposition format.",
          media: { type: "text/plain; version=0.0.4; charset=utf-8", schema: { type: "string" } },
        },
      },
    },
    async (c) => {
      // Optional and absent from the generated Env types: an unset or empty token leaves /metrics public.
      const token = (c.env as unknown as { METRICS_TOKEN?: string }).METRICS_TOKEN;
      if (token) {
        const match = /^Bearer\s+(.+)$/i.exec(c.req.header("authorization") ?? "");
        if (!match?.[1]) {
          throw new AppError(
            "unauthorized",
            "missing bearer token: send 'Authorization: Bearer <token>'",
            undefined,
            challenge,
          );
        }
        if (!(await secretsEqual(match[1].trim(), token))) {
          throw new AppError("unauthorized", "invalid bearer token", undefined, challenge);
        }
      }
      const body = renderExposition(buildMetricFamilies(await readMetricsSnapshot(c.env)));
      return c.body(body, 200, { "content-type": PROMETHEUS_CONTENT_TYPE, "cache-control": "no-store" });
    },
  );
}
