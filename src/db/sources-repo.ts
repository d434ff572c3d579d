import { and, asc, eq, gt } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import type { SourceView } from "../contracts/sources";
import type { VerifyStyle } from "../intake/signatures";
import { sources } from "./schema";

export type SourceRow = typeof sources.$inferSelect;

export async function getSource(d1: D1Database, name: string): Promise<SourceRow | null> {
  const rows = await drizzle(d1).select().from(sources).where(eq(sources.name, name)).limit(1);
  return rows[0] ?? null;
}

/** Sources by name; `tenant` (a tenant key's scope) limits them to that tenant. */
export async function listSources(
  d1: D1Database,
  after: string | null,
  limit: number,
  tenant: string | null = null,
): Promise<SourceRow[]> {
  const where = and(after ? gt(sources.name, after) : undefined, tenant ? eq(sources.tenantId, tenant) : undefined);
  return drizzle(d1)
    .select()
    .from(sources)
    .where(where)
    .orderBy(asc(sources.name))
    .limit(limit + 1);
}

export function sourceView(row: SourceRow, baseUrl: string): SourceView {
  const secrets = JSON.parse(row.secrets) as string[];
  return {
    name: row.name,
    provider: row.provider,
    url: `${baseUrl}/hooks/${row.name}`,
    verify: {
      style: row.style as VerifyStyle,
      tolerance_s: row.toleranceS,
      ...(row.header ? { header: row.header } : {}),
      secret_count: secrets.length,
    },
    tenant_id: row.tenantId,
    dedupe: { window_s: row.dedupeWindowS },
    created_at: row.createdAt,
    updated_at: row.updatedAt,
  };
}
