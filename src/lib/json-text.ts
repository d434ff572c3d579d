/** Reading a stored JSON text column that may also hold plain text (kept as the string itself). */
export function parseJsonText(text: string | null): unknown {
  if (text === null) return null;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
