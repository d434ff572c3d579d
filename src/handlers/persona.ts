/**
 * `persona://name` handler (SPEC 12.4): one Workers RPC call to the persona service bound as `PERSONA`
 * (a `WorkerEntrypoint` with an `invoke(request)` method). The returned receipt is the dispatch result;
 * a thrown error is retryable; a missing binding is an invalid target.
 */
import type { HandlerResult } from "../contracts/dispatch";
import type { TriggerEvent } from "../contracts/events";
import type { ParsedHandler } from "../contracts/handler-uri";
import { type AttemptContext, webhookId } from "./envelope";
import type { HandlerEnv } from "./handler-env";
import { personaMetadata } from "./persona-metadata";

/** Name of the service binding every `persona://` target is delivered through. */
export const PERSONA_BINDING = "PERSONA";

/** What `invoke` receives. Plain data, so it crosses the RPC boundary by structured clone. */
export interface PersonaRequest {
  type: "switchyard.persona";
  persona: string;
  kind: string;
  provider: string;
  /** Flattened event metadata (see `personaMetadata`). */
  metadata: Record<string, string>;
  /** True when payload fields were left out of `metadata` by its size limits. */
  metadata_truncated: boolean;
  event_id: string;
  trace_id: string;
  trigger_id: string;
  binding_key: string;
  binding_version: number;
  attempt: number;
  replay_of_event_id: string | null;
  autonomy_tier: string;
  /** `<binding_key>/<event_id>`, stable across attempts (same as `webhook-id`): dedupe on it. */
  idempotency_key: string;
  /** Epoch ms after which Switchyard stops waiting and counts the attempt as timed out. */
  deadline_ms: number;
  /** The full event, for personas that need more than the flattened scalars. */
  event: TriggerEvent;
}

/** The RPC surface Switchyard needs from a persona service. */
export interface PersonaService {
  invoke(request: PersonaRequest): Promise<unknown>;
}

export function personaRequest(ctx: AttemptContext, event: TriggerEvent, persona: string, now: number): PersonaRequest {
  const { metadata, truncated } = personaMetadata(event);
  return {
    type: "switchyard.persona",
    persona,
    kind: event.kind,
    provider: event.provider,
    metadata,
    metadata_truncated: truncated,
    event_id: ctx.event_id,
    trace_id: ctx.trace_id,
    trigger_id: ctx.binding_id,
    binding_key: ctx.binding_key,
    binding_version: ctx.binding_version,
    attempt: ctx.attempt,
    replay_of_event_id: ctx.replay_of_event_id,
    autonomy_tier: ctx.autonomy_tier,
    idempotency_key: webhookId(ctx),
    deadline_ms: now + ctx.timeout_ms,
    event,
  };
}

// A service binding is an RPC stub: every property reads as a callable, so this only rules out a
// missing or non-object binding (a var or secret of that name). A service without `invoke` throws on
// the call, which is retried like any other persona failure.
function asPersonaService(value: unknown): PersonaService | null {
  if ((typeof value !== "object" && typeof value !== "function") || value === null) return null;
  const invoke: unknown = (value as { invoke?: unknown }).invoke;
  return typeof invoke === "function" ? (value as PersonaService) : null;
}

type Race = { kind: "returned"; value: unknown } | { kind: "threw"; error: unknown } | { kind: "timeout" | "aborted" };

export async function invokePersona(
  h: HandlerEnv,
  ctx: AttemptContext,
  event: TriggerEvent,
  target: Extract<ParsedHandler, { kind: "persona" }>,
): Promise<HandlerResult> {
  const service = asPersonaService((h.env as unknown as Record<string, unknown>)[PERSONA_BINDING]);
  if (!service) {
    return { kind: "invalid", error: `persona service binding '${PERSONA_BINDING}' is not configured` };
  }
  if (h.signal?.aborted) return aborted();
  const request = personaRequest(ctx, event, target.name, h.now());

  // Workers RPC calls cannot be aborted: on timeout or cancel the call is abandoned, not stopped, and
  // its late answer is dropped. Personas dedupe retried work on `idempotency_key`.
  let timer: ReturnType<typeof setTimeout> | undefined;
  let onAbort: (() => void) | undefined;
  const outcome = await Promise.race<Race>([
    Promise.resolve()
      .then(() => service.invoke(request))
      .then(
        (value): Race => ({ kind: "returned", value }),
        (error: unknown): Race => ({ kind: "threw", error }),
      ),
    new Promise<Race>((resolve) => {
      timer = setTimeout(() => resolve({ kind: "timeout" }), ctx.timeout_ms);
    }),
    new Promise<Race>((resolve) => {
      if (!h.signal) return;
      onAbort = () => resolve({ kind: "aborted" });
      h.signal.addEventListener("abort", onAbort, { once: true });
    }),
  ]).finally(() => {
    if (timer !== undefined) clearTimeout(timer);
    if (onAbort) h.signal?.removeEventListener("abort", onAbort);
  });

  switch (outcome.kind) {
    case "timeout":
      return {
        kind: "retryable",
        error: `handler timed out after ${ctx.timeout_ms}ms`,
        cause: { kind: "timeout" },
        retry_after_ms: null,
      };
    case "aborted":
      return aborted();
    case "threw":
      return {
        kind: "retryable",
        error: `persona '${target.name}' failed: ${errorText(outcome.error)}`,
        cause: { kind: "other" },
        retry_after_ms: null,
      };
    case "returned": {
      const receipt = plainJson(outcome.value);
      if (!receipt.ok) {
        return {
          kind: "retryable",
          error: `persona '${target.name}' returned a receipt that is not JSON: ${receipt.error}`,
          cause: { kind: "protocol" },
          retry_after_ms: null,
        };
      }
      return { kind: "success", result: receipt.value };
    }
  }
}

function aborted(): HandlerResult {
  return { kind: "retryable", error: "handler call aborted", cause: { kind: "other" }, retry_after_ms: null };
}

function errorText(error: unknown): string {
  if (error instanceof Error) return error.message || error.name;
  if (typeof error === "string") return error;
  try {
    return JSON.stringify(error) ?? String(error);
  } catch {
    return String(error);
  }
}

/**
 * The receipt as plain JSON (what the dispatch stores and the API returns): Dates become ISO strings,
 * `undefined` becomes null. Values JSON cannot hold (BigInt, cycles) are a protocol error.
 */
function plainJson(value: unknown): { ok: true; value: unknown } | { ok: false; error: string } {
  if (value === undefined) return { ok: true, value: null };
  try {
    const text = JSON.stringify(value);
    return { ok: true, value: text === undefined ? null : JSON.parse(text) };
  } catch (error) {
    return { ok: false, error: errorText(error) };
  }
}
