/** `/v1/tenants/:tenant/keys`: tenant API keys, admin only; the key is shown once (SPEC 15, 16). */
import { Hono } from "hono";
import { tenantIdSchema } from "../../contracts/binding-spec";
import { createTenantKeySchema } from "../../contracts/tenant-keys";
import { createTenantKey, listTenantKeys, revokeTenantKey } from "../../db/tenant-keys-repo";
import { notFound } from "../../lib/errors";
import type { AppEnv } from "../app-env";
import { adminOnly } from "../auth";
import { parseWith, readJson } from "../validate";

export function tenantRoutes() {
  const app = new Hono<AppEnv>();
  app.use("*", async (c, next) => {
    adminOnly(c, "managing tenant keys");
    await next();
  });

  const tenantOf = (raw: string) => parseWith(tenantIdSchema, raw, "tenant id");

  app.post("/:tenant/keys", async (c) => {
    const tenant = tenantOf(c.req.param("tenant"));
    const body = await readJson(c, createTenantKeySchema);
    return c.json(await createTenantKey(c.env.DB, tenant, body.name, Date.now()), 201);
  });

  app.get("/:tenant/keys", async (c) => {
    const tenant = tenantOf(c.req.param("tenant"));
    return c.json({ items: await listTenantKeys(c.env.DB, tenant), next_cursor: null });
  });

  app.delete("/:tenant/keys/:key_id", async (c) => {
    const tenant = tenantOf(c.req.param("tenant"));
    const keyId = c.req.param("key_id");
    if (!(await revokeTenantKey(c.env.DB, tenant, keyId, Date.now())))
      throw notFound(`key '${keyId}' of tenant '${tenant}'`);
    return c.body(null, 204);
  });
  return app;
}
