/** `worker://` handler (SPEC 12). */
import type { HandlerResult } from "../contracts/dispatch";
import type { TriggerEvent } from "../contracts/events";
import type { ParsedHandler } from "../contracts/handler-uri";
import type { AttemptContext } from "./envelope";
import type { HandlerEnv } from "./invoke";

export async function enqueueWorkerJob(
  _h: HandlerEnv,
  _ctx: AttemptContext,
  _event: TriggerEvent,
  target: Extract<ParsedHandler, { kind: "worker" }>,
): Promise<HandlerResult> {
  return { kind: "invalid", error: `handler kind '${target.kind}' is not available in this deployment` };
}
