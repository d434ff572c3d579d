/** `GET /healthz`: D1 reachable, and the key that seals secrets at rest configured and usable (SPEC 16). */
import { Hono } from "hono";
import { keyProblem, MISSING_KEY_HINT, secretKeysOf } from "../../lib/secret-box";
import type { AppEnv } from "../app-env";

export function healthRoutes() {
  const app = new Hono<AppEnv>();
  app.get("/healthz", async (c) => {
    // A trivial D1 read proves the system of record is reachable.
    const db = await c.env.DB.prepare("SELECT 1 AS ok")
      .first<{ ok: number }>()
      .catch(() => null);
    const d1 = db?.ok === 1;
    const keys = secretKeysOf(c.env);
    const problem = await keyProblem(keys);
    const secrets = problem === null ? "ok" : keys ? problem : MISSING_KEY_HINT;
    const ok = d1 && problem === null;
    return c.json({ ok, d1: d1 ? "ok" : "unreachable", secrets_key: secrets }, ok ? 200 : 503);
  });
  return app;
}
