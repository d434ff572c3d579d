/** `/v1/admin`: operator maintenance that tenant keys may not run (SPEC 16). */
import { z } from "zod";
import { resealStoredSecrets } from "../../db/secrets-reseal";
import { requireSecretKeys } from "../../lib/secret-box";
import { adminOnly } from "../auth";
import { named, RouteGroup } from "../openapi/route";

export function adminRoutes() {
  // After an upgrade from plaintext storage, or with SECRETS_KEY_PREVIOUS set during a key rotation.
  return new RouteGroup("/v1/admin", "Ops").on(
    {
      method: "post",
      path: "/secrets:reseal",
      operationId: "resealSecrets",
      summary: "Seal every stored secret under the current SECRETS_KEY",
      description:
        "Encrypts secrets stored as plaintext by an earlier version, and re-seals those sealed under SECRETS_KEY_PREVIOUS during a key rotation, in D1 and in every binding gate's copy. Safe to run while traffic flows; run it once after upgrading and once after each key rotation.",
      auth: "admin_only",
      responses: {
        200: {
          description: "How many sources, bindings and gates were rewritten.",
          json: named(
            "ResealAnswer",
            z.object({ resealed: z.object({ sources: z.number(), bindings: z.number(), gates: z.number() }) }),
          ),
        },
      },
      errors: [403, 503],
    },
    async (c) => {
      adminOnly(c, "re-sealing secrets");
      const counts = await resealStoredSecrets(c.env, requireSecretKeys(c.env));
      return c.json({ resealed: counts });
    },
  );
}
