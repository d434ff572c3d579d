/**
 * One outbound POST of the dispatch envelope with a per-attempt timeout and an optional external
 * abort (cancellation). Used by https:// (global fetch) and service:// (a Fetcher binding).
 */
import type { HandlerResult } from "../contracts/dispatch";
import type { TriggerEvent } from "../contracts/events";
import { deadline } from "../lib/deadline";
import { type AttemptContext, dispatchEnvelope, outboundHeaders } from "./envelope";
import { classifyHttpResponse, readBodyText } from "./http-response";

export type FetchLike = (request: Request) => Promise<Response>;

/**
 * The result of a call stopped by its per-attempt deadline (`handler timed out after <ms>ms`) or by
 * an external abort such as a cancel request; null when neither fired. Shared by every handler kind.
 */
export function interruptedResult(
  deadline: AbortSignal,
  timeoutMs: number,
  signal?: AbortSignal,
): HandlerResult | null {
  if (deadline.aborted) {
    return {
      kind: "retryable",
      error: `handler timed out after ${timeoutMs}ms`,
      cause: { kind: "timeout" },
      retry_after_ms: null,
    };
  }
  if (signal?.aborted) {
    return { kind: "retryable", error: "handler call aborted", cause: { kind: "other" }, retry_after_ms: null };
  }
  return null;
}

export async function postEnvelope(
  doFetch: FetchLike,
  url: string,
  ctx: AttemptContext,
  event: TriggerEvent,
  now: () => number,
  signal?: AbortSignal,
): Promise<HandlerResult> {
  const body = JSON.stringify(dispatchEnvelope(ctx, event));
  const headers = await outboundHeaders(ctx, body, now());
  const limit = deadline(ctx.timeout_ms);
  const timeout = limit.signal;
  const combined = signal ? AbortSignal.any([timeout, signal]) : timeout;
  try {
    const response = await doFetch(
      new Request(url, { method: "POST", headers, body, redirect: "manual", signal: combined }),
    );
    const text = await readBodyText(response);
    return classifyHttpResponse(response.status, response.headers, text, now());
  } catch (error) {
    const interrupted = interruptedResult(timeout, ctx.timeout_ms, signal);
    if (interrupted) return interrupted;
    const message = error instanceof Error ? error.message : String(error);
    return { kind: "retryable", error: `network error: ${message}`, cause: { kind: "network" }, retry_after_ms: null };
  } finally {
    limit.clear();
  }
}
