/** `POST /hooks/{source}`: verified webhook intake (SPEC 4). No dispatch work happens inline. */

import { z } from "zod";
import { MAX_PAYLOAD_DEPTH, nestsDeeperThan } from "../../contracts/events";
import { sourceNameRegex } from "../../contracts/sources";
import { captureVerificationToken } from "../../db/sources-repo";
import { acceptEvent, auditLog } from "../../intake/accept";
import { base64Of } from "../../intake/base64";
import { takeIntakeToken } from "../../intake/intake-limiter";
import {
  deriveDedupeKey,
  deriveKind,
  deriveOccurredAt,
  parsePayload,
  providerHandshake,
  redactHeaders,
} from "../../intake/normalise";
import { awaitsVerification, verificationTokenOf } from "../../intake/notion-setup";
import { type VerifyStyle, verifySignature } from "../../intake/signatures";
import { forgetSource, intakeSource } from "../../intake/source-cache";
import { AppError, notFound } from "../../lib/errors";
import { newTraceId } from "../../lib/ids";
import { requireSecretKeys, seal, secretKeysOf } from "../../lib/secret-box";
import { iso } from "../../lib/time";
import { countIntake, countRejections } from "../../observability/intake-counters";
import { TOPICS } from "../../observability/topics";
import { IntakeAccepted } from "../openapi/components";
import { named, RouteGroup } from "../openapi/route";
import * as s from "../openapi/schemas";
import { readBodyBytes } from "../validate";
import { sourceNameParamSchema } from "./sources";

/** Styles whose providers send JSON (Slack also sends forms: a JSON `payload` field, or slash commands). */
const JSON_STYLES = new Set<VerifyStyle>(["github", "notion", "linear", "stripe", "standard", "slack"]);

export function hookRoutes() {
  const group = new RouteGroup("/hooks", "Intake");
  // Unknown sources are not counted (unbounded names); signature rejections count with their audit record.
  group.app.use(
    "/:source",
    countRejections((c) => c.req.param("source") ?? "", ["not_found", "signature_invalid"]),
  );
  return group.on(
    {
      method: "post",
      path: "/{source}",
      operationId: "receiveWebhook",
      summary: "Receive a webhook",
      description:
        "Verifies the signature by the source's style (GitHub, Stripe, Slack, Linear, Notion, Standard Webhooks, HMAC or none), normalises and deduplicates the event and queues it. No dispatch work happens inline.",
      auth: "public",
      params: z.object({ source: sourceNameParamSchema }),
      headers: z.object({ "x-switchyard-trace-id": z.string().optional() }),
      paramDocs: {
        source: "The source name (`PUT /v1/sources/{name}`).",
        "x-switchyard-trace-id": "Trace id to carry; one is generated when absent or malformed.",
      },
      rawBody: { description: "The provider's payload, verified byte for byte (JSON or form-encoded, up to 1 MiB)." },
      responses: {
        202: { description: "Accepted: the event is stored and queued.", json: IntakeAccepted },
        200: {
          description:
            "A duplicate of an accepted event, or a provider handshake (Slack `url_verification`, `ssl_check`; Notion's verification request on a Notion source created with no secret, whose token becomes the secret).",
          json: named(
            "WebhookAnswer",
            z.union([s.intakeDuplicateSchema, z.object({ challenge: z.string() }), z.object({ ok: z.literal(true) })]),
          ),
        },
      },
      errors: [400, 401, 404, 413, 415, 503],
    },
    async (c, { params }) => {
      const name = params.source;
      if (!sourceNameRegex.test(name)) throw notFound(`source '${name}'`);
      const cached = await intakeSource(c.env.DB, name, secretKeysOf(c.env));
      if (!cached) throw notFound(`source '${name}'`);
      const source = cached.row;
      await takeIntakeToken(c.env, name, source.tenantId);

      const rawBody = await readBodyBytes(c);
      const now = Date.now();
      const style = source.style as VerifyStyle;
      const headers = c.req.raw.headers;
      if (awaitsVerification(style, cached.secrets)) {
        // Notion's set-up request: its token becomes the secret; nothing is dispatched.
        const token = verificationTokenOf(parsePayload(rawBody, c.req.header("content-type") ?? null).payload);
        const sealed = token ? await seal(token, requireSecretKeys(c.env)) : null;
        if (sealed && (await captureVerificationToken(c.env.DB, name, sealed, iso(now)))) {
          forgetSource(name);
          return c.json({ ok: true as const }, 200);
        }
      }
      const verdict = await verifySignature(
        {
          style,
          secrets: cached.secrets,
          tolerance_s: source.toleranceS ?? undefined,
          header: source.header ?? undefined,
        },
        headers,
        rawBody,
        now,
      );
      if (!verdict.ok) {
        if (awaitsVerification(style, cached.secrets)) {
          verdict.message = `source '${name}' awaits Notion's verification request ({"verification_token": …}) and has no secret to verify anything else with yet`;
        }
        await Promise.all([
          auditLog(c.env, now).rejected({
            at: now,
            tenant_id: source.tenantId,
            topic: TOPICS.signature,
            kind: "signature_rejected",
            payload: { source: name, style, reason: verdict.reason, message: verdict.message },
          }),
          countIntake(c.env.DB, { source: name, outcome: "rejected", reason: "signature_invalid" }, now),
        ]);
        throw new AppError("signature_invalid", `signature verification failed: ${verdict.message}`, {
          reason: verdict.reason,
        });
      }

      const contentType = c.req.header("content-type") ?? "";
      const { payload, json } = parsePayload(rawBody, contentType || null);
      // Handshakes come before the JSON check (Slack's ssl_check is a form post) and follow the style too, so a
      // Slack-signed source under a custom provider name still answers them.
      const handshake = providerHandshake(style === "slack" ? "slack" : source.provider, payload);
      if (handshake) return c.json(handshake.body as Record<string, unknown>, handshake.status as 200);
      // Slack slash commands are plain forms; they are kept as a raw payload (SPEC 3).
      const slackForm = style === "slack" && /^\s*application\/x-www-form-urlencoded\b/i.test(contentType);
      if (JSON_STYLES.has(style) && !json && !slackForm) {
        if (rawBody.length > 0 && contentType !== "" && !/json|x-www-form-urlencoded/i.test(contentType)) {
          throw new AppError("unsupported_media_type", `style '${style}' requires a JSON body, got '${contentType}'`);
        }
        throw new AppError("bad_request", `style '${style}' requires a JSON body: the body is not valid JSON`);
      }
      if (nestsDeeperThan(payload, MAX_PAYLOAD_DEPTH)) {
        throw new AppError("bad_request", `JSON body nests deeper than ${MAX_PAYLOAD_DEPTH} levels`);
      }

      const traceHeader = c.req.header("x-switchyard-trace-id") ?? "";
      const traceId = /^[A-Za-z0-9._:-]{1,128}$/.test(traceHeader) ? traceHeader : newTraceId(now);
      const outcome = await acceptEvent(
        c.env,
        {
          event: {
            provider: source.provider,
            kind: deriveKind(source.provider, headers, payload),
            occurred_at: deriveOccurredAt(source.provider, headers, payload),
            dedupe_key: await deriveDedupeKey(source.provider, style, headers, payload, rawBody),
            trace_id: traceId,
            tenant_id: source.tenantId,
            // A configured hmac header is a signature header: kept so handlers can re-verify (SPEC 4.4).
            headers: redactHeaders(headers, source.header ? [source.header] : []),
            payload,
            // The exact bytes, so handlers can re-verify signatures; large ones are stored in chunks.
            raw_body: base64Of(rawBody),
            signature_status: { state: verdict.state },
          },
          source: name,
          style,
          dedupe_scope: `source:${name}`,
          dedupe_window_s: source.dedupeWindowS,
          target: null,
        },
        now,
      );
      if (outcome.status === "duplicate") return c.json({ status: "duplicate", event_id: outcome.event_id }, 200);
      return c.json({ status: "accepted", event_id: outcome.event_id, trace_id: traceId }, 202);
    },
  );
}
