/** Reading stored JSON text columns. */

/** A JSON text column that may also hold plain text (kept as the string itself). */
export function parseJsonText(text: string | null): unknown {
  if (text === null) return null;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** The `headers` and `payload` columns of a stored event or record, parsed. */
export function parseMessage(row: { headers: string; payload: string }) {
  return { headers: JSON.parse(row.headers) as Record<string, string>, payload: JSON.parse(row.payload) as unknown };
}
