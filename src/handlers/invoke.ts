/** Routes one attempt to the module of its handler kind. */
import type { HandlerResult } from "../contracts/dispatch";
import type { TriggerEvent } from "../contracts/events";
import { parseHandlerUri } from "../contracts/handler-uri";
import { invokeA2a } from "./a2a";
import type { AttemptContext } from "./envelope";
import { postEnvelope } from "./http-call";
import { invokePersona } from "./persona";
import { checkOutboundTarget } from "./ssrf";
import { enqueueWorkerJob } from "./worker-queue";

export interface HandlerEnv {
  env: Env;
  now: () => number;
  signal?: AbortSignal;
}

function isFetcher(value: unknown): value is Fetcher {
  return typeof value === "object" && value !== null && typeof (value as { fetch?: unknown }).fetch === "function";
}

export async function invokeHandler(h: HandlerEnv, ctx: AttemptContext, event: TriggerEvent): Promise<HandlerResult> {
  const parsed = parseHandlerUri(ctx.handler);
  if (!parsed.ok) return { kind: "invalid", error: parsed.message };
  const target = parsed.value;
  switch (target.kind) {
    case "https": {
      const url = new URL(target.url);
      const check = checkOutboundTarget(url, h.env.ALLOW_PRIVATE_TARGETS === "true");
      if (!check.ok) return { kind: "invalid", error: check.error };
      return postEnvelope((r) => fetch(r), url.toString(), ctx, event, h.now, h.signal);
    }
    case "service": {
      const binding: unknown = (h.env as unknown as Record<string, unknown>)[target.binding];
      if (!isFetcher(binding)) {
        return { kind: "invalid", error: `service binding '${target.binding}' is not configured` };
      }
      const url = `https://${target.binding.toLowerCase()}.service${target.path}`;
      return postEnvelope((r) => binding.fetch(r), url, ctx, event, h.now, h.signal);
    }
    case "a2a":
      return invokeA2a(h, ctx, event, target);
    case "worker":
      return enqueueWorkerJob(h, ctx, event, target);
    case "persona":
      return invokePersona(h, ctx, event, target);
  }
}
