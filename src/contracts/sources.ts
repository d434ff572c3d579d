/** Webhook sources (SPEC 4): verification styles, the source input and the view the API returns. */
import { z } from "zod";

export const verifyStyleSchema = z.enum(["github", "notion", "linear", "slack", "stripe", "standard", "hmac", "none"]);

const secretSchema = z.string().min(1, "secret cannot be empty").max(1024);

export const sourceNameRegex = /^[a-z0-9][a-z0-9_-]{0,63}$/;
export const tenantIdRegex = /^[A-Za-z0-9_-]{1,64}$/;

/** `whsec_<base64>` (the prefix is optional, as in the Standard Webhooks libraries). */
function isStandardSecret(secret: string): boolean {
  const b64 = secret.startsWith("whsec_") ? secret.slice(6) : secret;
  return b64.length > 0 && b64.length % 4 === 0 && /^[A-Za-z0-9+/]+={0,2}$/.test(b64);
}

/** `PUT /v1/sources/:name` body. */
export const sourceInputSchema = z
  .strictObject({
    provider: z
      .string()
      .regex(/^[a-z0-9][a-z0-9_-]{0,63}$/, "provider must match [a-z0-9][a-z0-9_-]{0,63}")
      .optional(),
    verify: z.strictObject({
      style: verifyStyleSchema,
      secret: secretSchema.optional(),
      secrets: z.array(secretSchema).max(16, "at most 16 secrets").optional(),
      tolerance_s: z.int().min(1).max(86_400).optional(),
      header: z
        .string()
        .regex(/^[A-Za-z0-9-]{1,128}$/, "header must be an HTTP header name")
        .optional(),
    }),
    tenant_id: z.string().regex(tenantIdRegex, "tenant_id must match [A-Za-z0-9_-]{1,64}").nullable().optional(),
    dedupe: z
      .strictObject({
        window_s: z
          .int()
          .min(1)
          .max(90 * 86_400),
      })
      .optional(),
  })
  .superRefine((value, ctx) => {
    const count = (value.verify.secret ? 1 : 0) + (value.verify.secrets?.length ?? 0);
    if (value.verify.style === "none") {
      if (count > 0) ctx.addIssue({ code: "custom", path: ["verify"], message: "style 'none' takes no secret" });
    } else if (count === 0 && value.verify.style !== "notion") {
      ctx.addIssue({
        code: "custom",
        path: ["verify"],
        message: `verify.secret or verify.secrets is required for style '${value.verify.style}'`,
      });
    }
    if (value.verify.style === "standard") {
      // The HMAC key is the base64 after `whsec_`; anything else could never verify a delivery.
      const check = (secret: string, path: (string | number)[]) => {
        if (!isStandardSecret(secret)) {
          ctx.addIssue({ code: "custom", path, message: "a 'standard' secret must be whsec_ followed by base64" });
        }
      };
      if (value.verify.secret) check(value.verify.secret, ["verify", "secret"]);
      for (const [i, secret] of (value.verify.secrets ?? []).entries()) check(secret, ["verify", "secrets", i]);
    }
    if (value.verify.header && value.verify.style !== "hmac") {
      ctx.addIssue({
        code: "custom",
        path: ["verify", "header"],
        message: "verify.header applies only to style 'hmac'",
      });
    }
  });
export type SourceInput = z.infer<typeof sourceInputSchema>;

/**
 * Notion's set-up, for a Notion source created with no secret: `awaiting` its verification request,
 * `received` (the token is the secret now and can be read once), `read`.
 */
export const sourceVerificationSchema = z.object({
  state: z.enum(["awaiting", "received", "read"]),
  received_at: z.string().nullable(),
  read_at: z.string().nullable(),
});
export type SourceVerification = z.infer<typeof sourceVerificationSchema>;

/** What the API shows of a source: never its secrets. */
export const sourceViewSchema = z.object({
  name: z.string(),
  provider: z.string(),
  url: z.string(),
  verify: z.object({
    style: verifyStyleSchema,
    tolerance_s: z.number().nullable(),
    header: z.string().optional(),
    secret_count: z.number(),
    verification: sourceVerificationSchema.optional(),
  }),
  tenant_id: z.string().nullable(),
  dedupe: z.object({ window_s: z.number() }),
  created_at: z.string(),
  updated_at: z.string(),
});
export type SourceView = z.infer<typeof sourceViewSchema>;

/** Styles whose provider defaults to the generic `webhook` provider. */
export function defaultProviderFor(style: z.infer<typeof verifyStyleSchema>): string {
  return style === "standard" || style === "hmac" || style === "none" ? "webhook" : style;
}

export const DEFAULT_DEDUPE_WINDOW_S = 7 * 86_400;
