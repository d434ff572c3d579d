/** Trust records as stored in D1 and as the API shows them (SPEC 19). */
import type { JsonValue } from "../lib/cel";
/** What every trust record says, before and after it is chained. */
export interface TrustFields {
  record_key: string;
  binding_id: string;
  tenant_id: string | null;
  action: string;
  outcome: string;
  tier: string;
}

export interface TrustRecordRow extends TrustFields {
  seq: number;
  metadata: string;
  prev_hash: string;
  hash: string;
  at: string;
}

export interface TrustRecordView {
  seq: number;
  binding_id: string;
  action: string;
  outcome: string;
  tier: string;
  metadata: JsonValue;
  prev_hash: string;
  hash: string;
  at: string;
}

export function trustView(row: TrustRecordRow): TrustRecordView {
  return {
    seq: row.seq,
    binding_id: row.binding_id,
    action: row.action,
    outcome: row.outcome,
    tier: row.tier,
    metadata: JSON.parse(row.metadata) as JsonValue,
    prev_hash: row.prev_hash,
    hash: row.hash,
    at: row.at,
  };
}
