/** Approval requests (SPEC 8, 19): list query, decision body and the wire shape. */
import { z } from "zod";
import { limitSchema } from "../http/pagination";
import { wellFormed } from "./unicode";

export const approvalStateSchema = z.enum(["pending", "approved", "denied", "cancelled"]);

export const listApprovalsQuerySchema = z.object({
  state: approvalStateSchema.optional(),
  binding_id: z.string().max(128).optional(),
  limit: limitSchema,
  cursor: z.string().max(512).optional(),
});

export const approvalDecisionBodySchema = z.strictObject({
  reviewer: wellFormed(z.string().trim().min(1, "reviewer cannot be empty").max(256)).optional(),
  reason: wellFormed(z.string().max(2048)).optional(),
});

export const approvalSchema = z.object({
  id: z.string().meta({ description: "Equals the dispatch result's `request_id`." }),
  binding_key: z.string(),
  event_id: z.string(),
  reason: z.string(),
  reviewers: z.array(z.string()),
  state: approvalStateSchema,
  created_at: z.string(),
  reviewer: z.string().nullable(),
  decision_reason: z.string().nullable(),
  decided_at: z.string().nullable(),
});
export type ApprovalView = z.infer<typeof approvalSchema>;
