/** Trust records (SPEC 8, 19): queries, promote/demote body and the wire shapes. */
import { z } from "zod";
import { tierSchema } from "../autonomy/tiers";
import { limitSchema } from "../http/pagination";
import { bindingIdSchema } from "./binding-spec";

export const listTrustQuerySchema = z.object({
  binding_id: bindingIdSchema.optional(),
  limit: limitSchema,
  cursor: z.string().max(512).optional(),
});

export const verifyTrustQuerySchema = z.object({ binding_id: bindingIdSchema });

export const tierChangeBodySchema = z.strictObject({
  binding_id: bindingIdSchema,
  tier: tierSchema,
  reason: z.string().max(2048).optional(),
});

export const trustRecordSchema = z.object({
  seq: z.number().int(),
  binding_id: z.string(),
  action: z.string(),
  outcome: z.string(),
  tier: tierSchema,
  metadata: z.unknown(),
  prev_hash: z.string(),
  hash: z.string().meta({ description: "SHA-256 over the canonical record, chained by `prev_hash`." }),
  at: z.string(),
});

export const trustVerificationSchema = z.object({
  binding_id: z.string(),
  valid: z.boolean(),
  count: z.number().int(),
  broken_at: z.number().int().optional().meta({ description: "The seq of the first record that breaks the chain." }),
  problem: z.string().optional(),
});
