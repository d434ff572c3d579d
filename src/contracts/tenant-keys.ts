/** Tenant API keys (SPEC 15, 16, 19): create body and wire shapes. The key itself is shown once. */
import { z } from "zod";
import { wellFormed } from "./unicode";

export const createTenantKeySchema = z.strictObject({
  // Stored as D1 text, where an unpaired surrogate would read back as three U+FFFD.
  name: wellFormed(z.string().trim().min(1, "name cannot be empty").max(128, "name must be at most 128 characters")),
});

export const tenantKeySchema = z.object({
  id: z.string(),
  name: z.string(),
  tenant_id: z.string(),
  created_at: z.string(),
  revoked_at: z.string().nullable(),
});
export type TenantKeyView = z.infer<typeof tenantKeySchema>;

export const createdTenantKeySchema = z.object({
  id: z.string(),
  name: z.string(),
  tenant_id: z.string(),
  key: z.string().meta({ description: "The API key (`<id>.<secret>`). Shown only in this answer." }),
});
