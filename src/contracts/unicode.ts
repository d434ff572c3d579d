/**
 * Well-formed text for strings stored in their own D1 columns. JSON.parse accepts unpaired
 * surrogates (`"\ud800"`); D1 writes them as invalid UTF-8 and reads back three U+FFFD, so a value
 * stored that way is no longer the value that was accepted (nor equal to a JSON copy of it).
 */
import type { z } from "zod";

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
const LONE_SURROGATES = new RegExp(LONE_SURROGATE.source, "g");

export function isWellFormed(text: string): boolean {
  return !LONE_SURROGATE.test(text);
}

/** Replaces each unpaired surrogate by U+FFFD, as a UTF-8 encoder does, so what is stored is what is read. */
export function toWellFormed(text: string): string {
  return text.replace(LONE_SURROGATES, "\ufffd");
}

export const WELL_FORMED_MESSAGE = "must be valid Unicode text (no unpaired surrogates)";

/** `schema` (a string schema) refined to well-formed Unicode. */
export function wellFormed<S extends z.ZodType<string>>(schema: S) {
  return schema.refine(isWellFormed, { error: WELL_FORMED_MESSAGE });
}
