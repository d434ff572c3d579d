import { asc, eq, gt } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import type { SourceView } from "../contracts/sources";
import type { VerifyStyle } from "../intake/signatures";
import { sources } from "./schema";

export type SourceRow = typeof sources.$inferSelect;

export async function getSource(d1: D1Database, name: string): Promise<SourceRow | null> {
  const rows = await drizzle(d1).select().from(sources).where(eq(sources.name, name)).limit(1);
  return rows[0] ?? null;
}

export async function listSources(d1: D1Database, after: string | null, limit: number): Promise<SourceRow[]> {
  const db = drizzle(d1);
  const query = db.select().from(sources);
  return (after ? query.where(gt(sources.name, after)) : query).orderBy(asc(sources.name)).limit(limit + 1);
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
