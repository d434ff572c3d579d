/** Hono app factory: middleware, error envelope, the documented route groups and the console. */

import { Hono } from "hono";
import { consoleRoutes } from "../console/routes";
import { AppError } from "../lib/errors";
import { newRequestId } from "../lib/ids";
import type { AppEnv } from "./app-env";
import { requireAuth } from "./auth";
import type { RouteGroup } from "./openapi/route";
import { adminRoutes } from "./routes/admin";
import { approvalRoutes } from "./routes/approvals";
import { bindingRoutes } from "./routes/bindings";
import { circuitRoutes } from "./routes/circuits";
import { dispatchRoutes } from "./routes/dispatches";
import { dlqRoutes } from "./routes/dlq";
import { docsRoutes } from "./routes/docs";
import { eventRoutes } from "./routes/events";
import { healthRoutes } from "./routes/health";
import { hookRoutes } from "./routes/hooks";
import { metricsRoutes } from "./routes/metrics";
import { previewRoutes } from "./routes/preview";
import { queueRoutes } from "./routes/queues";
import { recordRoutes } from "./routes/records";
import { replayRoutes } from "./routes/replay";
import { sourceRoutes } from "./routes/sources";
import { statsRoutes } from "./routes/stats";
import { tenantRoutes } from "./routes/tenants";
import { traceRoutes } from "./routes/traces";
import { trustRoutes } from "./routes/trust";

/** Every documented route group, in the order of SPEC 15; the last serves the document of them all. */
function routeGroups(): RouteGroup[] {
  const groups = [
    hookRoutes(),
    sourceRoutes(),
    eventRoutes(),
    replayRoutes(),
    bindingRoutes(),
    previewRoutes(),
    dispatchRoutes(),
    dlqRoutes(),
    approvalRoutes(),
    trustRoutes(),
    tenantRoutes(),
    queueRoutes(),
    recordRoutes(),
    traceRoutes(),
    statsRoutes(),
    circuitRoutes(),
    metricsRoutes(),
    healthRoutes(),
    adminRoutes(),
  ];
  const docs = docsRoutes(() => [...groups, docs].flatMap((group) => group.operations));
  return [...groups, docs];
}

export function createApp() {
  const app = new Hono<AppEnv>();
  app.use("*", async (c, next) => {
    c.set("requestId", c.req.header("x-request-id") ?? newRequestId());
    await next();
    c.header("x-request-id", c.get("requestId"));
  });
  app.onError((error, c) => {
    if (error instanceof AppError) {
      for (const [name, value] of Object.entries(error.headers ?? {})) c.header(name, value);
      return c.json(error.toBody(), error.status as 400);
    }
    const requestId = c.get("requestId") ?? "unknown";
    console.error(
      JSON.stringify({
        msg: "unhandled error",
        request_id: requestId,
        error: String(error),
        stack: (error as Error).stack,
      }),
    );
    return c.json({ error: { code: "internal", message: `internal error (request ${requestId})` } }, 500);
  });
  app.notFound((c) => c.json(new AppError("not_found", `no route for ${c.req.method} ${c.req.path}`).toBody(), 404));

  app.use("/v1/*", requireAuth());
  for (const group of routeGroups()) app.route(group.mount || "/", group.app);
  // The operator console (`/console/*`; `GET /` redirects there) reads and acts through this same app, in-process.
  app.route(
    "/",
    consoleRoutes((request, env, ctx) => app.fetch(request, env, ctx)),
  );
  return app;
}
