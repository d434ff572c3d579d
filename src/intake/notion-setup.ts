/**
 * Notion's one-time set-up (SPEC 4.2 provider handshakes): when a subscription is created, Notion
 * POSTs `{"verification_token": …}` unsigned. That token is both what the operator pastes back into
 * Notion and the secret Notion signs every later event with. A Notion source created with no secret
 * awaits this request; the first one makes its token the source's secret, and from then on the source
 * verifies like any other (an unsigned request gets 401 and never replaces the secret).
 */
import type { SourceVerification } from "../contracts/sources";
import type { sources } from "../db/schema";

/** Longest token accepted: Notion's are short; anything near the secret limit is not Notion's. */
const MAX_TOKEN_LENGTH = 1024;

/** The token of a verification request, or null when the body is anything else. */
export function verificationTokenOf(payload: unknown): string | null {
  if (typeof payload !== "object" || payload === null || Array.isArray(payload)) return null;
  const token = (payload as Record<string, unknown>).verification_token;
  if (typeof token !== "string") return null;
  const trimmed = token.trim();
  return trimmed.length > 0 && trimmed.length <= MAX_TOKEN_LENGTH && trimmed === token ? token : null;
}

/** Whether a source is a Notion source that has no secret yet (it waits for the verification request). */
export function awaitsVerification(style: string, secrets: readonly string[]): boolean {
  return style === "notion" && secrets.length === 0;
}

/** The set-up state an operator sees (`verify.verification`), for Notion sources that use the handshake. */
export function verificationView(
  row: Pick<typeof sources.$inferSelect, "style" | "verificationReceivedAt" | "verificationReadAt">,
  secrets: readonly string[],
): SourceVerification | null {
  if (row.style !== "notion") return null;
  if (secrets.length === 0) return { state: "awaiting", received_at: null, read_at: null };
  if (!row.verificationReceivedAt) return null; // a secret the operator configured
  return {
    state: row.verificationReadAt ? "read" : "received",
    received_at: row.verificationReceivedAt,
    read_at: row.verificationReadAt,
  };
}
