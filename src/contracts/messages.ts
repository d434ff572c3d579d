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
});
export type DispatchMessage = z.infer<typeof dispatchMessageSchema>;
