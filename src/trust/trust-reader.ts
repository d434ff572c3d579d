/**
 * A binding id's trust chain as the API reads it (SPEC 8, 19): records of the earlier layout in D1
 * first (their `seq` is their position in the chain), then each History window the TrustLedger
 * lists, oldest first, from the checkpoint on.
 */
import type { TrustInput } from "../history/history-store";
import { historyName, partitionSpanMs, partitionStart } from "../lib/partitions";
import { type ChainCheck, type ChainedRecord, verifyChain } from "./trust-chain";
import type { Checkpoint } from "./trust-ledger";
import { type TrustRecordRow, trustView } from "./trust-view";

/** Chain records of the earlier layout (D1 `trust_records`), with their chain positions as `seq`. */
export async function legacyChain(d1: D1Database, bindingId: string): Promise<TrustRecordRow[]> {
  const { results } = await d1
    .prepare("SELECT * FROM trust_records WHERE binding_id = ? ORDER BY seq")
    .bind(bindingId)
    .all<TrustRecordRow>();
  return results.map((r, i) => ({ ...r, seq: i + 1 }));
}

/** Records with `seq` above `after`, oldest first, at most `limit`. */
export async function chainRecords(
  env: Env,
  bindingId: string,
  after: number,
  limit: number,
): Promise<{ rows: TrustRecordRow[]; checkpoint: Checkpoint | null }> {
  const { parts, checkpoint } = await env.TRUST_LEDGER.getByName(bindingId).chain();
  // A window kept past retention can be older than the checkpoint: the chain starts at the checkpoint.
  if (checkpoint) after = Math.max(after, checkpoint.seq);
  const rows: TrustRecordRow[] = [];
  if (!checkpoint) rows.push(...(await legacyChain(env.DB, bindingId)).filter((r) => r.seq > after).slice(0, limit));
  for (let i = 0; i < parts.length && rows.length < limit; i++) {
    const part = parts[i];
    const next = parts[i + 1];
    if (!part || (next && next.first_seq <= after + 1)) continue;
    rows.push(...(await env.DISPATCH_HISTORY.getByName(part.name).trustRecords(after, limit - rows.length)));
  }
  return { rows, checkpoint };
}

/** Appends trust records to the binding id's current History window (following a hand-over). */
export async function appendTrust(env: Env, bindingId: string, records: TrustInput[]): Promise<TrustRecordRow[]> {
  const own = historyName(bindingId, partitionStart(Date.now(), partitionSpanMs(env)));
  const current = await env.TRUST_LEDGER.getByName(bindingId).current();
  // The newest window takes new links (a gate with a later clock may already have opened the next).
  let name = [current, own].sort().at(-1) ?? own;
  for (let hop = 0; hop < 3; hop++) {
    const answer = await env.DISPATCH_HISTORY.getByName(name).appendTrust(records);
    if (answer.ok) return answer.rows;
    name = answer.moved_to;
  }
  throw new Error(`trust append for ${bindingId} moved too often`);
}

export function chained(row: TrustRecordRow): ChainedRecord {
  return trustView(row);
}

/**
 * Verifies a binding id's whole chain (SPEC 8): every link and hash from the checkpoint on, and each
 * sealed window against the tail the TrustLedger recorded when the chain moved on, so a record
 * missing at the end of a window is found too.
 */
export async function verifyTrust(env: Env, bindingId: string): Promise<ChainCheck & { records: number }> {
  const { parts, checkpoint } = await env.TRUST_LEDGER.getByName(bindingId).chain();
  const { rows } = await chainRecords(env, bindingId, 0, Number.MAX_SAFE_INTEGER);
  const check = await verifyChain(rows.map(chained), null, checkpoint);
  if (!check.valid) return { ...check, records: rows.length };
  for (const part of parts) {
    const next = part.next_seq;
    if (part.tail === null || next === null || next <= part.first_seq) continue;
    const last = rows.filter((r) => r.seq >= part.first_seq && r.seq < next).at(-1);
    if (last?.seq !== next - 1 || last.hash !== part.tail) {
      return {
        valid: false,
        count: rows.length,
        broken_at: next - 1,
        problem: `the chain's window ${part.name} ended at record ${next - 1} (${part.tail.slice(0, 12)}…); that record is missing or changed`,
        records: rows.length,
      };
    }
  }
  return { ...check, records: rows.length };
}
