/**
 * Trust record hash chain (SPEC 8): per binding id, each record's `hash` is SHA-256 (hex) over the
 * canonical JSON of its content plus `prev_hash`, the previous record's hash (zeros for the first).
 * Verification recomputes every hash and link, and compares the tail with the ledger's own head, so
 * an edited, removed or reordered record is found.
 */
import { canonicalJson } from "../lib/canonical-json";

export const GENESIS_HASH = "0".repeat(64);

export interface TrustContent {
  binding_id: string;
  action: string;
  outcome: string;
  tier: string;
  metadata: unknown;
  /** RFC 3339 time of the record. */
  at: string;
}

export interface ChainedRecord extends TrustContent {
  seq: number;
  prev_hash: string;
  hash: string;
}

export async function trustHash(content: TrustContent, prevHash: string): Promise<string> {
  const { binding_id, action, outcome, tier, metadata, at } = content;
  const text = canonicalJson({ binding_id, action, outcome, tier, metadata, at, prev_hash: prevHash });
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

export interface ChainHead {
  count: number;
  hash: string;
  last_seq: number | null;
}

export interface ChainCheck {
  valid: boolean;
  count: number;
  broken_at?: number;
  problem?: string;
  /** Set when verification started at a checkpoint (older records were dropped by retention). */
  from_checkpoint?: { seq: number; hash: string };
}

/**
 * Verifies `records` (oldest first) of one binding id against each other and the ledger's head,
 * starting from the genesis hash or from `checkpoint`, the hash of the last record retention dropped.
 */
export async function verifyChain(
  records: readonly ChainedRecord[],
  head: ChainHead | null,
  checkpoint: { seq: number; hash: string } | null = null,
): Promise<ChainCheck> {
  let prev = checkpoint?.hash ?? GENESIS_HASH;
  for (const record of records) {
    if (record.prev_hash !== prev) {
      return {
        valid: false,
        count: records.length,
        broken_at: record.seq,
        problem: "prev_hash does not match the previous record (a record is missing or out of order)",
      };
    }
    if ((await trustHash(record, record.prev_hash)) !== record.hash) {
      return {
        valid: false,
        count: records.length,
        broken_at: record.seq,
        problem: "hash does not match the record content",
      };
    }
    prev = record.hash;
  }
  if (head && head.count > 0) {
    const atHead = records[head.count - 1];
    if (records.length < head.count || atHead?.hash !== head.hash) {
      return {
        valid: false,
        count: records.length,
        broken_at: head.last_seq ?? records.at(-1)?.seq ?? 0,
        problem: `the ledger recorded ${head.count} records ending in ${head.hash.slice(0, 12)}…; the chain does not reach it`,
      };
    }
  }
  return { valid: true, count: records.length, ...(checkpoint ? { from_checkpoint: checkpoint } : {}) };
}
