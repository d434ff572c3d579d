/** Sources in D1 (SPEC 4): reads, pages, the API view, and the Notion verification token. */
import { and, asc, eq, gt, isNotNull, isNull } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import type { SourceView } from "../contracts/sources";
import { verificationView } from "../intake/notion-setup";
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
      ...optionalVerification(verificationView(row, secrets)),
    },
    tenant_id: row.tenantId,
    dedupe: { window_s: row.dedupeWindowS },
    created_at: row.createdAt,
    updated_at: row.updatedAt,
  };
}

const optionalVerification = (verification: ReturnType<typeof verificationView>) =>
  verification ? { verification } : {};

/**
 * Makes the token of Notion's verification request the secret of a source still waiting for it.
 * Conditional, so of two concurrent requests only one sets it; false when the source has a secret
 * already (or is gone).
 */
export async function captureVerificationToken(d1: D1Database, name: string, sealedToken: string, at: string) {
  const rows = await drizzle(d1)
    .update(sources)
    .set({
      secrets: JSON.stringify([sealedToken]),
      verificationReceivedAt: at,
      verificationReadAt: null,
      updatedAt: at,
    })
    .where(and(eq(sources.name, name), eq(sources.style, "notion"), eq(sources.secrets, "[]")))
    .returning({ name: sources.name });
  return rows.length > 0;
}

/**
 * Reads a received verification token once: marks it read and returns it, or says why it cannot
 * (`awaiting`: not received yet; `read`: already read; `none`: the source's secret was configured).
 */
export async function readVerificationToken(
  d1: D1Database,
  name: string,
  at: string,
): Promise<{ token: string; received_at: string } | { refused: "awaiting" | "read" | "none"; read_at: string | null }> {
  const rows = await drizzle(d1)
    .update(sources)
    .set({ verificationReadAt: at })
    .where(and(eq(sources.name, name), isNotNull(sources.verificationReceivedAt), isNull(sources.verificationReadAt)))
    .returning({ secrets: sources.secrets, receivedAt: sources.verificationReceivedAt });
  const row = rows[0];
  if (row?.receivedAt) return { token: (JSON.parse(row.secrets) as string[])[0] ?? "", received_at: row.receivedAt };
  const current = await getSource(d1, name);
  if (current?.verificationReadAt) return { refused: "read", read_at: current.verificationReadAt };
  if (current?.style === "notion" && current.secrets === "[]") return { refused: "awaiting", read_at: null };
  return { refused: "none", read_at: null };
}
