/** `GET /healthz`: D1 reachable, and the key that seals secrets at rest configured and usable (SPEC 16). */
import { keyProblem, MISSING_KEY_HINT, secretKeysOf } from "../../lib/secret-box";
import { named, RouteGroup } from "../openapi/route";
import * as s from "../openapi/schemas";

const Health = named("Health", s.healthSchema);

export function healthRoutes() {
  return new RouteGroup("", "Ops").on(
    {
      method: "get",
      path: "/healthz",
      operationId: "getHealth",
      summary: "Liveness plus a D1 round trip and the secrets key",
      auth: "public",
      responses: {
        200: { description: "Healthy.", json: Health },
        503: {
          description: "D1 is unreachable, or SECRETS_KEY is missing or unusable (`secrets_key` says how to set it).",
          json: Health,
        },
      },
    },
    async (c) => {
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
    },
  );
}
