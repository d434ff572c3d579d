/** `POST /v1/events/:id/replay` (SPEC 13.4). */
import { Hono } from "hono";
import type { AppEnv } from "../app";

export function replayRoutes() {
  const app = new Hono<AppEnv>();
  return app;
}
