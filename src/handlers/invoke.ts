/** Routes one attempt to the module of its handler kind. */
import type { HandlerResult } from "../contracts/dispatch";
import type { TriggerEvent } from "../contracts/events";
import { type ParsedHandler, parseHandlerUri } from "../contracts/handler-uri";
import { invokeA2a } from "./a2a";
import type { AttemptContext } from "./envelope";
import type { HandlerEnv } from "./handler-env";
import { type FetchLike, postEnvelope } from "./http-call";
import { invokePersona } from "./persona";
import { checkOutboundTarget } from "./ssrf";
import { enqueueWorkerJob } from "./worker-queue";

function isFetcher(value: unknown): value is Fetcher {
  return typeof value === "object" && value !== null && typeof (value as { fetch?: unknown }).fetch === "function";
}

/** Where an https:// or service:// target is posted: the fetch to use and the URL, or why not. */
export function httpTarget(
  env: Env,
  target: Extract<ParsedHandler, { kind: "https" | "service" }>,
): { ok: true; fetch: FetchLike; url: string } | { ok: false; error: string } {
  if (target.kind === "https") {
    const url = new URL(target.url);
    const check = checkOutboundTarget(url, env.ALLOW_PRIVATE_TARGETS === "true");
    if (!check.ok) return check;
    return { ok: true, fetch: (r) => fetch(r), url: url.toString() };
  }
  const binding: unknown = (env as unknown as Record<string, unknown>)[target.binding];
  if (!isFetcher(binding)) return { ok: false, error: `service binding '${target.binding}' is not configured` };
  return {
    ok: true,
    fetch: (r) => binding.fetch(r),
    url: `https://${target.binding.toLowerCase()}.service${target.path}`,
  };
}

export async function invokeHandler(h: HandlerEnv, ctx: AttemptContext, event: TriggerEvent): Promise<HandlerResult> {
  const parsed = parseHandlerUri(ctx.handler);
  if (!parsed.ok) return { kind: "invalid", error: parsed.message };
  const target = parsed.value;
  switch (target.kind) {
    case "https":
    case "service": {
      const http = httpTarget(h.env, target);
      if (!http.ok) return { kind: "invalid", error: http.error };
      return postEnvelope(http.fetch, http.url, ctx, event, h.now, h.signal);
    }
    case "a2a":
      return invokeA2a(h, ctx, event, target);
    case "worker":
      return enqueueWorkerJob(h, ctx, event, target);
    case "persona":
      return invokePersona(h, ctx, event, target);
  }
}
