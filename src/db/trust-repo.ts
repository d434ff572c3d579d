/** Trust records in D1 (SPEC 8): pages oldest first, and a binding id's whole chain for verification. */
import type { TrustRecordRow } from "../trust/trust-view";

export async function listTrust(
  d1: D1Database,
  bindingId: string | undefined,
  afterSeq: number,
  limit: number,
  tenant: string | null = null,
): Promise<TrustRecordRow[]> {
  const conditions = ["seq > ?"];
  const params: (string | number)[] = [afterSeq];
  if (bindingId) {
    conditions.push("binding_id = ?");
    params.push(bindingId);
  }
  if (tenant) {
    conditions.push("tenant_id = ?");
    params.push(tenant);
  }
  const where = `WHERE ${conditions.join(" AND ")}`;
  const { results } = await d1
    .prepare(`SELECT * FROM trust_records ${where} ORDER BY seq LIMIT ?`)
    .bind(...params, limit + 1)
    .all<TrustRecordRow>();
  return results;
}

/** Every record of one binding id, oldest first, read in pages. */
export async function chainOf(d1: D1Database, bindingId: string): Promise<TrustRecordRow[]> {
  const PAGE = 1000;
  const all: TrustRecordRow[] = [];
  for (let after = 0; ; ) {
    const rows = await listTrust(d1, bindingId, after, PAGE);
    const kept = rows.slice(0, PAGE);
    all.push(...kept);
    if (rows.length <= PAGE) return all;
    after = kept.at(-1)?.seq ?? after;
  }
}
