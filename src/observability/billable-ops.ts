/**
 * Billable Cloudflare operations, counted for benchmarks (docs/benchmarks.md, SPEC 17). Off unless
 * the Worker runs with `BILLABLE_OPS_COUNTING=true` (`wrangler dev --var BILLABLE_OPS_COUNTING:true`,
 * which `npm run bench` does); when off, every hook hands its input back untouched.
 *
 * When on, the bindings an invocation sees are wrapped by counting proxies:
 * - D1 (`DB`): statements, `meta.rows_read` and `meta.rows_written` of every query. `first()` and
 *   `raw()` return no meta, so the counter sits at the binding's transport (the fetcher under the
 *   `D1Database` wrapper of workerd) where every statement's meta passes; if that is not found,
 *   D1 is left uncounted and `d1_counted` says so.
 * - Durable Object namespaces: every RPC call or fetch on a stub is one request; alarm invocations
 *   are counted by the object (`countDurableObjectOps` in its constructor), and so are the rows its
 *   SQLite storage writes and reads (`ctx.storage.sql.exec` cursors' `rowsWritten`/`rowsRead`, which
 *   SQLite-backed Durable Objects are billed for like D1 rows) and its active time (duration: from a
 *   request, an alarm or a `waitUntil` task starting until none is left). Rows read are taken when a
 *   statement is executed, so rows a cursor reads while it is iterated later are missed (a lower
 *   bound).
 * - No queue is on the event path any more; the queue fields stay in the report (always 0) so reports
 *   of earlier builds compare.
 *
 * Counters are per isolate and grouped by origin: `intake` (/hooks), `publish` (POST /v1/events),
 * `api` (other routes), `scheduled`, and each Durable Object class. Under
 * `wrangler dev` the Worker and its Durable Objects share one isolate, so `GET /v1/billable-ops`
 * (admin token; DELETE resets) returns everything. Deployed, each isolate only sees its own share.
 */
import { secretsEqual } from "../http/auth";

export interface OpCounts {
  invocations: number;
  d1_queries: number;
  d1_rows_read: number;
  d1_rows_written: number;
  queue_writes: number;
  queue_reads: number;
  queue_deletes: number;
  do_requests: number;
  do_alarms: number;
  /** Rows written and read by Durable Object SQLite storage (billed like D1 rows). */
  do_sql_rows_written: number;
  do_sql_rows_read: number;
  /** Wall-clock time Durable Objects of this origin were active (a request, an alarm or I/O they wait on). */
  do_duration_ms: number;
  /** DO requests by `<NAMESPACE>.<method>`. */
  do_calls: Record<string, number>;
  /** D1 statements by kind and table (`insert records`, `select events`, …). */
  d1_statements: Record<string, { n: number; rows_read: number; rows_written: number }>;
}

export interface BillableOpsReport {
  d1_counted: boolean;
  since: string;
  origins: Record<string, OpCounts>;
}

type Flagged = { BILLABLE_OPS_COUNTING?: string };

const D1_BINDINGS = ["DB"] as const satisfies ReadonlyArray<keyof Env>;
const DO_BINDINGS = [
  "BINDING_GATE",
  "INTAKE_LIMITER",
  "DESTINATION",
  "TRUST_LEDGER",
  "EVENT_LOG",
  "DISPATCH_HISTORY",
] as const satisfies ReadonlyArray<keyof Env>;

export const BILLABLE_OPS_PATH = "/v1/billable-ops";

const origins = new Map<string, OpCounts>();
let since = new Date().toISOString();
let d1Counted = true;

export function billableOpsEnabled(env: unknown): boolean {
  return (env as Flagged | undefined)?.BILLABLE_OPS_COUNTING === "true";
}

function zeroCounts(): OpCounts {
  return {
    invocations: 0,
    d1_queries: 0,
    d1_rows_read: 0,
    d1_rows_written: 0,
    queue_writes: 0,
    queue_reads: 0,
    queue_deletes: 0,
    do_requests: 0,
    do_alarms: 0,
    do_sql_rows_written: 0,
    do_sql_rows_read: 0,
    do_duration_ms: 0,
    do_calls: {},
    d1_statements: {},
  };
}

/** The live counter object of an origin (long-lived holders such as Durable Objects keep it). */
function countsFor(origin: string): OpCounts {
  let counts = origins.get(origin);
  if (!counts) {
    counts = zeroCounts();
    origins.set(origin, counts);
  }
  return counts;
}

export function billableOpsReport(): BillableOpsReport {
  return { d1_counted: d1Counted, since, origins: structuredClone(Object.fromEntries(origins)) };
}

/** Zeroes every counter in place: Durable Objects hold their counter objects across requests. */
export function resetBillableOps(): void {
  for (const counts of origins.values()) Object.assign(counts, zeroCounts());
  since = new Date().toISOString();
}

// ---- D1 --------------------------------------------------------------------------------------

interface D1Answer {
  meta?: { rows_read?: number; rows_written?: number };
}

/** `insert records`, `update dispatches`, `select events`, …: what a statement does to which table. */
export function statementKey(sql: string): string {
  const text = sql.trim().replace(/\s+/g, " ");
  const table = (re: RegExp) => re.exec(text)?.[1]?.replaceAll('"', "").replaceAll("`", "") ?? "?";
  if (/^insert\b/i.test(text)) return `insert ${table(/^insert (?:or \w+ )?into ([\w"`]+)/i)}`;
  if (/^update\b/i.test(text)) return `update ${table(/^update (?:or \w+ )?([\w"`]+)/i)}`;
  if (/^delete\b/i.test(text)) return `delete ${table(/^delete from ([\w"`]+)/i)}`;
  if (/^(select|with)\b/i.test(text)) return `select ${table(/\bfrom ([\w"`]+)/i)}`;
  return (text.split(" ")[0] ?? "?").toLowerCase();
}

function tallyD1(counts: OpCounts, answers: D1Answer[], sqls: readonly string[]): void {
  answers.forEach((answer, i) => {
    const read = answer.meta?.rows_read ?? 0;
    const written = answer.meta?.rows_written ?? 0;
    counts.d1_queries += 1;
    counts.d1_rows_read += read;
    counts.d1_rows_written += written;
    const key = statementKey(sqls[i] ?? "?");
    const entry = counts.d1_statements[key] ?? { n: 0, rows_read: 0, rows_written: 0 };
    counts.d1_statements[key] = entry;
    entry.n += 1;
    entry.rows_read += read;
    entry.rows_written += written;
  });
}

/** The SQL of a transport request: `{sql}` or `[{sql}]` as JSON (fetch), `{queries: [{sql}]}` (RPC). */
function sqlsOf(request: unknown): string[] {
  const body = typeof request === "string" ? safeJson(request) : request;
  const list = Array.isArray(body) ? body : ((body as { queries?: unknown })?.queries ?? [body]);
  return (Array.isArray(list) ? list : []).map((q) => String((q as { sql?: unknown })?.sql ?? "?"));
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

/** What the transport answered: one result, an array of them, or the RPC form `{results}`. */
function answersOf(body: unknown): D1Answer[] {
  if (Array.isArray(body)) return body as D1Answer[];
  if (body && typeof body === "object") {
    const results = (body as { results?: unknown }).results;
    if ("meta" in body) return [body as D1Answer];
    const list = (results as { queryResults?: unknown })?.queryResults ?? results;
    if (Array.isArray(list)) return list as D1Answer[];
  }
  return [];
}

type D1Fetcher = {
  fetch(input: string, init?: RequestInit): Promise<Response>;
  query?(request: unknown): Promise<unknown>;
};
type SessionClass = new (
  fetcher: D1Fetcher,
  constraint?: string | null,
) => D1DatabaseSession & {
  exec(query: string): Promise<D1ExecResult>;
  dump(): Promise<ArrayBuffer>;
};

function countingD1(db: D1Database, counts: OpCounts): D1Database {
  const internal = db as unknown as { fetcher?: D1Fetcher; alwaysPrimarySession?: object };
  const fetcher = internal.fetcher;
  const Primary = internal.alwaysPrimarySession?.constructor as SessionClass | undefined;
  const Session = Primary ? (Object.getPrototypeOf(Primary) as SessionClass) : undefined;
  if (!fetcher || typeof fetcher.fetch !== "function" || !Primary || !Session) {
    d1Counted = false;
    return db;
  }
  const counted: D1Fetcher = {
    async fetch(input, init) {
      const response = await fetcher.fetch(input, init);
      const text = await response.text();
      // Not JSON (an error page): nothing was executed that D1 would bill.
      tallyD1(counts, answersOf(safeJson(text)), sqlsOf(init?.body));
      return new Response(text, { status: response.status, headers: response.headers });
    },
    async query(request) {
      if (!fetcher.query) throw new Error("D1 transport has no query()");
      const answer = await fetcher.query(request);
      tallyD1(counts, answersOf(answer), sqlsOf(request));
      return answer;
    },
  };
  const primary = new Primary(counted);
  const wrapped = {
    prepare: (query: string) => primary.prepare(query),
    batch: (statements: D1PreparedStatement[]) => primary.batch(statements),
    exec: (query: string) => primary.exec(query),
    dump: () => primary.dump(),
    withSession: (constraint?: string) => new Session(counted, constraint?.trim() || "first-unconstrained"),
  };
  return wrapped as unknown as D1Database;
}

// ---- Durable Objects ---------------------------------------------------------------------------

function countingStub<S extends object>(stub: S, namespace: string, counts: OpCounts): S {
  return new Proxy(stub, {
    get(target, prop) {
      const value = Reflect.get(target, prop);
      // `then` must stay undefined-or-native so a stub is never mistaken for a promise.
      if (typeof prop === "symbol" || prop === "then" || typeof value !== "function") return value;
      return (...args: unknown[]) => {
        counts.do_requests += 1;
        const key = `${namespace}.${prop}`;
        counts.do_calls[key] = (counts.do_calls[key] ?? 0) + 1;
        // Reflect.apply: on an RPC stub, `value.apply` would be a remote method named "apply".
        return Reflect.apply(value as (...a: unknown[]) => unknown, target, args);
      };
    },
  });
}

function countingNamespace<N extends DurableObjectNamespace>(ns: N, name: string, counts: OpCounts): N {
  return new Proxy(ns, {
    get(target, prop) {
      const value = Reflect.get(target, prop);
      if (typeof value !== "function") return value;
      if (prop === "get" || prop === "getByName") {
        return (...args: unknown[]) =>
          countingStub(Reflect.apply(value as (...a: unknown[]) => object, target, args), name, counts);
      }
      if (prop === "jurisdiction") {
        return (...args: unknown[]) =>
          countingNamespace(Reflect.apply(value as (...a: unknown[]) => N, target, args), name, counts);
      }
      return value.bind(target);
    },
  });
}

// ---- hooks -------------------------------------------------------------------------------------

/** `env` with its D1 and Durable Object bindings counted under `origin` (always wraps). */
export function countBillableOps<E extends object>(env: E, origin: string): E {
  const counts = countsFor(origin);
  const cache = new Map<PropertyKey, unknown>();
  const wrap = (prop: PropertyKey, value: unknown): unknown => {
    if (!value || typeof value !== "object") return value;
    if ((D1_BINDINGS as readonly PropertyKey[]).includes(prop)) return countingD1(value as D1Database, counts);
    if ((DO_BINDINGS as readonly PropertyKey[]).includes(prop)) {
      return countingNamespace(value as DurableObjectNamespace, String(prop), counts);
    }
    return value;
  };
  // The proxy's target inherits from env instead of being env: a proxy may not substitute values of
  // its target's non-configurable properties.
  return new Proxy(Object.create(env) as E, {
    get(_target, prop) {
      if (!cache.has(prop)) cache.set(prop, wrap(prop, Reflect.get(env, prop)));
      return cache.get(prop);
    },
  });
}

/** Where an HTTP request's operations are counted. */
export function originOfRequest(method: string, pathname: string): string {
  if (pathname.startsWith("/hooks/")) return "intake";
  if (method === "POST" && (pathname === "/v1/events" || pathname === "/v1/events/")) return "publish";
  return "api";
}

async function reportRoute(request: Request, env: Env): Promise<Response> {
  const match = /^Bearer\s+(.+)$/i.exec(request.headers.get("authorization") ?? "");
  if (!match?.[1] || !env.ADMIN_TOKEN || !(await secretsEqual(match[1].trim(), env.ADMIN_TOKEN))) {
    return Response.json(
      { error: { code: "unauthorized", message: "invalid or missing bearer token" } },
      { status: 401 },
    );
  }
  if (request.method === "DELETE") {
    resetBillableOps();
    return new Response(null, { status: 204 });
  }
  if (request.method !== "GET") {
    return Response.json(
      { error: { code: "method_not_allowed", message: `${request.method} ${BILLABLE_OPS_PATH}` } },
      { status: 405, headers: { allow: "GET, DELETE" } },
    );
  }
  return Response.json(billableOpsReport());
}

/**
 * The Worker's handlers with every invocation counted (when enabled): `fetch` by route group (and
 * `GET|DELETE /v1/billable-ops`), and `scheduled`.
 */
export function withBillableOps<H extends ExportedHandler<Env>>(handler: H): H {
  const { fetch, scheduled } = handler;
  const counted: ExportedHandler<Env> = {
    ...handler,
    ...(fetch && {
      fetch(request, env, ctx) {
        if (!billableOpsEnabled(env)) return fetch.call(handler, request, env, ctx);
        const url = new URL(request.url);
        if (url.pathname === BILLABLE_OPS_PATH) return reportRoute(request, env);
        const origin = originOfRequest(request.method, url.pathname);
        countsFor(origin).invocations += 1;
        return fetch.call(handler, request, countBillableOps(env, origin), ctx);
      },
    }),
    ...(scheduled && {
      async scheduled(controller, env, ctx) {
        if (!billableOpsEnabled(env)) return scheduled.call(handler, controller, env, ctx);
        countsFor("scheduled").invocations += 1;
        return scheduled.call(handler, controller, countBillableOps(env, "scheduled"), ctx);
      },
    }),
  };
  return counted as H;
}

/** Counts the rows each statement of a Durable Object's SQLite storage writes (and reads, see above). */
function countSqlStorage(sql: SqlStorage, counts: OpCounts): void {
  const exec = sql.exec;
  Object.defineProperty(sql, "exec", {
    value: (query: string, ...bindings: unknown[]) => {
      const cursor = Reflect.apply(exec, sql, [query, ...bindings]) as SqlStorageCursor<
        Record<string, SqlStorageValue>
      >;
      counts.do_sql_rows_written += cursor.rowsWritten;
      counts.do_sql_rows_read += cursor.rowsRead;
      return cursor;
    },
    writable: true,
    configurable: true,
  });
}

/**
 * Active time of one Durable Object instance: from the moment it starts work (an RPC method, the
 * alarm, a background task handed to `waitUntil`) until no work is left. Cloudflare bills duration
 * for exactly this (an object that is only waiting to be evicted is not billed).
 */
class DurationMeter {
  private active = 0;
  private since = 0;

  constructor(private readonly counts: OpCounts) {}

  enter(): void {
    if (this.active++ === 0) this.since = Date.now();
  }

  exit(): void {
    if (--this.active === 0) this.counts.do_duration_ms += Math.max(0, Date.now() - this.since);
  }

  /** Runs `work` (sync or async) as active time. */
  around<T>(work: () => T): T {
    this.enter();
    let result: T;
    try {
      result = work();
    } catch (error) {
      this.exit();
      throw error;
    }
    if (result && typeof (result as { then?: unknown }).then === "function") {
      return (result as unknown as Promise<unknown>).finally(() => this.exit()) as T;
    }
    this.exit();
    return result;
  }
}

const meters = new WeakMap<object, DurationMeter>();
const meteredPrototypes = new WeakSet<object>();

/** Wraps the methods of a Durable Object class once, so every call on a metered instance is active time. */
function meterPrototype(proto: object): void {
  if (meteredPrototypes.has(proto)) return;
  meteredPrototypes.add(proto);
  for (const name of Object.getOwnPropertyNames(proto)) {
    const desc = Object.getOwnPropertyDescriptor(proto, name);
    if (name === "constructor" || !desc || typeof desc.value !== "function") continue;
    const fn = desc.value as (...a: unknown[]) => unknown;
    Object.defineProperty(proto, name, {
      ...desc,
      value: function (this: object, ...args: unknown[]) {
        const meter = meters.get(this);
        return meter ? meter.around(() => fn.apply(this, args)) : fn.apply(this, args);
      },
    });
  }
}

/**
 * Constructor hook for a Durable Object (after `super`, before it keeps `ctx.storage.sql`): counts
 * what it does through `this.env` under its class name, each alarm invocation (a billed DO request),
 * the rows its SQLite storage writes, and its active time (duration).
 */
export function countDurableObjectOps(object: object, origin: string): void {
  const holder = object as {
    env?: unknown;
    ctx?: { storage?: { sql?: SqlStorage } };
    alarm?: (info?: AlarmInvocationInfo) => unknown;
  };
  if (!billableOpsEnabled(holder.env)) return;
  const counts = countsFor(origin);
  const sql = holder.ctx?.storage?.sql;
  if (sql) countSqlStorage(sql, counts);
  const meter = new DurationMeter(counts);
  meters.set(object, meter);
  meterPrototype(Object.getPrototypeOf(object) as object);
  const ctx = holder.ctx as { waitUntil?: (p: Promise<unknown>) => void } | undefined;
  const waitUntil = ctx?.waitUntil?.bind(ctx);
  if (ctx && waitUntil) {
    try {
      Object.defineProperty(ctx, "waitUntil", {
        value: (p: Promise<unknown>) => waitUntil(meter.around(() => p)),
        writable: true,
        configurable: true,
      });
    } catch {
      // A runtime whose state object cannot be extended: background work goes unmetered.
    }
  }
  Object.defineProperty(object, "env", {
    value: countBillableOps(holder.env as object, origin),
    writable: true,
    configurable: true,
  });
  const alarm = holder.alarm;
  if (typeof alarm === "function") {
    Object.defineProperty(object, "alarm", {
      value: (info?: AlarmInvocationInfo) => {
        counts.do_alarms += 1;
        return meter.around(() => alarm.call(object, info));
      },
      writable: true,
      configurable: true,
    });
  }
}
