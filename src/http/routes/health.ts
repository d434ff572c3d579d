import { Hono } from "hono";
import type { AppEnv } from "../app";

export function healthRoutes() {
  const app = new Hono<AppEnv>();
  app.get("/healthz", async (c) => {
    // A trivial D1 read proves the system of record is reachable.
    const db = await c.env.DB.prepare("SELECT 1 AS ok")
      .first<{ ok: number }>()
      .catch(() => null);
    return c.json({ ok: db?.ok === 1, d1: db?.ok === 1 ? "ok" : "unreachable" }, db?.ok === 1 ? 200 : 503);
  });
  return app;
}
