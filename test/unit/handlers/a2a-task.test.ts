/** SPEC 12.2 task following, pure: GetTask/CancelTask in both dialects, poll answers, backoff. */
import { describe, expect, it } from "vitest";
import {
  buildTaskCall,
  FOLLOW_FIRST_DELAY_MS,
  FOLLOW_MAX_DELAY_MS,
  nextFollowDelay,
  nextPollAt,
  readPollAnswer,
} from "../../../src/handlers/a2a-task";

const follow = (version: "1.0" | "0.3" = "1.0") => ({
  task_id: "task-1",
  rpc_url: "https://agents.example.com/rpc",
  version,
  target_agent: "triage",
});
const rpc = (result: unknown) => JSON.stringify({ jsonrpc: "2.0", id: "get.task-1", result });

describe("task calls", () => {
  it("1.0 speaks GetTask / CancelTask, 0.3 tasks/get / tasks/cancel, both with params {id}", () => {
    expect(buildTaskCall(follow("1.0"), "get", "trace_1")).toEqual({
      headers: { "A2A-Version": "1.0", "A2A-Trace-Id": "trace_1" },
      body: { jsonrpc: "2.0", id: "get.task-1", method: "GetTask", params: { id: "task-1" } },
    });
    expect(buildTaskCall(follow("1.0"), "cancel", "trace_1").body.method).toBe("CancelTask");
    expect(buildTaskCall(follow("0.3"), "get", "trace_1")).toMatchObject({
      headers: { "A2A-Version": "0.3" },
      body: { method: "tasks/get", params: { id: "task-1" } },
    });
    expect(buildTaskCall(follow("0.3"), "cancel", "trace_1").body.method).toBe("tasks/cancel");
  });
});

describe("poll answers", () => {
  const agent = (text: string) => ({ messageId: "m", role: "ROLE_AGENT", parts: [{ text }] });

  it("a completed task ends the dispatch with its artifacts' text", () => {
    const task = {
      id: "task-1",
      status: { state: "TASK_STATE_COMPLETED" },
      artifacts: [{ parts: [{ text: '{"a":1}' }] }],
    };
    expect(readPollAnswer(follow(), 200, rpc(task))).toEqual({
      kind: "ended",
      result: { kind: "success", result: { a: 1 }, status_code: 200 },
    });
  });

  it("failed, rejected and canceled end it; 0.3 tasks are read the same way", () => {
    const failed = { kind: "task", id: "task-1", status: { state: "failed", message: agent("no quota") } };
    expect(readPollAnswer(follow("0.3"), 200, rpc(failed))).toMatchObject({
      kind: "ended",
      result: { kind: "failed", error: "no quota" },
    });
    const canceled = { id: "task-1", status: { state: "TASK_STATE_CANCELED" } };
    expect(readPollAnswer(follow(), 200, rpc(canceled))).toMatchObject({
      kind: "ended",
      result: { kind: "cancelled" },
    });
  });

  it("a running task keeps being followed; input-required stops the polling", () => {
    const working = { id: "task-1", status: { state: "TASK_STATE_WORKING" } };
    expect(readPollAnswer(follow(), 200, rpc(working))).toMatchObject({
      kind: "running",
      state: "TASK_STATE_WORKING",
      follow: true,
      handle: { kind: "a2a_task_handle", task_id: "task-1", state: "TASK_STATE_WORKING" },
    });
    const input = { kind: "task", id: "task-1", status: { state: "input-required" } };
    expect(readPollAnswer(follow("0.3"), 200, rpc(input))).toMatchObject({ kind: "running", follow: false });
  });

  it("transport trouble, 5xx and JSON-RPC errors keep polling; an unknown task ends failed", () => {
    expect(readPollAnswer(follow(), 503, "")).toEqual({ kind: "unreachable", error: "GetTask returned HTTP 503" });
    expect(readPollAnswer(follow(), 200, "<html>")).toMatchObject({ kind: "unreachable" });
    const busy = JSON.stringify({ jsonrpc: "2.0", id: "x", error: { code: -32603, message: "busy" } });
    expect(readPollAnswer(follow(), 200, busy)).toEqual({ kind: "unreachable", error: "GetTask failed: busy" });
    const gone = JSON.stringify({ jsonrpc: "2.0", id: "x", error: { code: -32001, message: "Task not found" } });
    expect(readPollAnswer(follow(), 200, gone)).toEqual({
      kind: "ended",
      result: { kind: "failed", error: "A2A task task-1 is unknown to the agent: Task not found" },
    });
  });
});

describe("backoff", () => {
  it("1 s doubling to 60 s, never past the end of the window", () => {
    const delays = [FOLLOW_FIRST_DELAY_MS];
    while (delays.length < 9) delays.push(nextFollowDelay(delays.at(-1) ?? 0));
    expect(delays).toEqual([1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000, 60_000]);
    expect(FOLLOW_MAX_DELAY_MS).toBe(60_000);
    expect(nextPollAt(10_000, 4_000, 12_000)).toBe(12_000);
    expect(nextPollAt(10_000, 1_000, 12_000)).toBe(11_000);
  });
});
