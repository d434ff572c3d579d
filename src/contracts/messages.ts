import { z } from "zod";

/** Inbox queue: one accepted event to route to its bindings. */
export const inboxMessageSchema = z.object({ v: z.literal(1), event_id: z.string() });
export type InboxMessage = z.infer<typeof inboxMessageSchema>;

/** Dispatch queue: one attempt ready to run. Natural key: (dispatch_id, attempt). */
export const dispatchMessageSchema = z.object({
  v: z.literal(1),
  binding_key: z.string(),
  dispatch_id: z.string(),
  attempt: z.int().min(1),
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
