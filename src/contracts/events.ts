/** Trigger events (SPEC 3): the normalised event, its signature status, and the publish input with its bounds. */
import { z } from "zod";
import { tenantIdRegex } from "./sources";
import { wellFormed } from "./unicode";

export const signatureStatusSchema = z.discriminatedUnion("state", [
  z.object({ state: z.literal("verified") }),
  z.object({ state: z.literal("unsigned") }),
  z.object({ state: z.literal("failed"), reason: z.string() }),
]);
export type SignatureStatus = z.infer<typeof signatureStatusSchema>;

/** SPEC 3: the event as stored and as handed to handlers. */
export const triggerEventSchema = z.object({
  id: z.string(),
  provider: z.string(),
  kind: z.string(),
  received_at: z.string(),
  occurred_at: z.string().nullable(),
  dedupe_key: z.string(),
  trace_id: z.string(),
  tenant_id: z.string().nullable(),
  headers: z.record(z.string(), z.string()),
  payload: z.unknown(),
  raw_body: z.string().optional(),
  signature_status: signatureStatusSchema,
  batch: z.array(z.unknown()).optional(),
});
export type TriggerEvent = z.infer<typeof triggerEventSchema>;

/**
 * Deepest object/array nesting accepted in an event payload. serde_json (the reference) stops at 128, and
 * deeper values would overflow recursive walkers (zod, structured clone) into a 500.
 */
export const MAX_PAYLOAD_DEPTH = 128;

/** True when `value` nests objects/arrays more than `max` levels deep. Iterative: safe at any depth. */
export function nestsDeeperThan(value: unknown, max: number): boolean {
  const stack: [unknown, number][] = [[value, 1]];
  for (let item = stack.pop(); item !== undefined; item = stack.pop()) {
    const [node, depth] = item;
    if (typeof node !== "object" || node === null) continue;
    if (depth > max) return true;
    for (const child of Object.values(node)) stack.push([child, depth + 1]);
  }
  return false;
}

const anyJson = z.json();

/**
 * Any JSON value, depth-checked before zod's recursive JSON schema walks it (no stack overflow).
 * The value is checked against `z.json()` but passed on as it arrived: zod rebuilds objects and
 * skips own `"__proto__"` keys (valid JSON), which would silently change the stored value.
 */
export function boundedJsonSchema(what: string): z.ZodType<z.core.util.JSONType> {
  return z.unknown().check((ctx) => {
    if (nestsDeeperThan(ctx.value, MAX_PAYLOAD_DEPTH)) {
      ctx.issues.push({
        code: "custom",
        message: `${what} nests deeper than ${MAX_PAYLOAD_DEPTH} levels`,
        input: ctx.value,
      });
    } else if (!anyJson.safeParse(ctx.value).success) {
      ctx.issues.push({ code: "custom", message: `${what} must be a JSON value`, input: ctx.value });
    }
  }) as z.ZodType<z.core.util.JSONType>;
}

const payloadSchema = boundedJsonSchema("payload");

const traceIdSchema = z.string().regex(/^[A-Za-z0-9._:-]{1,128}$/, "trace_id must be 1–128 of [A-Za-z0-9._:-]");

/**
 * Published headers. zod skips an own `"__proto__"` key when it builds a record, so that one name
 * would vanish from the stored event; it is refused instead.
 */
const headersSchema = z.record(z.string().max(256), z.string().max(8192)).and(
  z.unknown().check((ctx) => {
    if (typeof ctx.value === "object" && ctx.value !== null && Object.hasOwn(ctx.value, "__proto__")) {
      ctx.issues.push({ code: "custom", message: "header name '__proto__' is not allowed", input: ctx.value });
    }
  }),
);

/** One event of `POST /v1/events`. */
export const publishEventSchema = z.strictObject({
  provider: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,63}$/, "provider must match [a-z0-9][a-z0-9_-]{0,63}"),
  kind: wellFormed(z.string().min(1, "kind cannot be empty").max(256)),
  payload: payloadSchema,
  headers: headersSchema.optional(),
  dedupe_key: wellFormed(z.string().min(1).max(512)).optional(),
  tenant_id: z.string().regex(tenantIdRegex, "tenant_id must match [A-Za-z0-9_-]{1,64}").nullable().optional(),
  occurred_at: z.iso.datetime({ offset: true }).nullable().optional(),
  trace_id: traceIdSchema.optional(),
  target: z
    .strictObject({
      binding_id: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, "invalid binding id"),
      version: z.int().min(1).optional(),
    })
    .optional(),
});
export type PublishEvent = z.infer<typeof publishEventSchema>;

export const MAX_PUBLISH_BATCH = 100;

export const intakeAnswerSchema = z.object({
  status: z.enum(["accepted", "duplicate"]),
  event_id: z.string(),
  trace_id: z.string().optional(),
});
export type IntakeAnswer = z.infer<typeof intakeAnswerSchema>;
