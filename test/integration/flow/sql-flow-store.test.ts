/**
 * The same SPEC 9 scenarios against SqlFlowStore on real DO SQLite (each in its own BindingGate
 * instance, used only for its storage), plus store-level checks.
 */
import { evictDurableObject, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { FLOW_SCHEMA, migrateFlowSchema } from "../../../src/flow/sql-flow-schema";
import { SqlFlowStore } from "../../../src/flow/sql-flow-store";
import { BINDING_KEY, Harness } from "../../support/flow-harness";
import { scenarios } from "../../support/flow-scenarios";

let counter = 0;

/** `leaseTryAcquire` with positional arguments, for the table of cases below. */
function lease(
  store: SqlFlowStore,
  primitive: "singleton" | "concurrency",
  gate: string,
  dispatch_id: string,
  at: number,
  max: number,
  unless_waiters: boolean,
): boolean {
  return store.leaseTryAcquire({ primitive, gate, dispatch_id, at, max, unless_waiters });
}

/** Runs `fn` with a SqlFlowStore over a fresh Durable Object's SQLite. */
async function withSqlStore<R>(fn: (store: SqlFlowStore, sql: SqlStorage) => R): Promise<R> {
  const stub = env.BINDING_GATE.getByName(`flow-test-${Date.now()}-${counter++}`);
  return runInDurableObject(stub, (_instance, state) => {
    const store = new SqlFlowStore(state.storage.sql);
    store.ensureSchema();
    return fn(store, state.storage.sql);
  });
}

describe("FlowControl (DO SQLite store)", () => {
  it.each(scenarios)("%s", async (_name, flow, run) => {
    await withSqlStore((store) => run(new Harness(flow, store)));
  });
});

describe("SqlFlowStore", () => {
  it("creates its schema idempotently", async () => {
    await withSqlStore((_store, sql) => {
      sql.exec(FLOW_SCHEMA);
      const tables = sql
        .exec<{ name: string }>(
          "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'flow_%' ORDER BY name",
        )
        .toArray()
        .map((r) => r.name);
      expect(tables).toEqual(["flow_leases", "flow_lines", "flow_log", "flow_waits"]);
    });
  });

  it("adds the carry column to a waits table an earlier version created, keeping its rows", async () => {
    await withSqlStore((store, sql) => {
      sql.exec("DROP TABLE flow_waits");
      sql.exec(`CREATE TABLE flow_waits (seq INTEGER PRIMARY KEY, dispatch_id TEXT NOT NULL UNIQUE,
        primitive TEXT NOT NULL, gate TEXT NOT NULL, rank INTEGER NOT NULL, arrived_at INTEGER NOT NULL,
        due INTEGER, eta INTEGER, event_id TEXT NOT NULL, plan TEXT NOT NULL)`);
      sql.exec(
        `INSERT INTO flow_waits (dispatch_id, primitive, gate, rank, arrived_at, due, eta, event_id, plan)
         VALUES ('old', 'debounce', ?, 0, 5, 105, 105, 'e_old', '{"gates":{},"rank":0}')`,
        `${BINDING_KEY}:x`,
      );
      migrateFlowSchema(sql);
      migrateFlowSchema(sql);
      expect(store.waitGet("old")).toMatchObject({ dispatch_id: "old", due: 105, carry: null });
      // An old debounce row counts as a burst of one when a new arrival supersedes it.
      const h = new Harness({ debounce: { key: "event.payload.k", period: 100, deliver: "all" } }, store);
      h.arrive("new", { k: "x" }, 20);
      expect(store.waitGet("old")).toBeNull();
      expect(store.waitGet("new")?.carry?.burst).toEqual({
        first_at: 5,
        count: 2,
        members: [
          { dispatch_id: "old", event_id: "e_old" },
          { dispatch_id: "new", event_id: "evt_new" },
        ],
      });
    });
  });

  it("orders waits by (rank, seq), counts positions and round-trips plans", async () => {
    await withSqlStore((store) => {
      const base = { primitive: "concurrency" as const, gate: "g", arrived_at: 0, due: null, eta: null };
      const plan = { gates: { concurrency: "g", singleton: "s" }, rank: 0 };
      const w1 = store.waitAdd({ ...base, dispatch_id: "a", rank: 2, event_id: "ea", plan });
      store.waitAdd({ ...base, dispatch_id: "b", rank: 0, event_id: "eb", plan });
      store.waitAdd({ ...base, dispatch_id: "c", rank: 2, event_id: "ec", plan });
      store.waitAdd({ ...base, dispatch_id: "d", rank: 1, event_id: "ed", plan });
      expect(store.waitList("concurrency", "g").map((w) => w.dispatch_id)).toEqual(["b", "d", "a", "c"]);
      expect(store.waitAt("concurrency", "g", 2)?.dispatch_id).toBe("a");
      expect(store.waitPosition(w1)).toBe(2);
      expect(store.waitGet("a")).toEqual({ ...w1, plan });
      const carry = { burst: { first_at: 0, count: 2, members: [{ dispatch_id: "e", event_id: "ee" }] } };
      store.waitAdd({
        ...base,
        primitive: "debounce",
        gate: "d",
        dispatch_id: "z",
        rank: 0,
        event_id: "ez",
        plan,
        carry,
      });
      expect(store.waitGet("z")?.carry).toEqual(carry);
      store.waitSetDue("a", 5, 6);
      expect(store.waitGet("a")).toMatchObject({ due: 5, eta: 6 });
      expect(() => store.waitAdd({ ...base, dispatch_id: "a", rank: 0, event_id: "ea", plan })).toThrow();
      store.waitRemove("b");
      expect(store.waitAt("concurrency", "g", 0)?.dispatch_id).toBe("d");
      expect(store.waitCount("concurrency", "g")).toBe(3);
      // New rows always sort after existing ones of the same rank, even after deletions.
      store.waitRemove("c");
      store.waitAdd({ ...base, dispatch_id: "e", rank: 2, event_id: "ee", plan });
      expect(store.waitList("concurrency", "g").map((w) => w.dispatch_id)).toEqual(["d", "a", "e"]);
    });
  });

  it("keeps sliding logs per gate with window counts, nth entries, pruning and retention", async () => {
    await withSqlStore((store) => {
      for (const at of [100, 200, 200, 300]) store.logAdd("rate_limit", "g1", at);
      store.logAdd("rate_limit", "g2", 50);
      store.logAdd("throttle", "g1", 10);
      expect(store.logWindow("rate_limit", "g1", 100)).toEqual({ count: 3, stale: 1 });
      expect(store.logWindow("rate_limit", "nope", 100)).toEqual({ count: 0, stale: 0 });
      expect(store.logNth("rate_limit", "g1", 100, 0)).toBe(200);
      expect(store.logNth("rate_limit", "g1", 100, 2)).toBe(300);
      expect(store.logNth("rate_limit", "g1", 100, 3)).toBe(null);
      store.logPrune("rate_limit", "g1", 200);
      expect(store.logWindow("rate_limit", "g1", 0)).toEqual({ count: 1, stale: 0 });
      expect(store.logOldest("rate_limit")).toBe(50);
      store.logRetain("rate_limit", 1000);
      expect(store.logOldest("rate_limit")).toBe(null);
      expect(store.logOldest("throttle")).toBe(10);
    });
  });

  it("acquires a lease only when the gate has room (and, if asked, nobody waits)", async () => {
    await withSqlStore((store) => {
      expect(lease(store, "singleton", "s", "a", 1, 1, false)).toBe(true);
      expect(lease(store, "singleton", "s", "b", 2, 1, false)).toBe(false);
      expect(lease(store, "singleton", "s", "a", 3, 1, false)).toBe(false); // already held
      expect(lease(store, "concurrency", "c", "a", 1, 2, true)).toBe(true);
      const plan = { gates: {}, rank: 0 };
      const base = { primitive: "concurrency" as const, gate: "c", rank: 0, arrived_at: 0, due: null, eta: null };
      store.waitAdd({ ...base, dispatch_id: "w", event_id: "ew", plan });
      expect(lease(store, "concurrency", "c", "b", 2, 2, true)).toBe(false); // someone waits
      expect(lease(store, "concurrency", "c", "b", 2, 2, false)).toBe(true);
      expect(store.leaseHolders("concurrency", "c")).toEqual(["a", "b"]);
      expect(store.tracks("a")).toBe(true);
      expect(store.tracks("w")).toBe(true);
      expect(store.tracks("zz")).toBe(false);
    });
  });

  it("tracks leases per gate and per dispatch", async () => {
    await withSqlStore((store) => {
      store.leaseAdd("concurrency", "g", "a", 1);
      store.leaseAdd("concurrency", "g", "b", 2);
      store.leaseAdd("concurrency", "g", "a", 3); // no duplicate
      store.leaseAdd("singleton", "s", "a", 4);
      expect(store.leaseCount("concurrency", "g")).toBe(2);
      expect(store.leaseHolders("concurrency", "g")).toEqual(["a", "b"]);
      expect(store.leasesOf("a")).toEqual([
        { primitive: "concurrency", gate: "g" },
        { primitive: "singleton", gate: "s" },
      ]);
      expect(store.dispatchIds()).toEqual(["a", "b"]);
      store.leaseRemove("concurrency", "g", "a");
      expect(store.leaseHolders("concurrency", "g")).toEqual(["b"]);
      expect(store.summary({ rate_limit: 0, throttle: 0 }, 10).leases).toEqual([
        { primitive: "concurrency", gate: "g", count: 1, holders: ["b"] },
        { primitive: "singleton", gate: "s", count: 1, holders: ["a"] },
      ]);
    });
  });

  it("survives a restart: state written by one object instance is read by the next", async () => {
    const stub = env.BINDING_GATE.getByName(`flow-test-restart-${Date.now()}`);
    const flow = { concurrency: { max: 1 }, priority: { key: "event.payload.tier", order: ["gold", "bronze"] } };
    await runInDurableObject(stub, (_i, state) => {
      const store = new SqlFlowStore(state.storage.sql);
      store.ensureSchema();
      const h = new Harness(flow, store);
      h.arrive("run", { tier: "bronze" }, 0);
      h.arrive("bronze", { tier: "bronze" }, 1);
      h.arrive("gold", { tier: "gold" }, 2);
    });
    await evictDurableObject(stub);
    await runInDurableObject(stub, (_i, state) => {
      const h = new Harness(flow, new SqlFlowStore(state.storage.sql));
      expect(h.engine.release("run", 3).others.map((t) => t.dispatch_id)).toEqual(["gold"]);
      expect(h.engine.release("gold", 4).others.map((t) => t.dispatch_id)).toEqual(["bronze"]);
    });
  });
});
