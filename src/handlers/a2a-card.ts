/**
 * A2A agent-card discovery rules (SPEC 12.2), pure: where the card lives, how 1.0 and 0.3 cards list
 * their interfaces, and which JSON-RPC interface a dispatch may use (same authority as the target,
 * cleartext only when the binding allows it). The fetching lives in `a2a.ts`.
 */
import type { AgentInterface } from "@a2a-js/sdk";
import { z } from "zod";
import type { ParsedHandler } from "../contracts/handler-uri";

export type A2aTarget = Extract<ParsedHandler, { kind: "a2a" }>;

/** The two JSON-RPC dialects Switchyard speaks; the value is also the `A2A-Version` header. */
export type A2aWireVersion = "1.0" | "0.3";

/** Well-known card paths, current first (A2A ≥ 0.3), then the legacy name of earlier drafts. */
export const AGENT_CARD_PATHS = ["/.well-known/agent-card.json", "/.well-known/agent.json"] as const;

/** One endpoint a card advertises, normalised over the 1.0 and 0.3 card shapes (SDK field names). */
export type CardInterface = Pick<AgentInterface, "url" | "protocolBinding" | "protocolVersion">;

export interface ParsedAgentCard {
  name: string | null;
  /** `1.0`: the card lists `supportedInterfaces`; `0.3`: `url` + `preferredTransport` (+ `additionalInterfaces`). */
  shape: "1.0" | "0.3";
  interfaces: CardInterface[];
}

export type CardParse = { ok: true; card: ParsedAgentCard } | { ok: false; error: string };

// Cards come from agents we do not control: read only the fields discovery needs, and tolerate the
// rest (unknown fields, entries of other shapes) instead of rejecting the whole card.
const interfaceEntrySchema = z.object({
  url: z.string().min(1),
  protocolBinding: z.string().optional(),
  /** 0.3 `additionalInterfaces` (and some 1.0 drafts) say `transport`. */
  transport: z.string().optional(),
  protocolVersion: z.string().optional(),
});

const agentCardSchema = z.object({
  name: z.string().optional(),
  protocolVersion: z.string().optional(),
  supportedInterfaces: z.array(z.unknown()).optional(),
  url: z.string().optional(),
  preferredTransport: z.string().optional(),
  additionalInterfaces: z.array(z.unknown()).optional(),
});

function interfaceEntries(entries: unknown[] | undefined, fallbackVersion: string): CardInterface[] {
  const out: CardInterface[] = [];
  for (const entry of entries ?? []) {
    const parsed = interfaceEntrySchema.safeParse(entry);
    if (!parsed.success) continue;
    out.push({
      url: parsed.data.url,
      protocolBinding: parsed.data.protocolBinding ?? parsed.data.transport ?? "",
      protocolVersion: parsed.data.protocolVersion || fallbackVersion,
    });
  }
  return out;
}

/**
 * Normalises an agent card. A card with `supportedInterfaces` is read as 1.0 (a "hybrid" card that
 * also carries the 0.3 fields is read the same way, as the SDK does); an interface without its own
 * `protocolVersion` takes the card's, else 1.0. A card with only the 0.3 fields (`url`,
 * `preferredTransport`, `additionalInterfaces`) is read as 0.3 when it declares no version, like the
 * SDK's `parseLegacyAgentCard`: agents that predate 1.0 do not understand `SendMessage`.
 */
export function parseAgentCard(raw: unknown): CardParse {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    return { ok: false, error: "agent card is not a JSON object" };
  }
  const parsed = agentCardSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return { ok: false, error: `agent card field '${issue?.path.join(".") ?? "?"}' is malformed` };
  }
  const card = parsed.data;
  const name = card.name ?? null;
  if (card.supportedInterfaces && card.supportedInterfaces.length > 0) {
    return {
      ok: true,
      card: {
        name,
        shape: "1.0",
        interfaces: interfaceEntries(card.supportedInterfaces, card.protocolVersion || "1.0"),
      },
    };
  }
  if (card.url) {
    const version = card.protocolVersion || "0.3";
    const primary: CardInterface = {
      url: card.url,
      protocolBinding: card.preferredTransport ?? "JSONRPC",
      protocolVersion: version,
    };
    return {
      ok: true,
      card: { name, shape: "0.3", interfaces: [primary, ...interfaceEntries(card.additionalInterfaces, version)] },
    };
  }
  return { ok: false, error: "agent card lists no interfaces (neither supportedInterfaces nor url)" };
}

/**
 * The JSON-RPC dialect for a declared protocol version: 0.x (0.2 and 0.3 both use `message/send`)
 * speaks 0.3, everything else (1.x, absent, unparseable) speaks 1.0.
 */
export function wireVersionOf(declared: string): A2aWireVersion {
  const major = Number.parseInt(declared.trim().replace(/^v/i, ""), 10);
  return major === 0 ? "0.3" : "1.0";
}

/** `https` first; `http` only when the binding allows cleartext (SPEC 12.2). */
export function discoverySchemes(allowCleartext: boolean): ("https" | "http")[] {
  return allowCleartext ? ["https", "http"] : ["https"];
}

/** Candidate card URLs for one scheme, in the order they are tried. */
export function agentCardUrls(target: A2aTarget, scheme: "https" | "http"): URL[] {
  return AGENT_CARD_PATHS.map((path) => new URL(`${scheme}://${target.authority}${path}`));
}

/** What the pending-task handle calls the agent: the target's path, else its authority (as the reference). */
export function targetAgentLabel(target: A2aTarget): string {
  return target.path.replace(/^\/+/, "") || target.authority;
}

function bareHost(hostname: string): string {
  return hostname
    .replace(/^\[|\]$/g, "")
    .toLowerCase()
    .replace(/\.$/, "");
}

function isLoopbackHost(hostname: string): boolean {
  const host = bareHost(hostname);
  if (host === "localhost" || host.endsWith(".localhost") || host === "::1") return true;
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

const DEFAULT_PORTS: Record<string, number> = { "https:": 443, "http:": 80 };

/**
 * True when `url` is served by the target's authority. Hosts compare case-insensitively; loopback
 * names and addresses (localhost, 127.0.0.0/8, ::1) are one host, because SDK agents put
 * `http://localhost:PORT` in their cards while callers dial 127.0.0.1. Ports must be equal, where a
 * target without a port matches the default port of the URL's scheme.
 */
export function sameAuthority(target: A2aTarget, url: URL): boolean {
  const defaultPort = DEFAULT_PORTS[url.protocol];
  const targetPort = target.port === null || target.port === defaultPort ? null : target.port;
  const urlPort = url.port === "" ? null : Number(url.port);
  if (targetPort !== urlPort) return false;
  const a = bareHost(target.host);
  const b = bareHost(url.hostname);
  return a === b || (isLoopbackHost(a) && isLoopbackHost(b));
}

export interface SelectedInterface {
  url: URL;
  version: A2aWireVersion;
  /** The version string the card declared for this interface. */
  declared: string;
}

export type InterfaceSelection =
  | { ok: true; selected: SelectedInterface }
  /** `policy`: refused by the binding's own rules (authority, cleartext); `card`: the card is unusable. */
  | { ok: false; reason: "policy" | "card"; error: string };

/**
 * Picks the JSON-RPC interface to call. Candidates are the card's `JSONRPC` interfaces, 1.0 before 0.3
 * and otherwise in card order; the first one on the target's authority, over https or (with
 * `allowCleartext`) http, wins. When none qualifies the error describes the most preferred one.
 */
export function selectJsonRpcInterface(
  card: ParsedAgentCard,
  cardUrl: URL,
  target: A2aTarget,
  allowCleartext: boolean,
): InterfaceSelection {
  const jsonRpc = card.interfaces.filter((i) => i.protocolBinding.toUpperCase() === "JSONRPC");
  if (jsonRpc.length === 0) {
    const bindings = [...new Set(card.interfaces.map((i) => i.protocolBinding || "?"))].join(", ");
    return {
      ok: false,
      reason: "card",
      error: `A2A agent card at ${cardUrl.href} has no JSONRPC interface${bindings ? ` (found ${bindings})` : ""}`,
    };
  }
  const ranked = jsonRpc
    .map((i, index) => ({ i, index, version: wireVersionOf(i.protocolVersion) }))
    .sort((a, b) => (a.version === b.version ? a.index - b.index : a.version === "1.0" ? -1 : 1));
  let firstError: InterfaceSelection | null = null;
  for (const { i, version } of ranked) {
    const refusal = checkInterfaceUrl(i.url, cardUrl, target, allowCleartext);
    if (refusal.ok) return { ok: true, selected: { url: refusal.url, version, declared: i.protocolVersion } };
    firstError ??= refusal;
  }
  return firstError ?? { ok: false, reason: "card", error: "no usable JSONRPC interface" };
}

function checkInterfaceUrl(
  raw: string,
  cardUrl: URL,
  target: A2aTarget,
  allowCleartext: boolean,
): { ok: true; url: URL } | { ok: false; reason: "policy" | "card"; error: string } {
  let url: URL;
  try {
    url = new URL(raw, cardUrl);
  } catch {
    return { ok: false, reason: "card", error: `A2A agent card lists an invalid JSONRPC interface URL '${raw}'` };
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    return {
      ok: false,
      reason: "card",
      error: `A2A JSONRPC interface '${url.href}' uses unsupported protocol '${url.protocol}'`,
    };
  }
  if (!sameAuthority(target, url)) {
    return {
      ok: false,
      reason: "policy",
      error: `A2A agent card authority mismatch: target '${target.authority}', JSONRPC interface '${url.href}'`,
    };
  }
  if (url.protocol === "http:" && !allowCleartext) {
    return {
      ok: false,
      reason: "policy",
      error: `cleartext A2A JSONRPC interface '${url.href}' requires allow_cleartext: true on the binding`,
    };
  }
  return { ok: true, url };
}
