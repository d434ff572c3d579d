/** The binding spec (SPEC 5): ids and keys of bindings, and the zod schema of every field a binding declares. */
import { z } from "zod";
import { compileCel } from "../lib/cel";
import { boundedDuration, durationSchema } from "./duration";
import { handlerUriSchema, parseHandlerUri } from "./handler-uri";
import { issuesToProblems, type Problem, problemErrorMap } from "./problems";
import { wellFormed } from "./unicode";

/** SPEC 12.2: a followed A2A task is given an hour unless the binding says otherwise. */
export const A2A_FOLLOW_FOR_DEFAULT_MS = 3_600_000;

// ---- identifiers (SPEC 2) ----

export const sourceNameSchema = z
  .string()
  .regex(/^[a-z0-9][a-z0-9_-]{0,63}$/, { error: "must match [a-z0-9][a-z0-9_-]{0,63}" });

export const bindingIdSchema = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, { error: "must match [A-Za-z0-9][A-Za-z0-9._-]{0,127}" });

export const tenantIdSchema = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, { error: "must match [A-Za-z0-9_-]{1,64}" });

/** Splits `<id>@v<version>` on the last "@v"; null unless the id is valid and the version an integer ≥ 1. */
export function parseBindingKey(key: string): { id: string; version: number } | null {
  const at = key.lastIndexOf("@v");
  if (at === -1) return null;
  const id = key.slice(0, at);
  const digits = key.slice(at + 2);
  if (!/^[1-9]\d*$/.test(digits) || !bindingIdSchema.safeParse(id).success) return null;
  const version = Number(digits);
  return Number.isSafeInteger(version) ? { id, version } : null;
}

export function formatBindingKey(id: string, version: number): string {
  return `${id}@v${version}`;
}

// ---- spec parts (SPEC 5.1) ----

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

const MAX_ATTEMPTS_DEFAULT = 7;
const MAX_ATTEMPTS_LIMIT = 100;

const nonNegativeInt = z.number().int().min(0);
const positiveInt = z.number().int().min(1);
const nonNegativeUsd = z.number().min(0);
const positiveDuration = boundedDuration({ min: 1 });

/** Debounce bursts (SPEC 9.2): events a burst may collect, by default and at most. */
export const DEBOUNCE_MAX_EVENTS_DEFAULT = 100;
const DEBOUNCE_MAX_EVENTS_LIMIT = 1_000;
/** A burst's default `max_wait`, in periods. */
export const DEBOUNCE_MAX_WAIT_PERIODS = 10;
/** Ordering (SPEC 9.7): how long a dispatch waits for earlier events still being routed. */
export const ORDERING_REORDER_WINDOW_DEFAULT_MS = 5_000;
/** A CEL expression (predicate or flow-control key); compile errors are reported with their position. */
const celExpression = z
  .string()
  .max(8192, { error: "expression must be at most 8192 characters" })
  .refine((s) => s.trim() !== "", { error: "expression cannot be empty" })
  .superRefine((source, ctx) => {
    if (source.trim() === "") return;
    const compiled = compileCel(source);
    if (compiled.ok) return;
    const at = compiled.position ? ` (line ${compiled.position.line}, column ${compiled.position.column})` : "";
    ctx.addIssue({ code: "custom", message: `invalid CEL expression${at}: ${compiled.error}` });
  });

const whenClassifierSchema = z.strictObject({
  classifier: handlerUriSchema.refine((uri) => !parseHandlerUri(uri).ok || /^(https?|service):\/\//i.test(uri), {
    error: "classifier must be an https:// or service:// URI",
  }),
  timeout_ms: boundedDuration({ min: 1, max: 900_000 }).optional(),
  max_cost_usd: nonNegativeUsd.optional(),
  max_tokens: nonNegativeInt.optional(),
});

const retryPolicySchema = z.union(
  [
    z.literal("svix"),
    z.strictObject({ linear: z.strictObject({ delay_ms: durationSchema }) }),
    z.strictObject({
      exponential: z
        .strictObject({ base_ms: durationSchema, cap_ms: durationSchema })
        .refine((e) => e.cap_ms >= e.base_ms, { error: "cap_ms must be at least base_ms", path: ["cap_ms"] }),
    }),
  ],
  { error: 'expected "svix", {"linear": {"delay_ms"}} or {"exponential": {"base_ms", "cap_ms"}}' },
);

const retrySchema = z.strictObject({
  max_attempts: z
    .number()
    .int()
    .min(0)
    .max(MAX_ATTEMPTS_LIMIT)
    .default(MAX_ATTEMPTS_DEFAULT)
    // SPEC 11: 0 means the default, normalised so stored specs compare equal.
    .transform((n) => (n === 0 ? MAX_ATTEMPTS_DEFAULT : n)),
  policy: retryPolicySchema.default("svix"),
});

/** At most this many stacked windows in one `rate_limit` or `throttle` list. */
export const MAX_STACKED_LIMITS = 8;

/** One sliding window of `rate_limit` or `throttle` (SPEC 9.3, 9.4). */
const windowLimit = z.strictObject({ key: celExpression.optional(), period: positiveDuration, max: positiveInt });
export type WindowLimit = z.output<typeof windowLimit>;

/** One window, or a list of them (e.g. per user and per project): admitted only when every one has room. */
const windowLimits = z.union([
  windowLimit,
  z
    .array(windowLimit)
    .min(1, { error: "a list of limits cannot be empty" })
    .max(MAX_STACKED_LIMITS, { error: `at most ${MAX_STACKED_LIMITS} stacked limits` }),
]);

/** The flow-control primitives in the order a dispatch passes them (SPEC 9). */
export const FLOW_PRIMITIVE_NAMES = [
  "batch",
  "debounce",
  "rate_limit",
  "throttle",
  "ordering",
  "singleton",
  "concurrency",
] as const;
/** The fields of `flow_control`: the primitives, and `priority`, which ranks concurrency waiters. */
const FLOW_CONTROL_FIELDS = [...FLOW_PRIMITIVE_NAMES, "priority"] as const;

const flowControlSchema = z
  .strictObject({
    batch: z.strictObject({ key: celExpression.optional(), size: positiveInt, timeout: positiveDuration }).optional(),
    debounce: z
      .strictObject({
        key: celExpression,
        period: positiveDuration,
        /** `all`: the surviving dispatch carries every event of the burst as `event.batch`. */
        deliver: z.enum(["last", "all"]).optional(),
        /** A burst ends at once after this many events (default 100). */
        max_events: z.number().int().min(1).max(DEBOUNCE_MAX_EVENTS_LIMIT).optional(),
        /** A burst ends at once this long after its first event (default 10 × period). */
        max_wait: positiveDuration.optional(),
      })
      .optional(),
    rate_limit: windowLimits.optional(),
    throttle: windowLimits.optional(),
    ordering: z
      .strictObject({
        key: celExpression,
        /** How long a dispatch waits for earlier events still being routed (default 5 s). */
        reorder_window: positiveDuration.optional(),
        /** `block`: a key holds behind a predecessor that ended `dlq` or `failed` until it is resolved. */
        on_failure: z.enum(["continue", "block"]).optional(),
      })
      .optional(),
    singleton: z.strictObject({ key: celExpression.optional() }).optional(),
    concurrency: z.strictObject({ key: celExpression.optional(), max: positiveInt }).optional(),
    priority: z
      .strictObject({
        key: celExpression,
        order: z.array(wellFormed(z.string())).min(1, { error: "order cannot be empty" }),
      })
      .optional(),
  })
  .superRefine(
    (fc, ctx) => {
      const present = FLOW_CONTROL_FIELDS.filter((p) => fc[p] !== undefined);
      if (present.includes("batch") && present.length > 1) {
        ctx.addIssue({
          code: "custom",
          message: "batch cannot be combined with other flow-control primitives",
          path: ["batch"],
          continue: true,
        });
      }
      if (present.includes("priority") && !present.includes("concurrency")) {
        ctx.addIssue({ code: "custom", message: "priority requires concurrency", path: ["priority"], continue: true });
      }
    },
    // Also run when a primitive itself is invalid, so every problem is listed at once.
    { when: (payload) => isPlainObject(payload.value) },
  );

const circuitSchema = z.strictObject({
  threshold: positiveInt.default(5),
  cooldown_ms: positiveDuration.default(60_000),
  mode: z.enum(["dlq", "hold"]).default("dlq"),
});

const budgetSchema = z.strictObject({
  hourly_cost_usd: nonNegativeUsd.optional(),
  daily_cost_usd: nonNegativeUsd.optional(),
  on_exhausted: z.enum(["skip", "warn", "fail", "retry_later"]).default("skip"),
});

const autonomySchema = z.strictObject({
  tier: z.enum(["shadow", "suggest", "act_with_approval", "act_auto"]).default("act_auto"),
  max_decisions_per_hour: nonNegativeInt.optional(),
  max_decisions_per_day: nonNegativeInt.optional(),
});

export const bindingSpecSchema = z.strictObject({
  provider: sourceNameSchema,
  events: z
    .array(
      wellFormed(
        z
          .string()
          .min(1, { error: "event kind cannot be empty" })
          .max(256, { error: "event kind must be at most 256 characters" }),
      ),
    )
    .default([]),
  when: z
    .union([celExpression, whenClassifierSchema], {
      error: "expected a CEL expression string or {classifier, timeout_ms?, max_cost_usd?, max_tokens?}",
    })
    .optional(),
  handler: handlerUriSchema,
  allow_cleartext: z.boolean().default(false),
  /** `a2a://` handlers: how long a task left running is followed before it is cancelled (SPEC 12.2). */
  a2a: z
    .strictObject({
      follow_for: boundedDuration({ min: 1_000, max: 7 * 86_400_000 }).default(A2A_FOLLOW_FOR_DEFAULT_MS),
    })
    .optional(),
  timeout_ms: boundedDuration({ min: 1, max: 900_000 }).default(30_000),
  retry: retrySchema.default({ max_attempts: MAX_ATTEMPTS_DEFAULT, policy: "svix" }),
  flow_control: flowControlSchema.optional(),
  circuit: circuitSchema.optional(),
  budget: budgetSchema.optional(),
  autonomy: autonomySchema.optional(),
  dispatch_priority: z.enum(["high", "normal", "low"]).default("normal"),
  tenant_id: tenantIdSchema.nullable().default(null),
});

export type BindingSpecInput = z.input<typeof bindingSpecSchema>;
export type BindingSpec = z.output<typeof bindingSpecSchema>;
export type FlowControlSpec = NonNullable<BindingSpec["flow_control"]>;
export type CircuitSpec = NonNullable<BindingSpec["circuit"]>;
export type BudgetSpec = NonNullable<BindingSpec["budget"]>;
export type AutonomySpec = NonNullable<BindingSpec["autonomy"]>;
export type RetrySpec = BindingSpec["retry"];

// ---- validation with every problem listed ----

export type SpecProblem = Problem;

export type BindingSpecValidation = { ok: true; spec: BindingSpec } | { ok: false; problems: SpecProblem[] };

/** Validates a binding spec and returns every problem at once (SPEC 5.1: 400 with all problems listed). */
export function validateBindingSpec(input: unknown): BindingSpecValidation {
  const result = bindingSpecSchema.safeParse(input, { error: problemErrorMap, reportInput: true });
  if (result.success) return { ok: true, spec: result.data };
  return { ok: false, problems: issuesToProblems(result.error.issues) };
}
