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
  throw new AppError("bad_request", "cursor is not valid: pass next_cursor from a previous page");
}

export function page<T>(rows: T[], limit: number, keyOf: (row: T) => (string | number)[]) {
  const items = rows.slice(0, limit);
  const last = items.at(-1);
  return { items, next_cursor: rows.length > limit && last !== undefined ? encodeCursor(keyOf(last)) : null };
}
