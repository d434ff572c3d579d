import { z } from "zod";
import { triggerEventSchema } from "./events";

/**
 * Inbox queue: one accepted event to route to its bindings. Intake sends the stored event along when it
 * is small (`event`, `target`), which saves the consumer reading it back; the sweep sends ids only.
 */
export const inboxMessageSchema = z.object({
  v: z.literal(1),
  event_id: z.string(),
  event: triggerEventSchema.optional(),
  /** The binding a published event names (`POST /v1/events` with `binding_id`), when `event` is sent. */
  target: z.object({ binding_id: z.string(), version: z.int().nullable() }).nullable().optional(),
});
export type InboxMessage = z.infer<typeof inboxMessageSchema>;

/** Dispatch queue: one attempt ready to run. Natural key: (dispatch_id, attempt). */
export const dispatchMessageSchema = z.object({
  v: z.literal(1),
  binding_key: z.string(),
  dispatch_id: z.string(),
  attempt: z.int().min(1),
  /** The event, when the gate had it at hand and it is small (attempt 1 of an immediate admit). */
  event: triggerEventSchema.optional(),
  /** The destination circuit to consult before the attempt (SPEC 10), with this binding's settings. */
  circuit: z
    .object({
      destination: z.string(),
      threshold: z.int().min(1),
      cooldown_ms: z.int().min(1),
      mode: z.enum(["dlq", "hold"]),
      /** Attempt timeout, so a probe that never reports is released after it. */
      timeout_ms: z.int().min(1).optional(),
    })
    .optional(),
});
export type DispatchMessage = z.infer<typeof dispatchMessageSchema>;
