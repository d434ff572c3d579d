/**
 * What every fuzzed request must satisfy, and D1 snapshots for "nothing half-written" checks.
 * Requests go through the real entry point (`exports.default.fetch`), as in test/support/api.ts.
 */
import { env, exports } from "cloudflare:workers";
import { type Body, describeBody } from "./arbitraries";

export const BASE = "http://switchyard.test";
export const ADMIN = { authorization: "Bearer test-admin-token" };

export interface FuzzRequest {
  method: string;
  /** Path and query exactly as sent (may hold raw or percent-encoded hostile characters). */
  path: string;
  headers?: Record<string, string>;
  body?: Body;
}

export interface FuzzResponse {
  status: number;
  headers: Headers;
  text: string;
  json: unknown;
}

export async function send(req: FuzzRequest): Promise<FuzzResponse> {
  const res = await exports.default.fetch(`${BASE}${req.path}`, {
    method: req.method,
    headers: req.headers ?? {},
    ...(req.body === undefined ? {} : { body: req.body }),
    redirect: "manual",
  });
  const text = await res.text();
  let json: unknown;
  try {
    json = text === "" ? undefined : JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}

export function describeRequest(req: FuzzRequest): string {
  const path = req.path.length > 300 ? `${req.path.slice(0, 300)}… (${req.path.length} chars)` : req.path;
  const headers = Object.entries(req.headers ?? {})
    .filter(([name]) => name !== "authorization")
    .map(([name, value]) => `${name}: ${JSON.stringify(value.slice(0, 120))}`)
    .join(", ");
  return `${req.method} ${JSON.stringify(path)} headers {${headers}} body ${describeBody(req.body)}`;
}

function describeResponse(res: FuzzResponse): string {
  return `${res.status} ${res.text.slice(0, 400)}`;
}

/**
 * Properties 1 and 2: never a 5xx (a 503 with a whole-seconds `Retry-After` is allowed where
 * `allowBackpressure` says so), and every error answer on the API or intake is the envelope
 * `{error: {code, message}}` with a non-empty message.
 */
export function checkAnswer(req: FuzzRequest, res: FuzzResponse, options: { allowBackpressure?: boolean } = {}) {
  const where = () => `${describeRequest(req)}\n→ ${describeResponse(res)}`;
  if (res.status >= 500) {
    const retryAfter = res.headers.get("retry-after");
    const backpressure =
      options.allowBackpressure === true && res.status === 503 && retryAfter !== null && /^[1-9]\d*$/.test(retryAfter);
    if (!backpressure) throw new Error(`server error for client input:\n${where()}`);
  }
  const pathname = new URL(`${BASE}${req.path}`).pathname;
  const onApi = pathname === "/v1" || pathname.startsWith("/v1/") || pathname.startsWith("/hooks/");
  if (res.status >= 400 && onApi) {
    const error = (res.json as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
    if (
      typeof error?.code !== "string" ||
      error.code === "" ||
      typeof error.message !== "string" ||
      error.message.trim() === ""
    ) {
      throw new Error(`error answer without the {error:{code,message}} envelope:\n${where()}`);
    }
  }
}

// ---- D1 snapshots ----

/** Append-mostly tables, compared by count; every other table is compared row by row. */
const LOG_TABLES = new Set(["events", "dedupe_claims", "attempts", "records", "trust_records", "predicate_verdicts"]);
/** Written on purpose for rejected requests (rejection counters), or not the application's. */
const IGNORED_TABLES = new Set(["intake_counters", "d1_migrations"]);

export type Snapshot = Record<string, unknown>;

let tableNames: string[] | null = null;

async function tables(): Promise<string[]> {
  tableNames ??= (
    await env.DB.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all<{ name: string }>()
  ).results
    .map((r) => r.name)
    .filter((name) => !IGNORED_TABLES.has(name) && !name.startsWith("sqlite_") && !name.startsWith("_cf_"));
  return tableNames;
}

/**
 * Every application table (found in the schema, so new tables are covered) except the rejection
 * counters: full rows for the mutable tables, count and highest rowid for the logs.
 */
export async function snapshot(): Promise<Snapshot> {
  const names = await tables();
  const results = await env.DB.batch(
    names.map((t) =>
      env.DB.prepare(
        // WITHOUT ROWID tables (dedupe claims, the partition directory) have no rowid: order by column 1.
        LOG_TABLES.has(t) ? `SELECT count(*) AS n FROM "${t}"` : `SELECT * FROM "${t}" ORDER BY 1`,
      ),
    ),
  );
  return Object.fromEntries(names.map((t, i) => [t, results[i]?.results ?? []]));
}

/** Row counts of some tables. */
export async function counts(tables: readonly string[]): Promise<Record<string, number>> {
  const results = await env.DB.batch(tables.map((t) => env.DB.prepare(`SELECT count(*) AS n FROM ${t}`)));
  return Object.fromEntries(
    tables.map((t, i) => [t, Number((results[i]?.results[0] as { n?: number } | undefined)?.n ?? Number.NaN)]),
  );
}

/** Names of the tables whose snapshot differs. */
export function changedTables(before: Snapshot, after: Snapshot): string[] {
  return Object.keys(before).filter((t) => JSON.stringify(before[t]) !== JSON.stringify(after[t]));
}

/**
 * Waits until background work (gate attempts, History appends, drains) has stopped changing D1: no
 * dispatch in flight at any gate and two equal snapshots in a row.
 */
export async function settle(timeoutMs = 20_000): Promise<Snapshot> {
  const deadline = Date.now() + timeoutMs;
  let previous = JSON.stringify(await snapshot());
  for (;;) {
    await new Promise((r) => setTimeout(r, 150));
    const current = await snapshot();
    const text = JSON.stringify(current);
    const stats = await send({ method: "GET", path: "/v1/stats?limit=500", headers: ADMIN });
    const live = ((stats.json as { in_flight?: number } | undefined)?.in_flight ?? 0) > 0;
    if (text === previous && !live) return current;
    if (Date.now() > deadline) throw new Error("background work did not settle");
    previous = text;
  }
}
