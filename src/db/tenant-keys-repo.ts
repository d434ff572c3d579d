/**
 * Tenant API keys in D1 (SPEC 16). A key is `<id>.<secret>` with 256 random bits; only its SHA-256
 * is stored. Verification looks the id up and compares hashes in constant time.
 */
import { and, desc, eq, isNull } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import type { TenantKeyView } from "../contracts/tenant-keys";
import { bytesToBase64, uuidv7 } from "../lib/ids";
import { iso } from "../lib/time";
import { tenantKeys } from "./schema";

type TenantKeyRow = typeof tenantKeys.$inferSelect;

const KEY_RE = /^(key_[0-9a-f-]{36})\.([A-Za-z0-9_-]{43})$/;

async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

function randomSecret(): string {
  const bytes = new Uint8Array(32);
  crypto.getRandomValues(bytes);
  return bytesToBase64(bytes).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

export function keyView(row: TenantKeyRow): TenantKeyView {
  return { id: row.id, name: row.name, tenant_id: row.tenantId, created_at: row.createdAt, revoked_at: row.revokedAt };
}

export async function createTenantKey(d1: D1Database, tenantId: string, name: string, now: number) {
  const id = `key_${uuidv7(now)}`;
  const key = `${id}.${randomSecret()}`;
  await drizzle(d1)
    .insert(tenantKeys)
    .values({ id, tenantId, name, keyHash: await sha256Hex(key), createdAt: iso(now) });
  return { id, name, tenant_id: tenantId, key };
}

export async function listTenantKeys(d1: D1Database, tenantId: string): Promise<TenantKeyView[]> {
  const rows = await drizzle(d1)
    .select()
    .from(tenantKeys)
    .where(eq(tenantKeys.tenantId, tenantId))
    .orderBy(desc(tenantKeys.createdAt), desc(tenantKeys.id))
    .limit(500);
  return rows.map(keyView);
}

/** Revokes a key of `tenantId`; false when there is no such key. Revoking twice is harmless. */
export async function revokeTenantKey(d1: D1Database, tenantId: string, keyId: string, now: number) {
  const db = drizzle(d1);
  const rows = await db
    .select({ id: tenantKeys.id })
    .from(tenantKeys)
    .where(and(eq(tenantKeys.id, keyId), eq(tenantKeys.tenantId, tenantId)))
    .limit(1);
  if (rows.length === 0) return false;
  await db
    .update(tenantKeys)
    .set({ revokedAt: iso(now) })
    .where(and(eq(tenantKeys.id, keyId), isNull(tenantKeys.revokedAt)));
  return true;
}

/** The tenant a presented key belongs to, or null (unknown, malformed, wrong secret or revoked). */
export async function tenantOfKey(
  d1: D1Database,
  presented: string,
): Promise<{ tenant_id: string; key_id: string } | null> {
  const match = KEY_RE.exec(presented);
  const id = match?.[1];
  if (!id) return null;
  const rows = await drizzle(d1).select().from(tenantKeys).where(eq(tenantKeys.id, id)).limit(1);
  const row = rows[0];
  const presentedHash = new TextEncoder().encode(await sha256Hex(presented));
  const storedHash = new TextEncoder().encode(row?.keyHash ?? "0".repeat(64));
  // Compare even when the id is unknown, so timing does not tell which ids exist.
  const same =
    presentedHash.byteLength === storedHash.byteLength && crypto.subtle.timingSafeEqual(presentedHash, storedHash);
  if (!row || !same || row.revokedAt !== null) return null;
  return { tenant_id: row.tenantId, key_id: row.id };
}
