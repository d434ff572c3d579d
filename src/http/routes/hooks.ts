/** `POST /hooks/:source`: verified webhook intake (SPEC 4). No dispatch work happens inline. */

import { drizzle } from "drizzle-orm/d1";
import { Hono } from "hono";
import { MAX_PAYLOAD_DEPTH, nestsDeeperThan, type TriggerEvent } from "../../contracts/events";
import { sourceNameRegex } from "../../contracts/sources";
import { base64Of } from "../../intake/base64";
import { acceptAndEnqueue } from "../../intake/enqueue";
import { takeIntakeToken } from "../../intake/intake-limiter";
import {
  deriveDedupeKey,
  deriveKind,
  deriveOccurredAt,
  parsePayload,
  providerHandshake,
  redactHeaders,
} from "../../intake/normalise";
import { type VerifyStyle, verifySignature } from "../../intake/signatures";
import { intakeSource } from "../../intake/source-cache";
import { fitForStorage, MAX_STORED_EVENT_BYTES } from "../../intake/stored-size";
import { AppError, notFound } from "../../lib/errors";
import { newEventId, newTraceId } from "../../lib/ids";
import { iso } from "../../lib/time";
import { countRejections, intakeCounterIncrement } from "../../observability/intake-counters";
import { insertRecord, TOPICS } from "../../observability/records";
import type { AppEnv } from "../app";
import { readBodyBytes } from "../validate";

/** Styles whose providers send JSON (Slack also sends forms: a JSON `payload` field, or slash commands). */
const JSON_STYLES = new Set<VerifyStyle>(["github", "notion", "linear", "stripe", "standard", "slack"]);

/** Bodies up to this size are also stored verbatim (base64) so handlers can re-verify signatures. */
export const RAW_BODY_KEEP_BYTES = 512 * 1024;

export function hookRoutes() {
  const app = new Hono<AppEnv>();
  // Unknown sources are not counted (unbounded names); signature rejections count with their audit record.
  app.use(
    "/:source",
    countRejections((c) => c.req.param("source") ?? "", ["not_found", "signature_invalid"]),
  );
  app.post("/:source", async (c) => {
    const name = c.req.param("source");
    if (!sourceNameRegex.test(name)) throw notFound(`source '${name}'`);
    const cached = await intakeSource(c.env.DB, name);
    if (!cached) throw notFound(`source '${name}'`);
    const source = cached.row;
    await takeIntakeToken(c.env, name, source.tenantId);

    const rawBody = await readBodyBytes(c);
    const now = Date.now();
    const style = source.style as VerifyStyle;
    const headers = c.req.raw.headers;
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
      const at = iso(now);
      const db = drizzle(c.env.DB);
      await db.batch([
        insertRecord(db, {
          key: `sigreject:${name}:${crypto.randomUUID()}`,
          topic: TOPICS.signature,
          kind: "signature_rejected",
          tenant_id: source.tenantId,
          payload: { source: name, style, reason: verdict.reason, message: verdict.message },
          at,
        }),
        intakeCounterIncrement(db, { source: name, outcome: "rejected", reason: "signature_invalid" }, now),
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

    const eventId = newEventId(now);
    const traceId = c.req.header("x-switchyard-trace-id") ?? newTraceId(now);
    const event: TriggerEvent = {
      id: eventId,
      provider: source.provider,
      kind: deriveKind(source.provider, headers, payload),
      received_at: iso(now),
      occurred_at: deriveOccurredAt(source.provider, headers, payload),
      dedupe_key: await deriveDedupeKey(source.provider, style, headers, payload, rawBody),
      trace_id: /^[A-Za-z0-9._:-]{1,128}$/.test(traceId) ? traceId : newTraceId(now),
      tenant_id: source.tenantId,
      // A configured hmac header is a signature header: kept so handlers can re-verify (SPEC 4.4).
      headers: redactHeaders(headers, source.header ? [source.header] : []),
      payload,
      // D1 rows are capped at 2 MB: very large bodies keep only the parsed payload (raw_body is optional;
      // fitForStorage also drops it when the normalised payload leaves too little room).
      ...(rawBody.length <= RAW_BODY_KEEP_BYTES ? { raw_body: base64Of(rawBody) } : {}),
      signature_status: { state: verdict.state },
    };
    const fitted = fitForStorage(event);
    if (!fitted.ok) {
      throw new AppError(
        "payload_too_large",
        `the normalised event would take ${fitted.bytes} bytes to store (max ${MAX_STORED_EVENT_BYTES}): send a smaller body`,
      );
    }
    const outcome = await acceptAndEnqueue(
      c.env,
      {
        event: fitted.event,
        source: name,
        dedupeScope: `source:${name}`,
        dedupeWindowS: source.dedupeWindowS,
        target: null,
        records: [
          {
            key: "signature",
            topic: TOPICS.signature,
            kind: `signature_${verdict.state}`,
            payload: { source: name, style },
          },
          {
            key: "accepted",
            topic: TOPICS.inbox,
            kind: "event_accepted",
            payload: { source: name, provider: event.provider, kind: event.kind, dedupe_key: event.dedupe_key },
          },
        ],
      },
      now,
    );
    if (outcome.status === "duplicate") return c.json({ status: "duplicate", event_id: outcome.event_id }, 200);
    return c.json({ status: "accepted", event_id: outcome.event_id, trace_id: event.trace_id }, 202);
  });
  return app;
}
