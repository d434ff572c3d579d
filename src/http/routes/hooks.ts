/** `POST /hooks/:source`: verified webhook intake (SPEC 4). No dispatch work happens inline. */

import { drizzle } from "drizzle-orm/d1";
import { Hono } from "hono";
import type { TriggerEvent } from "../../contracts/events";
import { sourceNameRegex } from "../../contracts/sources";
import { getSource } from "../../db/sources-repo";
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
import { AppError, notFound } from "../../lib/errors";
import { bytesToBase64, newEventId, newTraceId } from "../../lib/ids";
import { iso } from "../../lib/time";
import { insertRecord, TOPICS } from "../../observability/records";
import type { AppEnv } from "../app";
import { readBodyBytes } from "../validate";

/** Styles whose providers always send JSON (Slack may send a form with a JSON `payload`). */
const JSON_STYLES = new Set<VerifyStyle>(["github", "notion", "linear", "stripe", "standard", "slack"]);

export function hookRoutes() {
  const app = new Hono<AppEnv>();
  app.post("/:source", async (c) => {
    const name = c.req.param("source");
    if (!sourceNameRegex.test(name)) throw notFound(`source '${name}'`);
    const source = await getSource(c.env.DB, name);
    if (!source) throw notFound(`source '${name}'`);
    await takeIntakeToken(c.env, name);

    const rawBody = await readBodyBytes(c);
    const now = Date.now();
    const style = source.style as VerifyStyle;
    const headers = c.req.raw.headers;
    const verdict = await verifySignature(
      {
        style,
        secrets: JSON.parse(source.secrets) as string[],
        tolerance_s: source.toleranceS ?? undefined,
        header: source.header ?? undefined,
      },
      headers,
      rawBody,
      now,
    );
    if (!verdict.ok) {
      const at = iso(now);
      await insertRecord(drizzle(c.env.DB), {
        key: `sigreject:${name}:${crypto.randomUUID()}`,
        topic: TOPICS.signature,
        kind: "signature_rejected",
        tenant_id: source.tenantId,
        payload: { source: name, style, reason: verdict.reason, message: verdict.message },
        at,
      });
      throw new AppError("signature_invalid", `signature verification failed: ${verdict.message}`, {
        reason: verdict.reason,
      });
    }

    const { payload, json } = parsePayload(rawBody, c.req.header("content-type") ?? null);
    if (JSON_STYLES.has(style) && !json) {
      const contentType = c.req.header("content-type") ?? "";
      if (rawBody.length > 0 && contentType !== "" && !/json|x-www-form-urlencoded/i.test(contentType)) {
        throw new AppError("unsupported_media_type", `style '${style}' requires a JSON body, got '${contentType}'`);
      }
      throw new AppError("bad_request", `style '${style}' requires a JSON body: the body is not valid JSON`);
    }
    const handshake = providerHandshake(source.provider, payload);
    if (handshake) return c.json(handshake.body as Record<string, unknown>, handshake.status as 200);

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
      headers: redactHeaders(headers),
      payload,
      raw_body: bytesToBase64(rawBody),
      signature_status: { state: verdict.state },
    };
    const outcome = await acceptAndEnqueue(
      c.env,
      {
        event,
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
