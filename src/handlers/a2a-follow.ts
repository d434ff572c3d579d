/**
 * The calls that follow an A2A task (SPEC 12.2): one `GetTask` poll, and a best-effort `CancelTask`.
 * Both go to the JSON-RPC URL the agent's card named when the task was sent, through the SSRF guard
 * and within a deadline; what the answers mean is decided in `a2a-task.ts`.
 */
import type { A2aFollow } from "../contracts/dispatch";
import { deadline as deadlineOf } from "../lib/deadline";
import { readRpcAnswer } from "./a2a-protocol";
import { buildTaskCall, type PollStep, readPollAnswer } from "./a2a-task";
import { traceparent } from "./envelope";
import { readBodyText } from "./http-response";
import { checkOutboundTarget } from "./ssrf";

export interface FollowDeps {
  fetch: (request: Request) => Promise<Response>;
  /** `ALLOW_PRIVATE_TARGETS` (SPEC 12.1). */
  allowPrivate: boolean;
}

/** Longest a single poll or cancel call may take, whatever the binding's handler timeout. */
const CALL_TIMEOUT_MS = 30_000;
const ANSWER_LIMIT = 1024 * 1024;

export function followDeps(env: Env): FollowDeps {
  return { fetch: (request) => fetch(request), allowPrivate: env.ALLOW_PRIVATE_TARGETS === "true" };
}

async function call(
  deps: FollowDeps,
  follow: A2aFollow,
  op: "get" | "cancel",
  traceId: string,
  timeoutMs: number,
): Promise<{ ok: true; status: number; bodyText: string } | { ok: false; error: string }> {
  let url: URL;
  try {
    url = new URL(follow.rpc_url);
  } catch {
    return { ok: false, error: `invalid JSON-RPC URL ${follow.rpc_url}` };
  }
  const check = checkOutboundTarget(url, deps.allowPrivate);
  if (!check.ok) return { ok: false, error: check.error };
  const request = buildTaskCall(follow, op, traceId);
  const limit = deadlineOf(Math.min(timeoutMs, CALL_TIMEOUT_MS));
  try {
    const response = await deps.fetch(
      new Request(url, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          accept: "application/json",
          "user-agent": "Switchyard/1",
          traceparent: await traceparent(traceId),
          ...request.headers,
        },
        body: JSON.stringify(request.body),
        redirect: "manual",
        signal: limit.signal,
      }),
    );
    return { ok: true, status: response.status, bodyText: await readBodyText(response, ANSWER_LIMIT) };
  } catch (error) {
    const reason = limit.signal.aborted ? "no answer in time" : error instanceof Error ? error.message : String(error);
    return { ok: false, error: `${request.body.method} to ${url.href} failed: ${reason}` };
  } finally {
    limit.clear();
  }
}

/** One `GetTask`: the task's state, its end, or why the agent could not be asked (keep polling). */
export async function pollTask(
  deps: FollowDeps,
  follow: A2aFollow,
  traceId: string,
  timeoutMs: number,
): Promise<PollStep> {
  const answer = await call(deps, follow, "get", traceId, timeoutMs);
  if (!answer.ok) return { kind: "unreachable", error: answer.error };
  return readPollAnswer(follow, answer.status, answer.bodyText);
}

/** `CancelTask`, best effort: the dispatch ends whatever the agent answers. */
export async function cancelTask(
  deps: FollowDeps,
  follow: A2aFollow,
  traceId: string,
  timeoutMs: number,
): Promise<{ ok: boolean; error: string | null }> {
  const answer = await call(deps, follow, "cancel", traceId, timeoutMs);
  if (!answer.ok) return { ok: false, error: answer.error };
  if (answer.status < 200 || answer.status > 299)
    return { ok: false, error: `CancelTask answered HTTP ${answer.status}` };
  const rpc = readRpcAnswer(answer.bodyText);
  return rpc.ok ? { ok: true, error: null } : { ok: false, error: `CancelTask ${rpc.error}` };
}
