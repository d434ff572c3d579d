/**
 * Predicate verdicts (SPEC 7): a CEL expression over the event, or a classifier's answer judged
 * against its per-evaluation ceilings. Pure: the classifier call itself lives in `classifier-call`.
 */
import { z } from "zod";
import { compileCel, evaluateCel } from "../lib/cel";

export interface PredicateVerdict {
  /** Whether the dispatch goes on. */
  result: boolean;
  reason: string | null;
  cost_usd: number;
  tokens: number;
  latency_ms: number;
  /** Reused from an earlier evaluation of the same event (replays), at no cost. */
  cached: boolean;
  /** A predicate failure (runtime error, non-bool, classifier error): counts toward the breaker. */
  failed: boolean;
  /** A per-evaluation ceiling the classifier broke (`predicate.invocation_budget_exceeded`). */
  overrun: { ceiling: "timeout_ms" | "max_cost_usd" | "max_tokens"; limit: number; actual: number | null } | null;
}

const base = { cost_usd: 0, tokens: 0, latency_ms: 0, cached: false, overrun: null };

/**
 * The verdict of a predicate stage that decided without evaluating (SPEC 7): the breaker is open
 * (`circuit_open`, false), or a `warn` budget let the dispatch through without calling the
 * classifier (true). Costs nothing and never counts toward the breaker.
 */
export function unevaluatedVerdict(result: boolean, reason: string): PredicateVerdict {
  return { ...base, result, failed: false, reason };
}

/** Evaluates a CEL predicate with `event` bound; anything but a bool is a predicate failure. */
export function evaluateCelPredicate(expression: string, event: unknown): PredicateVerdict {
  const compiled = compileCel(expression);
  if (!compiled.ok)
    return { ...base, result: false, failed: true, reason: `invalid CEL expression: ${compiled.error}` };
  const evaluated = evaluateCel(compiled.program, { event });
  if (!evaluated.ok) return { ...base, result: false, failed: true, reason: evaluated.error };
  if (typeof evaluated.value !== "boolean") {
    const shown = JSON.stringify(evaluated.value);
    const type = evaluated.value === null ? "null" : Array.isArray(evaluated.value) ? "list" : typeof evaluated.value;
    return {
      ...base,
      result: false,
      failed: true,
      reason: `predicate must return a bool, got ${type}: ${shown.length > 200 ? `${shown.slice(0, 200)}…` : shown}`,
    };
  }
  return {
    ...base,
    result: evaluated.value,
    failed: false,
    reason: evaluated.value ? null : "predicate returned false",
  };
}

/** What a classifier answers (SPEC 7). */
const OPTIONAL_ANSWER_FIELDS = ["reason", "cost_usd", "tokens"] as const;

/**
 * Classifiers written with pydantic or serde send absent optional fields as `null`, which means the
 * same as leaving them out; only those fields are read that way.
 */
function withoutNullOptionals(answer: unknown): unknown {
  if (typeof answer !== "object" || answer === null || Array.isArray(answer)) return answer;
  const copy: Record<string, unknown> = { ...answer };
  for (const field of OPTIONAL_ANSWER_FIELDS) if (copy[field] === null) delete copy[field];
  return copy;
}

export const classifierAnswerSchema = z.preprocess(
  withoutNullOptionals,
  z.object({
    pass: z.boolean(),
    reason: z.string().max(4096).optional(),
    cost_usd: z.number().min(0).optional(),
    tokens: z.number().int().min(0).optional(),
  }),
);
export type ClassifierAnswer = z.infer<typeof classifierAnswerSchema>;

/** Reads a classifier's JSON answer; a malformed one is refused with the field it breaks. */
export function parseClassifierAnswer(
  json: unknown,
): { ok: true; answer: ClassifierAnswer } | { ok: false; error: string } {
  const parsed = classifierAnswerSchema.safeParse(json);
  if (parsed.success) return { ok: true, answer: parsed.data };
  const issue = parsed.error.issues[0];
  const where = issue?.path.length ? issue.path.join(".") : "answer";
  return { ok: false, error: `invalid classifier answer: ${where}: ${issue?.message ?? "invalid"}` };
}

export type ClassifierCall =
  | { kind: "answer"; answer: ClassifierAnswer; latency_ms: number }
  | { kind: "timeout"; latency_ms: number }
  | { kind: "error"; error: string; latency_ms: number };

export interface ClassifierCeilings {
  timeout_ms: number;
  max_cost_usd?: number | undefined;
  max_tokens?: number | undefined;
}

/**
 * Judges one classifier call. Errors are predicate failures (result false). A broken ceiling makes
 * the result false unless the budget strategy is `warn`, where a timeout counts as a pass and an
 * answer over its cost or token ceiling keeps its own verdict.
 */
export function judgeClassifier(call: ClassifierCall, ceilings: ClassifierCeilings, warn: boolean): PredicateVerdict {
  const latency_ms = call.latency_ms;
  if (call.kind === "error") return { ...base, latency_ms, result: false, failed: true, reason: call.error };
  if (call.kind === "timeout") {
    const overrun = { ceiling: "timeout_ms" as const, limit: ceilings.timeout_ms, actual: null };
    const reason = `classifier timed out after ${ceilings.timeout_ms}ms`;
    return { ...base, latency_ms, overrun, result: warn, failed: !warn, reason };
  }
  const { answer } = call;
  const cost_usd = answer.cost_usd ?? 0;
  const tokens = answer.tokens ?? 0;
  const measured = { ...base, latency_ms, cost_usd, tokens, failed: false };
  if (ceilings.max_cost_usd !== undefined && cost_usd > ceilings.max_cost_usd) {
    const overrun = { ceiling: "max_cost_usd" as const, limit: ceilings.max_cost_usd, actual: cost_usd };
    const reason = `classifier cost ${cost_usd} exceeds max_cost_usd ${ceilings.max_cost_usd}`;
    return { ...measured, overrun, result: warn ? answer.pass : false, reason };
  }
  if (ceilings.max_tokens !== undefined && tokens > ceilings.max_tokens) {
    const overrun = { ceiling: "max_tokens" as const, limit: ceilings.max_tokens, actual: tokens };
    const reason = `classifier used ${tokens} tokens, above max_tokens ${ceilings.max_tokens}`;
    return { ...measured, overrun, result: warn ? answer.pass : false, reason };
  }
  return {
    ...measured,
    result: answer.pass,
    reason: answer.reason ?? (answer.pass ? null : "classifier returned false"),
  };
}

/** A verdict reused from the per-event cache: same result and reason, no cost, `cached: true`. */
export function cachedVerdict(cached: { pass: boolean; reason: string | null }): PredicateVerdict {
  return { ...base, result: cached.pass, reason: cached.reason, cached: true, failed: false };
}
