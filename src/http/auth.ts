/**
 * Bearer authentication for `/v1` (SPEC 15/16): the admin token (compared in constant time) or a
 * tenant API key, which confines the request to its tenant.
 */
import type { Context, MiddlewareHandler } from "hono";
import { tenantOfKey } from "../db/tenant-keys-repo";
import { AppError } from "../lib/errors";

/** Who is calling: the operator (every tenant) or one tenant. */
export type Principal = { kind: "admin" } | { kind: "tenant"; tenant_id: string; key_id: string };

async function digest(text: string): Promise<ArrayBuffer> {
  return crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
}

/** Compares two secrets without leaking their length or content through timing. */
export async function secretsEqual(a: string, b: string): Promise<boolean> {
  const [da, db] = await Promise.all([digest(a), digest(b)]);
  return crypto.subtle.timingSafeEqual(da, db);
}

export function requireAuth(): MiddlewareHandler<{ Bindings: Env; Variables: { principal: Principal } }> {
  return async (c, next) => {
    const header = c.req.header("authorization") ?? "";
    const match = /^Bearer\s+(.+)$/i.exec(header);
    if (!match?.[1]) throw new AppError("unauthorized", "missing bearer token: send 'Authorization: Bearer <token>'");
    const token = match[1].trim();
    const expected = c.env.ADMIN_TOKEN;
    if (expected && (await secretsEqual(token, expected))) {
      c.set("principal", { kind: "admin" });
    } else {
      const tenant = await tenantOfKey(c.env.DB, token);
      if (!tenant) throw new AppError("unauthorized", "invalid bearer token");
      c.set("principal", { kind: "tenant", ...tenant });
    }
    await next();
  };
}

/** The tenant a request is confined to, or null for the admin token (every tenant). */
export function tenantScope(c: Context): string | null {
  const principal = c.get("principal") as Principal | undefined;
  return principal?.kind === "tenant" ? principal.tenant_id : null;
}

/** Routes only the operator may use (tenant keys, cross-tenant infrastructure). */
export function adminOnly(c: Context, what: string): void {
  if (tenantScope(c) !== null) throw new AppError("forbidden", `${what} needs the admin token`);
}

/**
 * The tenant an object created by this request belongs to: what the body asks for (admin), or the
 * key's tenant, which a tenant key may name but not change.
 */
export function ownTenant(c: Context, requested: string | null | undefined): string | null {
  const scope = tenantScope(c);
  if (scope === null) return requested ?? null;
  if (requested != null && requested !== scope) {
    throw new AppError("forbidden", `tenant_id must be '${scope}', the tenant of this API key`);
  }
  return scope;
}

/** Whether an object of `objectTenant` is visible to the caller (admins see everything). */
export function visibleTo(c: Context, objectTenant: string | null | undefined): boolean {
  const scope = tenantScope(c);
  return scope === null || scope === (objectTenant ?? null);
}
