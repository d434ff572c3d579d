/**
 * Billable-operation counting (benchmarks only): the counting proxies keep the bindings working and
 * see every D1 statement's rows and Durable Object request, and Durable Objects' storage rows and
 * active time.
 */
import { createExecutionContext, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { sql } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { beforeEach, describe, expect, it } from "vitest";
import { BILLABLE_OPS_PATH, originOfRequest, withBillableOps } from "../../../src/observability/billable-ops";
import { countBillableOps, countDurableObjectOps } from "../../../src/observability/counting-bindings";
import { statementKey } from "../../../src/observability/d1-counting";
import { billableOpsReport, resetBillableOps } from "../../../src/observability/op-counts";

// An own property on a child of `env`: assigning would go through `env`'s set trap and flag it for everyone.
const flagged = (): Env => Object.create(env, { BILLABLE_OPS_COUNTING: { value: "true" } }) as Env;
const counts = (origin: string) => billableOpsReport().origins[origin];

beforeEach(() => resetBillableOps());

describe("D1 counting", () => {
  it("counts statements and rows of run/batch/all/first/raw and keeps their results", async () => {
    const db = countBillableOps(env, "t").DB;
    await db.exec("CREATE TABLE IF NOT EXISTS bench_rows (id INTEGER PRIMARY KEY, v TEXT NOT NULL)");
    await db.prepare("DELETE FROM bench_rows").run();
    resetBillableOps();

    await db.prepare("INSERT INTO bench_rows (id, v) VALUES (?, ?)").bind(1, "a").run();
    await db.batch([
      db.prepare("INSERT INTO bench_rows (id, v) VALUES (?, ?)").bind(2, "b"),
      db.prepare("INSERT INTO bench_rows (id, v) VALUES (?, ?)").bind(3, "c"),
    ]);
    const afterWrites = counts("t");
    expect(afterWrites?.d1_queries).toBe(3);
    expect(afterWrites?.d1_rows_written).toBeGreaterThanOrEqual(3);

    const before = structuredClone(counts("t"));
    expect(await db.prepare("SELECT v FROM bench_rows WHERE id = ?").bind(2).first("v")).toBe("b");
    expect(await db.prepare("SELECT id, v FROM bench_rows ORDER BY id").raw()).toEqual([
      [1, "a"],
      [2, "b"],
      [3, "c"],
    ]);
    expect((await db.prepare("SELECT * FROM bench_rows").all()).results).toHaveLength(3);
    const rows = await drizzle(db).all<{ n: number }>(sql`SELECT count(*) AS n FROM bench_rows`);
    expect(rows).toEqual([{ n: 3 }]);
    const after = counts("t");
    expect(billableOpsReport().d1_counted).toBe(true);
    expect((after?.d1_queries ?? 0) - (before?.d1_queries ?? 0)).toBe(4);
    // Full scans read every row; a primary-key lookup reads one.
    expect((after?.d1_rows_read ?? 0) - (before?.d1_rows_read ?? 0)).toBeGreaterThanOrEqual(1 + 3 + 3 + 3);
    expect(after?.d1_rows_written).toBe(afterWrites?.d1_rows_written);
    expect(after?.d1_statements["insert bench_rows"]).toMatchObject({ n: 3 });
    expect(after?.d1_statements["select bench_rows"]?.n).toBe(4);
  });

  it.each([
    ['INSERT INTO "records" ("key", "topic") VALUES (?, ?)', "insert records"],
    ["insert or ignore into dedupe_claims (k) values (?)", "insert dedupe_claims"],
    ['update "dispatches" set "status" = ?', "update dispatches"],
    ["DELETE FROM events WHERE id = ?", "delete events"],
    ['select "id" from "events" where "id" = ?', "select events"],
    ["WITH x AS (SELECT 1) SELECT * FROM attempts", "select attempts"],
    ["CREATE TABLE t (a)", "create"],
  ])("statementKey(%s) is %s", (sql, key) => {
    expect(statementKey(sql)).toBe(key);
  });

  it("propagates SQL errors unchanged", async () => {
    const db = countBillableOps(env, "t").DB;
    await expect(db.prepare("SELECT * FROM no_such_table").all()).rejects.toThrow(/no such table/);
  });
});

describe("Durable Object counting", () => {
  it("counts each stub call as one request, by namespace and method", async () => {
    const e = countBillableOps(env, "t");
    const stub = e.INTAKE_LIMITER.getByName("bench");
    await stub.setTokens("_bench", 5);
    const grant = await stub.acquire("bench", 2);
    expect(grant.granted).toBe(2);
    await e.INTAKE_LIMITER.get(e.INTAKE_LIMITER.idFromName("bench")).setTokens("_bench", 1);
    expect(counts("t")).toMatchObject({
      do_requests: 3,
      do_calls: { "INTAKE_LIMITER.setTokens": 2, "INTAKE_LIMITER.acquire": 1 },
    });
  });

  it("the constructor hook counts alarms and wraps env only when enabled", async () => {
    let fired = 0;
    const object = {
      env: flagged(),
      async alarm() {
        fired += 1;
        await this.env.DB.prepare("SELECT 1").all();
      },
    };
    countDurableObjectOps(object, "Thing");
    await object.alarm();
    expect(fired).toBe(1);
    expect(counts("Thing")).toMatchObject({ do_alarms: 1, d1_queries: 1 });

    const plain = { env, alarm: async () => {} };
    const original = plain.alarm;
    countDurableObjectOps(plain, "Plain");
    expect(plain.env).toBe(env);
    expect(plain.alarm).toBe(original);
  });

  it("the constructor hook counts the time an object is active: its methods, alarms and waitUntil work", async () => {
    const later: Promise<unknown>[] = [];
    class Timed {
      env = flagged();
      ctx = { waitUntil: (p: Promise<unknown>) => void later.push(p) };
      constructor() {
        countDurableObjectOps(this, "Timed");
      }
      async work(ms: number) {
        await new Promise((r) => setTimeout(r, ms));
        this.ctx.waitUntil(new Promise((r) => setTimeout(r, ms)));
      }
    }
    const object = new Timed();
    await object.work(30);
    await Promise.all(later);
    const active = counts("Timed")?.do_duration_ms ?? 0;
    // The method (30 ms) and the background task it left (30 ms) are one active stretch.
    expect(active).toBeGreaterThanOrEqual(55);
    expect(active).toBeLessThan(1_000);
    // Idle time between calls is not counted.
    await new Promise((r) => setTimeout(r, 50));
    await object.work(0);
    await Promise.all(later);
    expect((counts("Timed")?.do_duration_ms ?? 0) - active).toBeLessThan(40);
  });

  it("the constructor hook counts the rows a Durable Object's SQLite storage writes", async () => {
    const stub = env.INTAKE_LIMITER.getByName("bench-sql-counting");
    await stub.setTokens("_bench", 1);
    await runInDurableObject(stub, async (_instance, state) => {
      countDurableObjectOps({ env: flagged(), ctx: state }, "SqlThing");
      state.storage.sql.exec("CREATE TABLE IF NOT EXISTS counted (k TEXT PRIMARY KEY, v INTEGER)");
      resetBillableOps();
      state.storage.sql.exec("INSERT INTO counted (k, v) VALUES ('a', 1), ('b', 2)");
      const rows = state.storage.sql.exec<{ v: number }>("SELECT v FROM counted ORDER BY k").toArray();
      expect(rows.map((r) => r.v)).toEqual([1, 2]);
    });
    // Two rows, each also written to the primary-key index.
    expect(counts("SqlThing")?.do_sql_rows_written).toBe(4);
  });

  it("keeps a Durable Object's counter across resets", async () => {
    const object = { env: flagged(), async alarm() {} };
    countDurableObjectOps(object, "Kept");
    await object.alarm();
    resetBillableOps();
    await object.alarm();
    expect(counts("Kept")?.do_alarms).toBe(1);
  });
});

describe("the fetch hook and the report route", () => {
  const echo = withBillableOps({
    async fetch(_request: Request, e: Env, _ctx: ExecutionContext) {
      await e.DB.prepare("SELECT 1").all();
      return new Response("handled");
    },
  } satisfies ExportedHandler<Env>);
  const ctx = () => createExecutionContext();
  const url = (path: string) => `http://switchyard.test${path}`;

  it("counts requests by route group", async () => {
    await echo.fetch(new Request(url("/hooks/github"), { method: "POST" }), flagged(), ctx());
    await echo.fetch(new Request(url("/v1/events"), { method: "POST" }), flagged(), ctx());
    await echo.fetch(new Request(url("/v1/stats")), flagged(), ctx());
    const report = billableOpsReport().origins;
    expect(report.intake).toMatchObject({ invocations: 1, d1_queries: 1 });
    expect(report.publish).toMatchObject({ invocations: 1, d1_queries: 1 });
    expect(report.api).toMatchObject({ invocations: 1, d1_queries: 1 });
  });

  it("serves the totals to the admin token and resets them on DELETE", async () => {
    await echo.fetch(new Request(url("/hooks/github"), { method: "POST" }), flagged(), ctx());
    const denied = await echo.fetch(new Request(url(BILLABLE_OPS_PATH)), flagged(), ctx());
    expect(denied.status).toBe(401);
    const auth = { authorization: `Bearer ${env.ADMIN_TOKEN}` };
    const ok = await echo.fetch(new Request(url(BILLABLE_OPS_PATH), { headers: auth }), flagged(), ctx());
    expect(ok.status).toBe(200);
    const body = (await ok.json()) as ReturnType<typeof billableOpsReport>;
    expect(body.origins.intake?.invocations).toBe(1);
    const post = await echo.fetch(
      new Request(url(BILLABLE_OPS_PATH), { method: "POST", headers: auth }),
      flagged(),
      ctx(),
    );
    expect(post.status).toBe(405);
    const reset = await echo.fetch(
      new Request(url(BILLABLE_OPS_PATH), { method: "DELETE", headers: auth }),
      flagged(),
      ctx(),
    );
    expect(reset.status).toBe(204);
    expect(billableOpsReport().origins.intake?.invocations).toBe(0);
  });

  it("passes everything through untouched when counting is off", async () => {
    const off = await echo.fetch(new Request(url(BILLABLE_OPS_PATH)), env, ctx());
    expect(await off.text()).toBe("handled");
    expect(billableOpsReport().origins.api?.invocations ?? 0).toBe(0);
  });

  it("groups routes", () => {
    expect(originOfRequest("POST", "/hooks/github")).toBe("intake");
    expect(originOfRequest("POST", "/v1/events")).toBe("publish");
    expect(originOfRequest("GET", "/v1/events")).toBe("api");
    expect(originOfRequest("GET", "/healthz")).toBe("api");
  });
});
