/** `/v1/queues`: worker job queues (SPEC 12.3). */
import { Hono } from "hono";
import type { AppEnv } from "../app";

export function queueRoutes() {
  const app = new Hono<AppEnv>();
  return app;
}
