/**
 * The classifier call protocol (SPEC 7): POST `{type: "switchyard.classify", event, …}` to the
 * classifier's https:// or service:// URI, signed like a dispatch, within `timeout_ms`; the answer is
 * `{pass, reason?, cost_usd?, tokens?}`.
 */
import type { TriggerEvent } from "../contracts/events";
import { parseHandlerUri } from "../contracts/handler-uri";
import { signedCallHeaders, webhookSignatures } from "../handlers/envelope";
import { readBodyText } from "../handlers/http-response";
import { httpTarget } from "../handlers/invoke";
import { deadline as deadlineOf } from "../lib/deadline";
import { type ClassifierCall, parseClassifierAnswer } from "./verdict";

export interface ClassifyRequest {
  classifier: string;
  dispatch_id: string;
  binding_id: string;
  binding_key: string;
  trace_id: string;
  signing_secret: string;
  previous_signing_secret?: string | null;
  timeout_ms: number;
  max_cost_usd?: number | undefined;
  max_tokens?: number | undefined;
  event: TriggerEvent;
}

export async function callClassifier(env: Env, req: ClassifyRequest, now: () => number): Promise<ClassifierCall> {
  const started = now();
  const elapsed = () => Math.max(0, now() - started);
  const parsed = parseHandlerUri(req.classifier);
  if (!parsed.ok) return { kind: "error", error: parsed.message, latency_ms: 0 };
  if (parsed.value.kind !== "https" && parsed.value.kind !== "service") {
    return { kind: "error", error: `classifier must be an https:// or service:// URI`, latency_ms: 0 };
  }
  const target = httpTarget(env, parsed.value);
  if (!target.ok) return { kind: "error", error: target.error, latency_ms: 0 };
  const body = JSON.stringify({
    type: "switchyard.classify",
    event: req.event,
    trigger_id: req.binding_id,
    binding_key: req.binding_key,
    max_cost_usd: req.max_cost_usd ?? null,
    max_tokens: req.max_tokens ?? null,
  });
  const id = `classify/${req.dispatch_id.replaceAll("|", "/")}`;
  const ts = Math.floor(started / 1000);
  const headers = new Headers(await signedCallHeaders(req.trace_id, id, ts));
  if (req.signing_secret) headers.set("webhook-signature", await webhookSignatures(req, id, ts, body));
  const limit = deadlineOf(req.timeout_ms);
  const deadline = limit.signal;
  try {
    const response = await target.fetch(
      new Request(target.url, { method: "POST", headers, body, redirect: "manual", signal: deadline }),
    );
    const text = await readBodyText(response);
    if (response.status < 200 || response.status > 299) {
      return { kind: "error", error: `classifier answered HTTP ${response.status}`, latency_ms: elapsed() };
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      return { kind: "error", error: "classifier answer is not JSON", latency_ms: elapsed() };
    }
    const answer = parseClassifierAnswer(json);
    if (!answer.ok) return { kind: "error", error: answer.error, latency_ms: elapsed() };
    return { kind: "answer", answer: answer.answer, latency_ms: elapsed() };
  } catch (error) {
    if (deadline.aborted) return { kind: "timeout", latency_ms: elapsed() };
    const message = error instanceof Error ? error.message : String(error);
    return { kind: "error", error: `classifier network error: ${message}`, latency_ms: elapsed() };
  } finally {
    limit.clear();
  }
}
