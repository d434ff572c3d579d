/**
 * SPEC 12.2 in the BindingGate: an A2A task that `SendMessage` left `submitted` or `working` is
 * followed to its end. The dispatch rests `waiting` with the task handle as its result; an `a2a`
 * timer (a DO alarm, so polling survives eviction) asks the agent with `GetTask` after 1 s, then
 * doubling to 60 s, until the task ends or `a2a.follow_for` has passed since the `SendMessage`
 * answer, when the task is cancelled and the dispatch fails. Each state the agent reports shows in the
 * records (`a2a.task_state`) and on the attempt's `a2a_hop` node. A cancel request on a followed
 * dispatch also sends `CancelTask`.
 */
import { A2A_FOLLOW_FOR_DEFAULT_MS } from "../contracts/binding-spec";
import type { A2aFollow } from "../contracts/dispatch";
import type { DispatchDoc } from "../contracts/dispatch-doc";
import { formatMs } from "../contracts/duration";
import { cancelTask, type FollowDeps, pollTask } from "../handlers/a2a-follow";
import { FOLLOW_FIRST_DELAY_MS, nextFollowDelay, nextPollAt, type PollStep } from "../handlers/a2a-task";
import type { GateCore } from "./gate-core";

export class A2aFollowStage {
  constructor(
    private readonly gate: GateCore,
    private readonly deps: FollowDeps,
  ) {}

  private followForMs(): number {
    return this.gate.spec().a2a?.follow_for ?? A2A_FOLLOW_FOR_DEFAULT_MS;
  }

  /** An attempt left the task running (the dispatch is `waiting` now): poll it in a second. */
  begin(doc: DispatchDoc, attempt: number, follow: A2aFollow, state: string, answeredAt: number): void {
    const until = answeredAt + this.followForMs();
    this.gate.patch(
      doc,
      { a2a_follow: { ...follow, state, until, delay_ms: FOLLOW_FIRST_DELAY_MS, attempt } },
      answeredAt,
    );
    this.gate.setTimer(doc, "a2a", nextPollAt(answeredAt, FOLLOW_FIRST_DELAY_MS, until), attempt, answeredAt);
  }

  /** The `a2a` timer: give up past the window, else ask the agent and act on its answer. */
  async onTimer(doc: DispatchDoc, now: number): Promise<void> {
    const follow = doc.a2a_follow;
    if (!follow || doc.status !== "waiting") return;
    if (now >= follow.until) {
      this.cancelRemote(doc);
      const error = `A2A task ${follow.task_id} did not finish within ${formatMs(this.followForMs())}`;
      this.end(doc, { kind: "failed", error }, now);
      return;
    }
    const step = await pollTask(this.deps, follow, doc.trace_id, this.gate.spec().timeout_ms);
    // Cancelled, completed by an operator or otherwise moved on while the agent answered.
    if (this.gate.live.get(doc.dispatch_id) !== doc || this.gate.live.isFinal(doc.dispatch_id)) return;
    if (doc.status !== "waiting" || doc.a2a_follow?.task_id !== follow.task_id) return;
    this.apply(doc, step, Date.now());
  }

  private apply(doc: DispatchDoc, step: PollStep, now: number): void {
    const follow = doc.a2a_follow;
    if (!follow) return;
    if (step.kind === "ended") {
      this.end(doc, step.result, now);
      return;
    }
    if (step.kind === "running" && step.state !== follow.state) {
      this.gate.log(doc, {
        op: "a2a_task",
        at: now,
        attempt: follow.attempt,
        task_id: follow.task_id,
        state: step.state,
        result: step.handle,
      });
    }
    if (step.kind === "running" && !step.follow) {
      // `input-required` / `auth-required`: an operator finishes it (`POST …/complete`).
      this.gate.patch(doc, { a2a_follow: null, timer: null }, now);
      return;
    }
    if (step.kind === "unreachable") {
      console.warn(JSON.stringify({ msg: "A2A task poll failed", dispatch_id: doc.dispatch_id, error: step.error }));
    }
    const delay = nextFollowDelay(follow.delay_ms);
    const state = step.kind === "running" ? step.state : follow.state;
    this.gate.patch(doc, { a2a_follow: { ...follow, state, delay_ms: delay } }, now);
    this.gate.setTimer(doc, "a2a", nextPollAt(now, delay, follow.until), follow.attempt, now);
  }

  /** The task ended (or the window did): the dispatch ends with it. */
  private end(
    doc: DispatchDoc,
    result: { kind: "success"; result: unknown } | { kind: "failed" | "cancelled"; error: string },
    now: number,
  ): void {
    this.gate.patch(doc, { a2a_follow: null, held_reason: null, timer: null }, now);
    if (result.kind === "cancelled") {
      this.gate.steps.cancelNow(doc, result.error, now);
      return;
    }
    const status = result.kind === "success" ? "succeeded" : "failed";
    const error = result.kind === "success" ? null : result.error;
    this.gate.patch(doc, { status, terminal_at: now }, now);
    this.gate.log(doc, {
      op: "completed",
      at: now,
      status,
      attempt_count: doc.attempt,
      result: result.kind === "success" ? (result.result ?? null) : null,
      error,
      by: "a2a_task",
    });
    this.gate.steps.afterTerminal(doc, now, status, error);
  }

  /** A cancel request (or the end of the window) ends the dispatch: the agent is told too, best effort. */
  cancelRemote(doc: DispatchDoc): void {
    const follow = doc.a2a_follow;
    if (!follow) return;
    const cancelling = cancelTask(this.deps, follow, doc.trace_id, this.gate.spec().timeout_ms).then((answer) => {
      if (!answer.ok) {
        console.warn(
          JSON.stringify({ msg: "A2A CancelTask failed", dispatch_id: doc.dispatch_id, error: answer.error }),
        );
      }
    });
    this.gate.waitUntil(cancelling);
  }
}
