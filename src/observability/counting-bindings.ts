/**
 * The counting bindings (SPEC 17 billing): the env an invocation sees, with D1 (`d1-counting.ts`) and
 * every Durable Object namespace wrapped, stub calls counted as requests; and inside each object
 * (`countDurableObjectOps` in its constructor) its alarms, its SQLite rows written and read, and its
 * active time.
 */
import { countingD1 } from "./d1-counting";
import { billableOpsEnabled, countsFor, type OpCounts } from "./op-counts";

const D1_BINDINGS = ["DB"] as const satisfies ReadonlyArray<keyof Env>;

const DO_BINDINGS = [
  "BINDING_GATE",
  "INTAKE_LIMITER",
  "DESTINATION",
  "TRUST_LEDGER",
  "EVENT_LOG",
  "DISPATCH_HISTORY",
] as const satisfies ReadonlyArray<keyof Env>;

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

export function countingStub<S extends object>(stub: S, namespace: string, counts: OpCounts): S {
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

export function countingNamespace<N extends DurableObjectNamespace>(ns: N, name: string, counts: OpCounts): N {
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

/** Counts the rows each statement of a Durable Object's SQLite storage writes (and reads, see above). */
export function countSqlStorage(sql: SqlStorage, counts: OpCounts): void {
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
export class DurationMeter {
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

export const meters = new WeakMap<object, DurationMeter>();

export const meteredPrototypes = new WeakSet<object>();

/** Wraps the methods of a Durable Object class once, so every call on a metered instance is active time. */
export function meterPrototype(proto: object): void {
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
