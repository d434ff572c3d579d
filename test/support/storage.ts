/**
 * Test access to the partitioned storage (docs/scale.md): the EventLog and History objects the D1
 * directory lists, their rows, and moving a gate's timers to "due now" the way a restart would see
 * them (the timers live in the live documents; the gate rebuilds its index from them on activation).
 */
import { evictDurableObject, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";

/** Names of the registered partitions whose name starts with `prefix` (`events:`, `history:<id>:`). */
export async function partitionNames(prefix: string): Promise<string[]> {
  const { results } = await env.DB.prepare("SELECT name FROM partitions WHERE name >= ? AND name < ? ORDER BY name")
    .bind(prefix, `${prefix}\uffff`)
    .all<{ name: string }>();
  return results.map((r) => r.name);
}

/** Rows of every EventLog window: accepted events and signature-rejection audit rows. */
export async function eventLogCounts(): Promise<{ events: number; audit: number }> {
  let events = 0;
  let audit = 0;
  for (const name of await partitionNames("events:")) {
    const counts = await runInDurableObject(env.EVENT_LOG.getByName(name), (_o, state) => ({
      events: state.storage.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM events").one().n,
      audit: state.storage.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM audit").one().n,
    }));
    events += counts.events;
    audit += counts.audit;
  }
  return { events, audit };
}

/** Every row of every EventLog and History object, as text (for "what is stored" checks). */
export async function everyPartitionRow(): Promise<string[]> {
  const out: string[] = [];
  for (const name of await partitionNames("events:")) {
    out.push(
      ...(await runInDurableObject(env.EVENT_LOG.getByName(name), (_o, state) =>
        state.storage.sql
          .exec("SELECT * FROM events")
          .toArray()
          .map((r) => `${name}: ${JSON.stringify(r)}`),
      )),
    );
  }
  for (const name of await partitionNames("history:")) {
    out.push(
      ...(await runInDurableObject(env.DISPATCH_HISTORY.getByName(name), (_o, state) =>
        state.storage.sql
          .exec("SELECT * FROM entries")
          .toArray()
          .map((r) => `${name}: ${JSON.stringify(r)}`),
      )),
    );
  }
  return out;
}

/**
 * Makes a gate's timers of `kind` (or its daily flow sweep, `flow_sweep`) due now, as an object
 * restarted after their time would find them, and runs its alarm.
 */
export async function fireGateTimers(
  bindingKey: string,
  kind: "attempt" | "lease" | "flow" | "predicate" | "a2a" | "flow_sweep",
) {
  const stub = env.BINDING_GATE.getByName(bindingKey);
  await runInDurableObject(stub, (_o, state) => {
    const sql = state.storage.sql;
    if (kind === "flow_sweep") {
      sql.exec("UPDATE gate_meta SET v = ? WHERE k = 'flow_sweep_at'", String(Date.now() - 1));
    } else {
      sql.exec(
        "UPDATE live_slots SET doc = json_set(doc, '$.timer.at', ?) WHERE json_extract(doc, '$.timer.kind') = ?",
        Date.now() - 1,
        kind,
      );
    }
  });
  await evictDurableObject(stub);
  await runInDurableObject(stub, async (_o, state) => {
    if ((await state.storage.getAlarm()) === null) await state.storage.setAlarm(Date.now() + 60_000);
  });
  await runDurableObjectAlarm(stub);
}
