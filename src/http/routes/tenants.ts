/** `/v1/tenants/{tenant}/keys`: tenant API keys, admin only; the key is shown once (SPEC 15, 16). */
import { z } from "zod";
import { tenantIdSchema } from "../../contracts/binding-spec";
import { createdTenantKeySchema, createTenantKeySchema, tenantKeySchema } from "../../contracts/tenant-keys";
import { createTenantKey, listTenantKeys, revokeTenantKey } from "../../db/tenant-keys-repo";
import { notFound } from "../../lib/errors";
import { adminOnly } from "../auth";
import { named, RouteGroup } from "../openapi/route";
import * as s from "../openapi/schemas";
import { parseWith } from "../validate";

const tenantParams = z.object({ tenant: tenantIdSchema });

/** A path's tenant id, else 400 with problems. */
const tenantOf = (raw: string) => parseWith(tenantIdSchema, raw, "tenant id");

export function tenantRoutes() {
  const group = new RouteGroup("/v1/tenants", "Tenants");
  // Admin only, before anything else is looked at.
  group.app.use("*", async (c, next) => {
    adminOnly(c, "managing tenant keys");
    await next();
  });
  return group
    .on(
      {
        method: "post",
        path: "/{tenant}/keys",
        operationId: "createTenantKey",
        summary: "Create a tenant API key (shown once)",
        auth: "admin_only",
        params: tenantParams,
        // A bad tenant id answers its 400 before the body is read, whatever the body.
        check: ({ tenant }) => tenantOf(tenant),
        body: named("CreateTenantKeyRequest", createTenantKeySchema),
        responses: {
          201: { description: "The key, with its secret.", json: named("CreatedTenantKey", createdTenantKeySchema) },
        },
      },
      async (c, { params, body }) => {
        const tenant = tenantOf(params.tenant);
        return c.json(await createTenantKey(c.env.DB, tenant, body.name, Date.now()), 201);
      },
    )
    .on(
      {
        method: "get",
        path: "/{tenant}/keys",
        operationId: "listTenantKeys",
        summary: "List a tenant's API keys (without secrets)",
        auth: "admin_only",
        params: tenantParams,
        responses: s.pageAnswer("The keys, newest first.", "TenantKeyPage", tenantKeySchema),
        errors: [400],
      },
      async (c, { params }) => {
        const tenant = tenantOf(params.tenant);
        return c.json({ items: await listTenantKeys(c.env.DB, tenant), next_cursor: null });
      },
    )
    .on(
      {
        method: "delete",
        path: "/{tenant}/keys/{key_id}",
        operationId: "revokeTenantKey",
        summary: "Revoke a tenant API key",
        auth: "admin_only",
        params: z.object({ tenant: tenantIdSchema, key_id: z.string() }),
        responses: { 204: { description: "Revoked." } },
        errors: [400, 404],
      },
      async (c, { params }) => {
        const tenant = tenantOf(params.tenant);
        const keyId = params.key_id;
        if (!(await revokeTenantKey(c.env.DB, tenant, keyId, Date.now())))
          throw notFound(`key '${keyId}' of tenant '${tenant}'`);
        return c.body(null, 204);
      },
    );
}
