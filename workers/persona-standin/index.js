// @ts-check
// Persona stand-in: a local persona service for development and tests, bound to Switchyard as PERSONA.
// Switchyard calls `invoke(request)` over Workers RPC for every `persona://name` attempt (SPEC 12.4).
// A real persona service implements the same method; this one only acknowledges the request.
//
// Scripted personas:
//   failing  always throws (retries, DLQ)
//   flaky    throws on attempt 1, accepts from attempt 2
//   slow     waits `metadata.delay_ms` (payload field `delay_ms`, default 5000, max 60000) before accepting
//   anything else accepts at once
import { WorkerEntrypoint } from "cloudflare:workers";

/**
 * @typedef {{
 *   persona: string, kind: string, provider: string, metadata: Record<string, string>,
 *   metadata_truncated: boolean, event_id: string, trace_id: string, trigger_id: string,
 *   binding_key: string, binding_version: number, attempt: number, replay_of_event_id: string | null,
 *   autonomy_tier: string, idempotency_key: string, deadline_ms: number
 * }} PersonaRequest
 */

export default class PersonaStandin extends WorkerEntrypoint {
  /**
   * @param {PersonaRequest} request
   * @returns {Promise<Record<string, unknown>>}
   */
  async invoke(request) {
    const { persona, attempt } = request;
    if (persona === "failing") throw new Error(`persona '${persona}' is scripted to fail (attempt ${attempt})`);
    if (persona === "flaky" && attempt < 2) throw new Error(`persona '${persona}' fails its first attempt`);
    if (persona === "slow") {
      const delay = Math.min(Number(request.metadata.delay_ms ?? 5000) || 0, 60_000);
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
    return {
      persona,
      accepted: true,
      receipt_id: `rcpt_${crypto.randomUUID()}`,
      received_at: new Date().toISOString(),
      kind: request.kind,
      provider: request.provider,
      attempt,
      trace_id: request.trace_id,
      binding_key: request.binding_key,
      replay_of_event_id: request.replay_of_event_id,
      autonomy_tier: request.autonomy_tier,
      idempotency_key: request.idempotency_key,
      metadata_keys: Object.keys(request.metadata).sort(),
      metadata: request.metadata,
    };
  }

  /** Not a persona endpoint: says what this Worker is when fetched directly. */
  async fetch() {
    return Response.json({ service: "switchyard-persona-standin", rpc: "invoke(request)" }, { status: 404 });
  }
}
