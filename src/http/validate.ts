/** Request parsing at the HTTP boundary: every client mistake becomes a precise 400/413/415. */
import type { Context } from "hono";
import type { z } from "zod";
import { issuesToProblems, problemErrorMap, summarize } from "../contracts/problems";
import { AppError } from "../lib/errors";

export const MAX_BODY_BYTES = 1024 * 1024;

export async function readBodyBytes(c: Context): Promise<Uint8Array> {
  const declared = Number(c.req.header("content-length") ?? "0");
  if (declared > MAX_BODY_BYTES) throw tooLarge();
  const body = c.req.raw.body;
  if (!body) return new Uint8Array();
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > MAX_BODY_BYTES) {
      await reader.cancel().catch(() => {});
      throw tooLarge();
    }
    chunks.push(value);
  }
  const out = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}

function tooLarge() {
  return new AppError(
    "payload_too_large",
    `request body exceeds the ${MAX_BODY_BYTES / 1024 / 1024} MiB (${MAX_BODY_BYTES} bytes) limit`,
    { limit: "body_bytes", max_bytes: MAX_BODY_BYTES },
  );
}

/** Parses a JSON body and validates it; `optional` treats an empty body as `{}`. */
export async function readJson<S extends z.ZodType>(c: Context, schema: S, options: { optional?: boolean } = {}) {
  const bytes = await readBodyBytes(c);
  const contentType = c.req.header("content-type") ?? "";
  if (bytes.length > 0 && contentType !== "" && !/\bjson\b/i.test(contentType)) {
    throw new AppError("unsupported_media_type", `content-type must be application/json, got '${contentType}'`);
  }
  let value: unknown = {};
  if (bytes.length === 0) {
    if (!options.optional) throw new AppError("bad_request", "request body is required (JSON)");
  } else {
    try {
      value = JSON.parse(new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes));
    } catch (error) {
      const reason = error instanceof Error ? error.message : "parse error";
      throw new AppError("bad_request", `request body is not valid JSON: ${reason}`);
    }
  }
  return parseWith(schema, value, "request body");
}

export function parseWith<S extends z.ZodType>(schema: S, value: unknown, what: string): z.output<S> {
  const parsed = schema.safeParse(value, { error: problemErrorMap, reportInput: true });
  if (!parsed.success) {
    const problems = issuesToProblems(parsed.error.issues);
    throw new AppError("validation_failed", `invalid ${what}: ${summarize(problems)}`, { problems });
  }
  return parsed.data;
}

export function parseQuery<S extends z.ZodType>(c: Context, schema: S): z.output<S> {
  return parseWith(schema, c.req.query(), "query");
}
