/**
 * The BindingGate's D1 outbox (control-plane rows: DLQ entries, approvals): one row per transition,
 * flushed in order; while rows wait, the object's alarm stays armed, so a failed flush (or an
 * eviction) is retried.
 */
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { unique } from "../../support/api";

const insertRecord = (key: string) => ({
  sql: `INSERT INTO records (record_key, topic, kind, tenant_id, headers, payload, at)
        VALUES (?, 'test.outbox', 'flushed', NULL, '{}', 'null', '2026-11-26T00:00:00.000Z') ON CONFLICT DO NOTHING`,
  params: [key],
});

async function recordKeys(prefix: string): Promise<string[]> {
  const rows = await env.DB.prepare("SELECT record_key FROM records WHERE record_key LIKE ? ORDER BY seq")
    .bind(`${prefix}%`)
    .all<{ record_key: string }>();
  return rows.results.map((r) => r.record_key);
}

function outboxSize(state: DurableObjectState): number {
  return state.storage.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM d1_outbox").one().n;
}

describe("BindingGate D1 outbox", () => {
  it("flushes rows of both forms in order from the alarm", async () => {
    const prefix = unique("outbox");
    const gate = env.BINDING_GATE.getByName(`${prefix}@v1`);
    await gate.snapshot();
    await runInDurableObject(gate, async (_instance, state) => {
      const sql = state.storage.sql;
      // A single statement (older versions), then a transition of two.
      sql.exec("INSERT INTO d1_outbox (stmt) VALUES (?)", JSON.stringify(insertRecord(`${prefix}:1`)));
      sql.exec(
        "INSERT INTO d1_outbox (stmt) VALUES (?)",
        JSON.stringify([insertRecord(`${prefix}:2`), insertRecord(`${prefix}:3`)]),
      );
      await state.storage.setAlarm(Date.now() + 60_000);
    });
    expect(await runDurableObjectAlarm(gate)).toBe(true);
    expect(await recordKeys(prefix)).toEqual([`${prefix}:1`, `${prefix}:2`, `${prefix}:3`]);
    await runInDurableObject(gate, async (_instance, state) => {
      expect(outboxSize(state)).toBe(0);
      // Nothing left to wait for: no alarm.
      expect(await state.storage.getAlarm()).toBeNull();
    });
  });

  it("keeps a transition whose batch fails, re-arms the alarm and applies it once D1 accepts it", async () => {
    const prefix = unique("outbox-fail");
    const gate = env.BINDING_GATE.getByName(`${prefix}@v1`);
    await gate.snapshot();
    await runInDurableObject(gate, async (_instance, state) => {
      // The second statement fails (no such table), so the whole batch is rolled back.
      state.storage.sql.exec(
        "INSERT INTO d1_outbox (stmt) VALUES (?)",
        JSON.stringify([insertRecord(`${prefix}:1`), { sql: "INSERT INTO no_such_table (x) VALUES (?)", params: [1] }]),
      );
      await state.storage.setAlarm(Date.now() + 60_000);
    });
    const before = Date.now();
    expect(await runDurableObjectAlarm(gate)).toBe(true);
    expect(await recordKeys(prefix)).toEqual([]);
    await runInDurableObject(gate, async (_instance, state) => {
      expect(outboxSize(state)).toBe(1);
      const alarm = await state.storage.getAlarm();
      expect(alarm).not.toBeNull();
      expect(alarm ?? 0).toBeGreaterThanOrEqual(before);
      expect(alarm ?? 0).toBeLessThanOrEqual(Date.now() + 5_000);
      // Repair the statement: the next alarm applies the transition.
      state.storage.sql.exec("UPDATE d1_outbox SET stmt = ?", JSON.stringify([insertRecord(`${prefix}:1`)]));
    });
    expect(await runDurableObjectAlarm(gate)).toBe(true);
    expect(await recordKeys(prefix)).toEqual([`${prefix}:1`]);
    await runInDurableObject(gate, async (_instance, state) => expect(outboxSize(state)).toBe(0));
  });
});
