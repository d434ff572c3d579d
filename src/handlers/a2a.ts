/**
 * `a2a://host[:port]/agent` handler (SPEC 12.2): discover the agent card, pick its JSON-RPC interface
 * and send the dispatch envelope as one `SendMessage` (A2A 1.0) or `message/send` (A2A 0.3) call.
 * The rules live in `a2a-card.ts` and `a2a-protocol.ts`; this module only does the fetching, under
 * one deadline (`timeout_ms` covers discovery and the call) and the caller's abort signal.
 *
 * Outcomes: policy refusals (SSRF guard, a card pointing at a cleartext interface without
 * `allow_cleartext`, an interface on another authority) are `invalid` — not retryable (SPEC 11
 * "invalid handler target"); everything that can heal by itself (network, timeouts, HTTP statuses,
 * unusable cards, JSON-RPC errors) is retryable. An agent that only speaks http looks, over https,
 * like a transport failure that cannot be told from an outage without opening the cleartext
 * connection the binding forbids; it stays a retryable discovery error whose text names
 * `allow_cleartext`.
 */
import type { HandlerResult } from "../contracts/dispatch";
import type { TriggerEvent } from "../contracts/events";
import type { ParsedHandler } from "../contracts/handler-uri";
import { deadline as deadlineOf } from "../lib/deadline";
import {
  type A2aTarget,
  agentCardUrls,
  discoverySchemes,
  type ParsedAgentCard,
  parseAgentCard,
  selectJsonRpcInterface,
  targetAgentLabel,
} from "./a2a-card";
import { buildSendMessageRequest, mapSendMessageAnswer } from "./a2a-protocol";
import { type AttemptContext, traceparent } from "./envelope";
import type { HandlerEnv } from "./handler-env";
import { interruptedResult } from "./http-call";
import { readBodyText } from "./http-response";
import { checkOutboundTarget } from "./ssrf";

/** What one A2A attempt needs from the outside world; injected so tests can stand in for the network. */
export interface A2aDeps {
  fetch: (request: Request) => Promise<Response>;
  now: () => number;
  /** `ALLOW_PRIVATE_TARGETS` (SPEC 12.1): loopback/private agents are refused unless set. */
  allowPrivate: boolean;
}

const USER_AGENT = "Switchyard/1";
const CARD_BODY_LIMIT = 256 * 1024;
const RPC_BODY_LIMIT = 1024 * 1024;

export async function invokeA2a(
  h: HandlerEnv,
  ctx: AttemptContext,
  event: TriggerEvent,
  target: Extract<ParsedHandler, { kind: "a2a" }>,
): Promise<HandlerResult> {
  const deps: A2aDeps = {
    fetch: (request) => fetch(request),
    now: h.now,
    allowPrivate: h.env.ALLOW_PRIVATE_TARGETS === "true",
  };
  return runA2aAttempt(deps, ctx, event, target, h.signal);
}

const errorText = (error: unknown) => (error instanceof Error ? error.message : String(error));

/** One attempt: discovery, interface selection, the JSON-RPC call and its mapping. */
export async function runA2aAttempt(
  deps: A2aDeps,
  ctx: AttemptContext,
  event: TriggerEvent,
  target: A2aTarget,
  signal?: AbortSignal,
): Promise<HandlerResult> {
  const limit = deadlineOf(ctx.timeout_ms);
  const deadline = limit.signal;
  const combined = signal ? AbortSignal.any([deadline, signal]) : deadline;
  const interrupted = (): HandlerResult | null => interruptedResult(deadline, ctx.timeout_ms, signal);

  try {
    const discovered = await discoverAgentCard(deps, target, ctx.allow_cleartext, combined, ctx.timeout_ms);
    if (!discovered.ok) return interrupted() ?? discovered.result;

    const selection = selectJsonRpcInterface(discovered.card, discovered.cardUrl, target, ctx.allow_cleartext);
    if (!selection.ok) {
      return selection.reason === "policy"
        ? { kind: "invalid", error: selection.error }
        : { kind: "retryable", error: selection.error, cause: { kind: "protocol" }, retry_after_ms: null };
    }
    const rpcUrl = selection.selected.url;
    const check = checkOutboundTarget(rpcUrl, deps.allowPrivate);
    if (!check.ok) return { kind: "invalid", error: check.error };

    const request = buildSendMessageRequest(selection.selected.version, ctx, event);
    const headers = new Headers({
      "content-type": "application/json",
      accept: "application/json",
      "user-agent": USER_AGENT,
      traceparent: await traceparent(ctx.trace_id),
      ...request.headers,
    });
    let status: number;
    let responseHeaders: Headers;
    let bodyText: string;
    try {
      const response = await deps.fetch(
        new Request(rpcUrl, {
          method: "POST",
          headers,
          body: JSON.stringify(request.body),
          redirect: "manual",
          signal: combined,
        }),
      );
      status = response.status;
      responseHeaders = response.headers;
      bodyText = await readBodyText(response, RPC_BODY_LIMIT);
    } catch (error) {
      return (
        interrupted() ?? {
          kind: "retryable",
          error: `A2A task dispatch to ${rpcUrl.href} failed: network error: ${errorText(error)}`,
          cause: { kind: "network" },
          retry_after_ms: null,
        }
      );
    }
    return mapSendMessageAnswer({
      status,
      headers: responseHeaders,
      bodyText,
      now: deps.now(),
      target_agent: targetAgentLabel(target),
      rpc_url: rpcUrl.href,
      version: selection.selected.version,
    });
  } catch (error) {
    // Only reachable through a bug or an abort surfacing outside a fetch; keep it a retryable attempt.
    return (
      interrupted() ?? {
        kind: "retryable",
        error: `A2A handler error: ${errorText(error)}`,
        cause: { kind: "handler_panic" },
        retry_after_ms: null,
      }
    );
  } finally {
    limit.clear();
  }
}

type Discovery = { ok: true; card: ParsedAgentCard; cardUrl: URL } | { ok: false; result: HandlerResult };

/**
 * Fetches the agent card: per scheme (https, then http when allowed) the current well-known path and
 * then the legacy one. A scheme that answered over HTTP at all is the agent's scheme, so a 404 over
 * https never downgrades to http; only a transport failure (refused, TLS, no answer) moves on to http.
 * When an http fallback exists the https pass gets a quarter of the attempt's time, so an https port
 * that silently drops connections cannot use up the whole attempt.
 */
async function discoverAgentCard(
  deps: A2aDeps,
  target: A2aTarget,
  allowCleartext: boolean,
  signal: AbortSignal,
  timeoutMs: number,
): Promise<Discovery> {
  const failures: string[] = [];
  let lastStatus: number | null = null;
  const schemes = discoverySchemes(allowCleartext);
  for (const [index, scheme] of schemes.entries()) {
    const budgetMs = Math.max(1, Math.floor(timeoutMs / 4));
    const budgetLimit = index < schemes.length - 1 ? deadlineOf(budgetMs) : null;
    const budget = budgetLimit?.signal ?? null;
    const passSignal = budget ? AbortSignal.any([signal, budget]) : signal;
    let answered = false;
    for (const url of agentCardUrls(target, scheme)) {
      const check = checkOutboundTarget(url, deps.allowPrivate);
      if (!check.ok) return { ok: false, result: { kind: "invalid", error: check.error } };
      let response: Response;
      let text: string;
      try {
        response = await deps.fetch(
          new Request(url, {
            method: "GET",
            headers: { accept: "application/json", "A2A-Version": "1.0", "user-agent": USER_AGENT },
            redirect: "manual",
            signal: passSignal,
          }),
        );
        text = await readBodyText(response, CARD_BODY_LIMIT);
      } catch (error) {
        if (signal.aborted) throw error;
        failures.push(
          budget?.aborted
            ? `GET ${url.href}: no answer within ${budgetMs}ms`
            : `GET ${url.href}: network error: ${errorText(error)}`,
        );
        break;
      }
      answered = true;
      if (response.status >= 200 && response.status <= 299) {
        budgetLimit?.clear();
        return readCard(url, text);
      }
      failures.push(`GET ${url.href} returned HTTP ${response.status}`);
      lastStatus = response.status;
    }
    budgetLimit?.clear();
    if (answered) break;
  }
  const hint =
    !allowCleartext && lastStatus === null
      ? "; cleartext http is not tried because the binding does not set allow_cleartext: true"
      : "";
  return {
    ok: false,
    result: {
      kind: "retryable",
      error: `A2A agent card discovery failed for ${target.authority}: ${failures.join("; ")}${hint}`,
      cause: lastStatus === null ? { kind: "network" } : { kind: "http_status", status: lastStatus },
      retry_after_ms: null,
    },
  };
}

function readCard(url: URL, text: string): Discovery {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return { ok: false, result: cardProblem(`A2A agent card at ${url.href} is not valid JSON`) };
  }
  const parsed = parseAgentCard(raw);
  if (!parsed.ok)
    return { ok: false, result: cardProblem(`A2A agent card at ${url.href} is unusable: ${parsed.error}`) };
  return { ok: true, card: parsed.card, cardUrl: url };
}

const cardProblem = (error: string): HandlerResult => ({
  kind: "retryable",
  error,
  cause: { kind: "protocol" },
  retry_after_ms: null,
});
