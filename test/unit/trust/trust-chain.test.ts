import { describe, expect, it } from "vitest";
import { type ChainedRecord, GENESIS_HASH, trustHash, verifyChain } from "../../../src/trust/trust-chain";

async function chain(n: number): Promise<ChainedRecord[]> {
  const out: ChainedRecord[] = [];
  let prev = GENESIS_HASH;
  for (let i = 0; i < n; i++) {
    const content = {
      binding_id: "b1",
      action: "dispatch.outcome",
      outcome: i % 2 ? "succeeded" : "skipped",
      tier: "act_auto",
      metadata: { i, event_id: `evt_${i}` },
      at: new Date(Date.UTC(2026, 10, 26, 9, 0, i)).toISOString(),
    };
    const hash = await trustHash(content, prev);
    out.push({ ...content, seq: 10 + i * 3, prev_hash: prev, hash });
    prev = hash;
  }
  return out;
}

describe("trust chain", () => {
  it("hashes the canonical record: key order does not matter, content does", async () => {
    const a = await trustHash(
      { binding_id: "b", action: "x", outcome: "y", tier: "t", metadata: { a: 1, b: 2 }, at: "z" },
      GENESIS_HASH,
    );
    const b = await trustHash(
      { at: "z", tier: "t", outcome: "y", action: "x", binding_id: "b", metadata: { b: 2, a: 1 } },
      GENESIS_HASH,
    );
    const c = await trustHash(
      { binding_id: "b", action: "x", outcome: "y", tier: "t", metadata: { a: 1, b: 3 }, at: "z" },
      GENESIS_HASH,
    );
    expect(a).toMatch(/^[0-9a-f]{64}$/);
    expect(a).toBe(b);
    expect(c).not.toBe(a);
  });

  it("a whole chain verifies, also against the ledger's head", async () => {
    const records = await chain(4);
    const head = { count: 4, hash: records[3]?.hash ?? "", last_seq: records[3]?.seq ?? 0 };
    expect(await verifyChain(records, head)).toEqual({ valid: true, count: 4 });
    expect(await verifyChain([], null)).toEqual({ valid: true, count: 0 });
  });

  it("finds an edited, a removed, a reordered and a truncated record", async () => {
    const records = await chain(4);
    const head = { count: 4, hash: records[3]?.hash ?? "", last_seq: records[3]?.seq ?? 0 };
    const edited = records.map((r, i) => (i === 1 ? { ...r, outcome: "failed" } : r));
    expect(await verifyChain(edited, head)).toMatchObject({ valid: false, broken_at: records[1]?.seq });
    const removed = records.filter((_, i) => i !== 2);
    expect(await verifyChain(removed, head)).toMatchObject({ valid: false, broken_at: records[3]?.seq });
    const swapped = [records[0], records[2], records[1], records[3]] as ChainedRecord[];
    expect(await verifyChain(swapped, head)).toMatchObject({ valid: false, broken_at: records[2]?.seq });
    const truncated = records.slice(0, 3);
    expect(await verifyChain(truncated, head)).toMatchObject({ valid: false, broken_at: records[3]?.seq });
  });
});
