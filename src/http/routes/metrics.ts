/** `GET /metrics` in Prometheus text format (SPEC 14). */
import { Hono } from "hono";
import type { AppEnv } from "../app";

export function metricsRoutes() {
  const app = new Hono<AppEnv>();
  return app;
}
