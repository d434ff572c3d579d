/** SPEC 12.1 response mapping, shared by https:// and service:// handlers. Pure. */
import type { HandlerResult } from "../contracts/dispatch";
import { parseRetryAfter } from "../dispatch/retry-policy";

/** A response body as JSON when it parses, else as text; empty is null. */
export function parseBody(text: string): unknown {
  if (text === "") return null;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

export function classifyHttpResponse(status: number, headers: Headers, bodyText: string, now: number): HandlerResult {
  const outcome = headers.get("x-switchyard-outcome")?.toLowerCase();
  const body = parseBody(bodyText);
  const bodyError =
    typeof body === "object" && body !== null && typeof (body as Record<string, unknown>).error === "string"
      ? ((body as Record<string, unknown>).error as string)
      : null;
  if (outcome === "denied" || status === 410) {
    return { kind: "denied", error: bodyError ?? `handler denied the dispatch (HTTP ${status})`, status_code: status };
  }
  if (status >= 200 && status < 300) {
    if (outcome === "waiting") {
      const message =
        typeof body === "object" && body !== null && typeof (body as Record<string, unknown>).message === "string"
          ? ((body as Record<string, unknown>).message as string)
          : typeof body === "string"
            ? body
            : "handler is waiting";
      return { kind: "waiting", message, status_code: status };
    }
    return { kind: "success", result: body, status_code: status };
  }
  return {
    kind: "retryable",
    error: bodyError ?? `HTTP ${status}`,
    cause: { kind: "http_status", status },
    status_code: status,
    retry_after_ms: status === 429 || status === 503 ? parseRetryAfter(headers.get("retry-after"), now) : null,
  };
}

/** Reads at most `limit` bytes of a response body as text, so a huge answer cannot exhaust memory. */
export async function readBodyText(response: Response, limit = 256 * 1024): Promise<string> {
  if (!response.body) return "";
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  while (size < limit) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    size += value.byteLength;
  }
  await reader.cancel().catch(() => {});
  const merged = new Uint8Array(Math.min(size, limit));
  let offset = 0;
  for (const chunk of chunks) {
    const part = chunk.subarray(0, Math.max(0, merged.length - offset));
    merged.set(part, offset);
    offset += part.length;
  }
  return new TextDecoder().decode(merged);
}
