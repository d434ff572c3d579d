/**
 * Sends the planned intake traffic through the real entry point and keeps every answer, so the
 * oracle can tell which dedupe identities were accepted, under which event id, and how often a
 * delivery was answered `duplicate`.
 */
import { exports } from "cloudflare:workers";
import { hmacHex } from "../integration/intake/support";
import { ADMIN, BASE } from "../support/api";
import { API_PROVIDER, type ApiEvent, type HookEvent, type Unit } from "./plan";

export interface Answers {
  /** Per dedupe identity: event ids answered `accepted`, and those named by `duplicate` answers. */
  byIdentity: Map<string, { accepted: string[]; duplicateOf: string[]; unavailable: number }>;
  /** Intake answers per path, for the metrics. */
  counts: { hook: { accepted: number; duplicate: number }; api: { accepted: number; duplicate: number } };
  /** Requests refused for backpressure (503 before anything was stored) and retried. */
  backpressure: number;
  /** Answers that were none of the above (a bug if any). */
  unexpected: string[];
  requests: number;
}

export function emptyAnswers(): Answers {
  return {
    byIdentity: new Map(),
    counts: { hook: { accepted: 0, duplicate: 0 }, api: { accepted: 0, duplicate: 0 } },
    backpressure: 0,
    unexpected: [],
    requests: 0,
  };
}

type Answer = { status: string; event_id?: string };

function note(answers: Answers, path: "hook" | "api", identity: string, answer: Answer, httpStatus: number) {
  const entry = answers.byIdentity.get(identity) ?? { accepted: [], duplicateOf: [], unavailable: 0 };
  answers.byIdentity.set(identity, entry);
  if (httpStatus === 202 && answer.status === "accepted" && answer.event_id) {
    entry.accepted.push(answer.event_id);
    answers.counts[path].accepted += 1;
  } else if ((httpStatus === 200 || httpStatus === 202) && answer.status === "duplicate" && answer.event_id) {
    entry.duplicateOf.push(answer.event_id);
    answers.counts[path].duplicate += 1;
  } else {
    answers.unexpected.push(`${path} ${identity}: HTTP ${httpStatus} ${JSON.stringify(answer)}`);
  }
}

/**
 * POSTs with retries on 503: `backpressure` stored nothing; `unavailable` stored the event but could
 * not queue it (the retry is then answered `duplicate`, which the oracle allows for that identity).
 */
async function post(
  answers: Answers,
  path: string,
  init: { body: string; headers: Record<string, string> },
  onUnavailable: () => void,
): Promise<{ status: number; body: unknown }> {
  for (let tries = 0; ; tries++) {
    answers.requests += 1;
    const res = await exports.default.fetch(`${BASE}${path}`, { method: "POST", ...init });
    const text = await res.text();
    const body = text ? (JSON.parse(text) as unknown) : null;
    if (res.status !== 503 || tries >= 20) return { status: res.status, body };
    const code = (body as { error?: { code?: string } } | null)?.error?.code;
    if (code === "unavailable") onUnavailable();
    else answers.backpressure += 1;
    await new Promise((r) => setTimeout(r, 200 + 100 * tries));
  }
}

async function sendHook(answers: Answers, source: string, secret: string, e: HookEvent) {
  const headers = {
    "content-type": "application/json",
    "x-github-event": e.event,
    "x-github-delivery": e.delivery,
    "x-hub-signature-256": `sha256=${await hmacHex(secret, e.body)}`,
  };
  const res = await post(answers, `/hooks/${source}`, { body: e.body, headers }, () =>
    unavailable(answers, e.identity),
  );
  note(answers, "hook", e.identity, res.body as Answer, res.status);
}

function unavailable(answers: Answers, identity: string) {
  const entry = answers.byIdentity.get(identity) ?? { accepted: [], duplicateOf: [], unavailable: 0 };
  entry.unavailable += 1;
  answers.byIdentity.set(identity, entry);
}

const publishBody = (e: ApiEvent, withKey: boolean) => ({
  provider: API_PROVIDER,
  kind: e.kind,
  payload: e.payload,
  ...(withKey ? { dedupe_key: e.identity } : {}),
});

async function sendApiOne(answers: Answers, e: ApiEvent, useHeader: boolean) {
  const headers: Record<string, string> = { ...ADMIN, "content-type": "application/json" };
  if (useHeader) headers["idempotency-key"] = e.identity;
  const body = JSON.stringify(publishBody(e, !useHeader));
  const res = await post(answers, "/v1/events", { body, headers }, () => unavailable(answers, e.identity));
  note(answers, "api", e.identity, res.body as Answer, res.status);
}

async function sendApiBatch(answers: Answers, events: ApiEvent[]) {
  const headers = { ...ADMIN, "content-type": "application/json" };
  const body = JSON.stringify(events.map((e) => publishBody(e, true)));
  const res = await post(answers, "/v1/events", { body, headers }, () => {
    for (const e of events) unavailable(answers, e.identity);
  });
  const items = (res.body as { items?: Answer[] } | null)?.items;
  if (res.status !== 202 || !items || items.length !== events.length) {
    answers.unexpected.push(`api batch: HTTP ${res.status} ${JSON.stringify(res.body).slice(0, 300)}`);
    return;
  }
  // Array items answer 202 as a whole; each item says accepted or duplicate.
  for (const [i, e] of events.entries()) note(answers, "api", e.identity, items[i] as Answer, 202);
}

/** Fires one unit: its copies in parallel, as concurrent duplicate deliveries. */
export async function sendUnit(answers: Answers, source: string, secret: string, unit: Unit): Promise<void> {
  switch (unit.via) {
    case "hook":
      await Promise.all(Array.from({ length: unit.copies }, () => sendHook(answers, source, secret, unit.event)));
      return;
    case "api-one":
      await Promise.all(Array.from({ length: unit.copies }, () => sendApiOne(answers, unit.event, unit.useHeader)));
      return;
    case "api-batch":
      await sendApiBatch(answers, unit.events);
  }
}

/** Sends every unit with at most `parallel` units in flight; `onProgress` sees the count sent. */
export async function sendAll(
  answers: Answers,
  source: string,
  secret: string,
  units: Unit[],
  parallel: number,
  onProgress: (sent: number) => void = () => {},
): Promise<void> {
  let next = 0;
  let sent = 0;
  const lane = async () => {
    while (next < units.length) {
      const unit = units[next++] as Unit;
      await sendUnit(answers, source, secret, unit);
      sent += 1;
      onProgress(sent);
    }
  };
  await Promise.all(Array.from({ length: parallel }, lane));
}
