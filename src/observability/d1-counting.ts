/**
 * D1 counted at its transport (SPEC 17 billing): every statement, `meta.rows_read` and
 * `meta.rows_written` of every query pass the fetcher under workerd's `D1Database` wrapper, so the
 * wrapper swaps that fetcher for a counting one. Without it, D1 stays uncounted and the report says so.
 */
import { markD1Uncounted, type OpCounts } from "./op-counts";

export interface D1Answer {
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

export function tallyD1(counts: OpCounts, answers: D1Answer[], sqls: readonly string[]): void {
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
export function sqlsOf(request: unknown): string[] {
  const body = typeof request === "string" ? safeJson(request) : request;
  const list = Array.isArray(body) ? body : ((body as { queries?: unknown })?.queries ?? [body]);
  return (Array.isArray(list) ? list : []).map((q) => String((q as { sql?: unknown })?.sql ?? "?"));
}

export function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

/** What the transport answered: one result, an array of them, or the RPC form `{results}`. */
export function answersOf(body: unknown): D1Answer[] {
  if (Array.isArray(body)) return body as D1Answer[];
  if (body && typeof body === "object") {
    const results = (body as { results?: unknown }).results;
    if ("meta" in body) return [body as D1Answer];
    const list = (results as { queryResults?: unknown })?.queryResults ?? results;
    if (Array.isArray(list)) return list as D1Answer[];
  }
  return [];
}

export type D1Fetcher = {
  fetch(input: string, init?: RequestInit): Promise<Response>;
  query?(request: unknown): Promise<unknown>;
};

export type SessionClass = new (
  fetcher: D1Fetcher,
  constraint?: string | null,
) => D1DatabaseSession & {
  exec(query: string): Promise<D1ExecResult>;
  dump(): Promise<ArrayBuffer>;
};

export function countingD1(db: D1Database, counts: OpCounts): D1Database {
  const internal = db as unknown as { fetcher?: D1Fetcher; alwaysPrimarySession?: object };
  const fetcher = internal.fetcher;
  const Primary = internal.alwaysPrimarySession?.constructor as SessionClass | undefined;
  const Session = Primary ? (Object.getPrototypeOf(Primary) as SessionClass) : undefined;
  if (!fetcher || typeof fetcher.fetch !== "function" || !Primary || !Session) {
    markD1Uncounted();
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
