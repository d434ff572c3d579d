/**
 * Following an A2A task after `SendMessage` left it running (SPEC 12.2), pure: the `GetTask` and
 * `CancelTask` calls in each dialect (0.3: `tasks/get`, `tasks/cancel`), what an answer to them means,
 * and the polling backoff (1 s doubling to 60 s). The calls themselves are made by `a2a-follow.ts`.
 */
import type { A2aFollow, HandlerResult } from "../contracts/dispatch";
import type { A2aWireVersion } from "./a2a-card";
import { type A2aTaskHandle, readRpcAnswer, taskOutcome } from "./a2a-protocol";

export const FOLLOW_FIRST_DELAY_MS = 1_000;
export const FOLLOW_MAX_DELAY_MS = 60_000;

/** The wait after `delayMs` when the task is still running (or the agent did not answer). */
export function nextFollowDelay(delayMs: number): number {
  return Math.min(FOLLOW_MAX_DELAY_MS, Math.max(FOLLOW_FIRST_DELAY_MS, delayMs * 2));
}

/** When to poll next: after the backoff, but never past the end of the follow window. */
export function nextPollAt(now: number, delayMs: number, until: number): number {
  return Math.min(now + delayMs, until);
}

const METHODS: Record<A2aWireVersion, { get: string; cancel: string }> = {
  "1.0": { get: "GetTask", cancel: "CancelTask" },
  "0.3": { get: "tasks/get", cancel: "tasks/cancel" },
};

/** JSON-RPC error code of the SDKs' TaskNotFoundError: the agent no longer knows the task. */
const TASK_NOT_FOUND = -32001;

export interface TaskCall {
  headers: Record<string, string>;
  body: { jsonrpc: "2.0"; id: string; method: string; params: { id: string } };
}

/** A `GetTask` or `CancelTask` request for a followed task, in the dialect the agent speaks. */
export function buildTaskCall(follow: A2aFollow, op: "get" | "cancel", traceId: string): TaskCall {
  const method = METHODS[follow.version][op];
  return {
    headers: { "A2A-Version": follow.version, "A2A-Trace-Id": traceId },
    body: { jsonrpc: "2.0", id: `${op}.${follow.task_id}`, method, params: { id: follow.task_id } },
  };
}

/** What one poll learnt. */
export type PollStep =
  /** The task ended: the dispatch ends with this (success, failed or cancelled). */
  | { kind: "ended"; result: Extract<HandlerResult, { kind: "success" | "failed" | "cancelled" }> }
  /** Still running (`follow`) or waiting for an operator (`follow: false`); `handle` is the new result. */
  | { kind: "running"; state: string; handle: A2aTaskHandle; follow: boolean }
  /** No usable answer (transport, 5xx, JSON-RPC error): keep polling. */
  | { kind: "unreachable"; error: string };

/** Reads an answer to `GetTask` (SPEC 12.2); `status` and `bodyText` are the HTTP answer. */
export function readPollAnswer(follow: A2aFollow, status: number, bodyText: string): PollStep {
  if (status < 200 || status > 299) return { kind: "unreachable", error: `GetTask returned HTTP ${status}` };
  const answer = readRpcAnswer(bodyText);
  if (!answer.ok) {
    if (answer.code === TASK_NOT_FOUND) {
      return {
        kind: "ended",
        result: { kind: "failed", error: `A2A task ${follow.task_id} is unknown to the agent: ${answer.error}` },
      };
    }
    return { kind: "unreachable", error: `GetTask failed: ${answer.error}` };
  }
  // 1.0 answers the task itself, 0.3 a task with `kind: "task"`; a 1.0-style wrapper is read too.
  const result = answer.result as Record<string, unknown>;
  const payload = typeof result.task === "object" && result.task !== null ? result.task : result;
  const outcome = taskOutcome(payload, status, follow);
  switch (outcome.kind) {
    case "success":
    case "failed":
    case "cancelled":
      return { kind: "ended", result: outcome };
    case "waiting":
      return {
        kind: "running",
        state: (outcome.result as A2aTaskHandle).state,
        handle: outcome.result as A2aTaskHandle,
        follow: outcome.follow !== undefined,
      };
    default:
      return {
        kind: "unreachable",
        error: `GetTask answer unusable: ${outcome.error}`,
      };
  }
}
