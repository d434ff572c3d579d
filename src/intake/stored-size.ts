/**
 * What an accepted event costs to store. D1 refuses a row over 2,000,000 bytes (the local simulator
 * does not), and a body within the 1 MiB request limit can exceed that once normalised: a non-JSON
 * body is kept as `raw_utf8` and `raw_base64` (and as `raw_body` up to 512 KiB), invalid UTF-8 bytes
 * decode to three-byte U+FFFD, and control characters grow sixfold when JSON-escaped. Pure.
 */
import type { TriggerEvent } from "../contracts/events";

/** Room for the event's large columns, leaving the rest of D1's 2,000,000-byte row for the small ones. */
export const MAX_STORED_EVENT_BYTES = 1_900_000;

export type StorageFit = { ok: true; event: TriggerEvent } | { ok: false; bytes: number };

/** UTF-8 length of a string without encoding it (lone surrogates count as U+FFFD, three bytes). */
export function utf8Length(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x80) bytes += 1;
    else if (code < 0x800) bytes += 2;
    else if (code >= 0xd800 && code <= 0xdbff && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      bytes += 4;
      i++;
    } else bytes += 3;
  }
  return bytes;
}

/** Bytes of the columns that grow with the request: headers, payload and the kept raw body. */
export function storedEventBytes(event: TriggerEvent): number {
  return (
    utf8Length(JSON.stringify(event.headers)) +
    utf8Length(JSON.stringify(event.payload) ?? "null") +
    (event.raw_body?.length ?? 0)
  );
}

/**
 * The event as it can be stored: unchanged when it fits, without the optional `raw_body` when only
 * that was too much, or `{ok: false}` with the size when even the normalised payload does not fit.
 */
export function fitForStorage(event: TriggerEvent, max = MAX_STORED_EVENT_BYTES): StorageFit {
  const bytes = storedEventBytes(event);
  if (bytes <= max) return { ok: true, event };
  if (event.raw_body !== undefined) {
    const { raw_body: _dropped, ...rest } = event;
    const without = bytes - event.raw_body.length;
    if (without <= max) return { ok: true, event: rest };
    return { ok: false, bytes: without };
  }
  return { ok: false, bytes };
}
