/** SPEC 8 trust records: one per terminal outcome and tier transition, hash-chained, verifiable. */
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { api, eventually, handler } from "../../support/api";
import { partitionNames } from "../../support/storage";
import { boundHandler, publishAndSettle } from "./support";

type TrustItem = {
  seq: number;
  action: string;
  outcome: string;
  tier: string;
  metadata: Record<string, unknown>;
  prev_hash: string;
  hash: string;
};

async function trustOf(bindingId: string, count: number): Promise<TrustItem[]> {
  return eventually(async () => {
    const res = await api("GET", `/v1/trust?binding_id=${bindingId}&limit=500`);
    return res.body.items.length >= count ? res.body.items : undefined;
  });
}

/** Runs SQL in the History window of a binding id that holds its chain (the tests use one window). */
async function inChainWindow(bindingId: string, sql: string, ...args: (string | number)[]): Promise<string> {
  const [name] = await partitionNames(`history:${bindingId}:`);
  if (!name) throw new Error(`no History window for ${bindingId}`);
  await runInDurableObject(env.DISPATCH_HISTORY.getByName(name), (_o, state) => {
    state.storage.sql.exec(sql, ...args);
  });
  return name;
}

/** The same statement on both tables a window keeps trust records in. */
async function inChain(bindingId: string, entries: string, extra: string, ...args: (string | number)[]) {
  await inChainWindow(bindingId, entries, ...args);
  await inChainWindow(bindingId, extra, ...args);
}

describe("trust records", () => {
  it("records each terminal outcome and tier transition in one verifiable chain", async () => {
    const b = await boundHandler({
      autonomy: { tier: "act_auto", max_decisions_per_hour: 1 },
      when: "event.payload.go",
    });
    const ok = await publishAndSettle(b, { go: true });
    const skipped = await publishAndSettle(b, { go: false });
    const waiting = await publishAndSettle(b, { go: true });
    expect([ok.detail.status, skipped.detail.status, waiting.detail.status]).toEqual([
      "succeeded",
      "skipped",
      "waiting",
    ]);

    const items = await trustOf(b.id, 3);
    expect(items.map((i) => [i.action, i.outcome])).toEqual([
      ["dispatch.outcome", "succeeded"],
      ["dispatch.outcome", "skipped"],
      ["autonomy.tier_transition", "approval_required"],
    ]);
    expect(items[0]?.prev_hash).toBe("0".repeat(64));
    expect(items[1]?.prev_hash).toBe(items[0]?.hash);
    expect(items[2]).toMatchObject({
      tier: "act_with_approval",
      metadata: { from: "act_auto", to: "act_with_approval" },
    });
    expect(items[0]?.metadata).toMatchObject({ event_id: ok.event_id, attempt_count: 1 });

    const verified = await api("GET", `/v1/trust/verify?binding_id=${b.id}`);
    expect(verified.body).toEqual({ binding_id: b.id, valid: true, count: 3 });

    // Tampering with a stored record is caught, at that record.
    const target = items[1] as TrustItem;
    const setOutcome = (outcome: string) =>
      inChain(
        b.id,
        "UPDATE entries SET trust = json_set(trust, '$.outcome', ?) WHERE chain_seq = ?",
        "UPDATE trust_extra SET trust = json_set(trust, '$.outcome', ?) WHERE chain_seq = ?",
        outcome,
        target.seq,
      );
    await setOutcome("succeeded");
    const tampered = await api("GET", `/v1/trust/verify?binding_id=${b.id}`);
    expect(tampered.body).toMatchObject({ valid: false, count: 3, broken_at: target.seq });
    await setOutcome("skipped");
    expect((await api("GET", `/v1/trust/verify?binding_id=${b.id}`)).body.valid).toBe(true);

    // So is a missing record, in the middle or at the end.
    await inChain(
      b.id,
      "DELETE FROM entries WHERE chain_seq = ?",
      "DELETE FROM trust_extra WHERE chain_seq = ?",
      target.seq,
    );
    expect((await api("GET", `/v1/trust/verify?binding_id=${b.id}`)).body).toMatchObject({
      valid: false,
      broken_at: items[2]?.seq,
    });
  });

  it("a missing last record of a sealed window is caught against the tail the ledger kept", async () => {
    const b = await boundHandler({});
    await publishAndSettle(b);
    await publishAndSettle(b);
    const items = await trustOf(b.id, 2);
    // The window's time is up: it seals itself and hands its tail to the ledger.
    const [name] = await partitionNames(`history:${b.id}:`);
    const sealed = await env.DISPATCH_HISTORY.getByName(name ?? "").seal();
    await env.TRUST_LEDGER.getByName(b.id).sealed(name ?? "", sealed.tail, sealed.next_seq);
    expect((await api("GET", `/v1/trust/verify?binding_id=${b.id}`)).body.valid).toBe(true);
    await inChainWindow(b.id, "DELETE FROM entries WHERE chain_seq = ?", items[1]?.seq ?? 0);
    expect((await api("GET", `/v1/trust/verify?binding_id=${b.id}`)).body).toMatchObject({ valid: false, count: 1 });
  });

  it("demotion changes the tier handlers receive; invalid moves are refused", async () => {
    const b = await boundHandler({ autonomy: { tier: "act_auto" } });
    const before = await publishAndSettle(b);
    const demoted = await api("POST", "/v1/trust/demote", {
      binding_id: b.id,
      tier: "suggest",
      reason: "too many mistakes",
    });
    expect(demoted.status).toBe(200);
    expect(demoted.body).toMatchObject({
      binding_id: b.id,
      action: "trust.demote",
      outcome: "succeeded",
      tier: "suggest",
      metadata: { from: "act_auto", to: "suggest", reason: "too many mistakes" },
    });
    const after = await publishAndSettle(b);
    const calls = await handler.calls(b.hook);
    const tierOf = (eventId: string) =>
      calls.find((c) => JSON.parse(c.body).event.id === eventId)?.headers["x-switchyard-autonomy-tier"];
    expect(tierOf(before.event_id)).toBe("act_auto");
    expect(tierOf(after.event_id)).toBe("suggest");
    expect(JSON.parse(calls.at(-1).body).autonomy_tier).toBe("suggest");

    expect((await api("POST", "/v1/trust/demote", { binding_id: b.id, tier: "act_auto" })).status).toBe(409);
    expect((await api("POST", "/v1/trust/promote", { binding_id: b.id, tier: "shadow" })).status).toBe(409);
    const promoted = await api("POST", "/v1/trust/promote", { binding_id: b.id, tier: "act_with_approval" });
    expect(promoted.status).toBe(200);
    expect((await api("GET", `/v1/trust/verify?binding_id=${b.id}`)).body.valid).toBe(true);

    expect((await api("POST", "/v1/trust/promote", { binding_id: "no-such-binding", tier: "act_auto" })).status).toBe(
      404,
    );
    expect((await api("POST", "/v1/trust/promote", { binding_id: b.id, tier: "god_mode" })).status).toBe(400);
    expect((await api("GET", "/v1/trust/verify")).status).toBe(400);
    expect((await api("GET", "/v1/trust/verify?binding_id=no-such-binding")).status).toBe(404);
  });
});
