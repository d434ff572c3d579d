/** Cursor pagination of every list (SPEC 15): the `limit` query schema, opaque cursors and pages. */
import { z } from "zod";
import { AppError } from "../lib/errors";

export const limitSchema = z.coerce
  .number({ error: "limit must be an integer from 1 to 500" })
  .int("limit must be an integer from 1 to 500")
  .min(1, "limit must be an integer from 1 to 500")
  .max(500, "limit must be an integer from 1 to 500")
  .default(50);

/** Opaque cursors: base64url of a JSON array of the sort key of the last item returned. */
export function encodeCursor(key: (string | number)[]): string {
  return btoa(JSON.stringify(key)).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

export function decodeCursor(cursor: string | undefined, arity: number): (string | number)[] | null {
  if (cursor === undefined || cursor === "") return null;
  try {
    const padded = cursor.replaceAll("-", "+").replaceAll("_", "/");
    const value: unknown = JSON.parse(atob(padded + "=".repeat((4 - (padded.length % 4)) % 4)));
    if (
      Array.isArray(value) &&
      value.length === arity &&
      value.every((v) => typeof v === "string" || typeof v === "number")
    ) {
      return value as (string | number)[];
    }
  } catch {
    // fall through to the error below
  }
  throw invalidCursor();
}

export function page<T>(rows: T[], limit: number, keyOf: (row: T) => (string | number)[]) {
  const items = rows.slice(0, limit);
  const last = items.at(-1);
  return { items, next_cursor: rows.length > limit && last !== undefined ? encodeCursor(keyOf(last)) : null };
}

const invalidCursor = () => new AppError("bad_request", "cursor is not valid: pass next_cursor from a previous page");

/** The key of a cursor over one string key (a binding id, a source name), or null on the first page. */
export function stringKeyCursor(cursor: string | undefined): string | null {
  const after = decodeCursor(cursor, 1)?.[0] ?? null;
  if (typeof after === "number") throw invalidCursor();
  return after;
}

/** The `[created_at, id]` of a cursor over a newest-first list, or null on the first page. */
function createdAtCursor(cursor: string | undefined): [string, string] | null {
  const key = decodeCursor(cursor, 2);
  return key ? [String(key[0]), String(key[1])] : null;
}

/**
 * One page of a list ordered newest first by (created_at, id), as answered: `list` reads up to
 * `limit + 1` rows after the cursor's key, `view` renders each row of the page.
 */
export async function newestFirstPage<R extends { createdAt: string; id: string }, V>(
  query: { cursor?: string | undefined; limit: number },
  list: (after: [string, string] | null, limit: number) => Promise<R[]>,
  view: (row: R) => V,
) {
  const rows = await list(createdAtCursor(query.cursor), query.limit);
  const result = page(rows, query.limit, (r) => [r.createdAt, r.id]);
  return { items: result.items.map((r) => view(r)), next_cursor: result.next_cursor };
}
