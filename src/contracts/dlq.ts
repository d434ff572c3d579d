/** DLQ shapes shared by the API and the console: error classes (SPEC 11) and the list filter. */
import { z } from "zod";

export const errorClassSchema = z.enum([
  "budget_exhausted",
  "handler_timeout",
  "auth_failed",
  "provider_5xx",
  "predicate_panic",
  "handler_panic",
  "unknown",
]);
export type ErrorClass = z.infer<typeof errorClassSchema>;
export const ERROR_CLASSES: readonly ErrorClass[] = errorClassSchema.options;

/** Filters of `GET /v1/dlq` (and of bulk replay, which takes a subset of them). */
export const dlqFilterSchema = z.object({
  binding_id: z.string().max(128).optional(),
  binding_key: z.string().max(160).optional(),
  error_class: errorClassSchema.optional(),
  state: z.enum(["pending", "resolved"]).optional(),
  since: z.iso.datetime({ offset: true, error: "since must be an RFC 3339 timestamp" }).optional(),
});
