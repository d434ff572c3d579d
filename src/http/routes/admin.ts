/** `/v1/admin`: operator maintenance that tenant keys may not run (SPEC 16). */
import { Hono } from "hono";
import { resealStoredSecrets } from "../../db/secrets-reseal";
import { requireSecretKeys } from "../../lib/secret-box";
import type { AppEnv } from "../app-env";
import { adminOnly } from "../auth";

export function adminRoutes() {
  const app = new Hono<AppEnv>();
  // `POST /v1/admin/secrets:reseal` — the colon is part of the segment. After an upgrade from
  // plaintext storage, or with SECRETS_KEY_PREVIOUS set during a key rotation.
  app.post("/:segment{secrets:reseal}", async (c) => {
    adminOnly(c, "re-sealing secrets");
    const counts = await resealStoredSecrets(c.env, requireSecretKeys(c.env));
    return c.json({ resealed: counts });
  });
  return app;
}
