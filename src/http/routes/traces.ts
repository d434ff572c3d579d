/** `GET /v1/traces/:trace_id/graph` (SPEC 14). */
import { Hono } from "hono";
import type { AppEnv } from "../app";

export function traceRoutes() {
  const app = new Hono<AppEnv>();
  return app;
}
