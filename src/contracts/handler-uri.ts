/** Handler URIs (SPEC 12): the kinds a binding may target, their parsing and validation, and destination keys. */
import { z } from "zod";

export type HandlerKind = "https" | "service" | "a2a" | "worker" | "persona";

/** `uri` is the input as written; the other fields are the parsed target. */
export type ParsedHandler =
  // http:// is accepted for local development and tests; the SSRF guard lives in the handler.
  | { kind: "https"; uri: string; url: string }
  | { kind: "service"; uri: string; binding: string; path: string }
  | { kind: "a2a"; uri: string; authority: string; host: string; port: number | null; path: string }
  | { kind: "worker"; uri: string; queue: string }
  | { kind: "persona"; uri: string; name: string };

export type HandlerUriResult = { ok: true; value: ParsedHandler } | { ok: false; message: string };

export const MAX_HANDLER_URI_LENGTH = 2048;

const SERVICE_BINDING_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const SCHEME_RE = /^([A-Za-z][A-Za-z0-9+.-]*):/;
// host is a bracketed IPv6 literal or a run without ':', '[', ']' or '@'; optional decimal port.
const AUTHORITY_RE = /^(\[[0-9A-Fa-f:.]+\]|[^:[\]@]+)(?::(\d{1,5}))?$/;

const KNOWN_SCHEMES = ["https", "http", "service", "a2a", "worker", "persona"] as const;
type Scheme = (typeof KNOWN_SCHEMES)[number];

function isKnownScheme(s: string): s is Scheme {
  return (KNOWN_SCHEMES as readonly string[]).includes(s);
}

const fail = (message: string): HandlerUriResult => ({ ok: false, message });
const ok = (value: ParsedHandler): HandlerUriResult => ({ ok: true, value });

/**
 * Parses a binding's handler URI. Schemes are matched case-insensitively (RFC 3986); names and paths
 * keep their case. Messages for empty URIs, empty targets and unknown schemes follow SPEC 5.1.
 */
export function parseHandlerUri(uri: string): HandlerUriResult {
  if (uri.trim() === "") return fail("handler URI cannot be empty");
  if (uri.length > MAX_HANDLER_URI_LENGTH) {
    return fail(`handler URI is too long (max ${MAX_HANDLER_URI_LENGTH} characters)`);
  }
  if (/\s/.test(uri)) return fail("handler URI must not contain whitespace");
  const schemeMatch = SCHEME_RE.exec(uri);
  if (!schemeMatch?.[1]) {
    return fail("handler URI must have a scheme (https://, service://, a2a://, worker://, persona://)");
  }
  const written = schemeMatch[1];
  const scheme = written.toLowerCase();
  if (!isKnownScheme(scheme)) return fail(`unsupported handler URI scheme '${written}'`);
  const prefix = `${written}://`;
  if (!uri.startsWith(prefix)) return fail(`${scheme} handler URI must start with '${scheme}://'`);
  const target = uri.slice(prefix.length);
  if (target === "") return fail(`${scheme} handler URI target cannot be empty`);

  switch (scheme) {
    case "https":
    case "http":
      return parseHttp(uri, target);
    case "service":
      return parseService(uri, target);
    case "a2a":
      return parseA2a(uri, target);
    case "worker":
      return NAME_RE.test(target)
        ? ok({ kind: "worker", uri, queue: target })
        : fail(`invalid worker queue name '${target}': must match [A-Za-z0-9][A-Za-z0-9._-]{0,127}`);
    case "persona":
      return NAME_RE.test(target)
        ? ok({ kind: "persona", uri, name: target })
        : fail(`invalid persona name '${target}': must match [A-Za-z0-9][A-Za-z0-9._-]{0,127}`);
  }
}

function parseHttp(uri: string, target: string): HandlerUriResult {
  // WHATWG URL would read "https:///x" as host "x"; an authority must follow "//".
  if (target.startsWith("/") || target.startsWith("\\")) return fail(`handler URL '${uri}' must have a host`);
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return fail(`invalid handler URL '${uri}'`);
  }
  if (url.hostname === "") return fail(`handler URL '${uri}' must have a host`);
  return ok({ kind: "https", uri, url: url.href });
}

function parseService(uri: string, target: string): HandlerUriResult {
  const slash = target.indexOf("/");
  const binding = slash === -1 ? target : target.slice(0, slash);
  const path = slash === -1 ? "/" : target.slice(slash);
  if (binding === "") return fail("service handler URI must name a binding: service://BINDING/path");
  if (!SERVICE_BINDING_RE.test(binding)) {
    return fail(`invalid service binding name '${binding}': must match [A-Za-z_][A-Za-z0-9_]*`);
  }
  return ok({ kind: "service", uri, binding, path });
}

function parseA2a(uri: string, target: string): HandlerUriResult {
  if (/[?#]/.test(target)) return fail("a2a handler URI must not have a query or fragment");
  const slash = target.indexOf("/");
  const authority = slash === -1 ? target : target.slice(0, slash);
  const path = slash === -1 ? "/" : target.slice(slash);
  const m = AUTHORITY_RE.exec(authority);
  if (!m?.[1]) return fail(`invalid a2a authority '${authority}': expected host[:port]`);
  let host: string;
  try {
    host = new URL(`http://${m[1]}/`).hostname;
  } catch {
    return fail(`invalid a2a host '${m[1]}'`);
  }
  let port: number | null = null;
  if (m[2] !== undefined) {
    port = Number(m[2]);
    if (port < 1 || port > 65535) return fail(`invalid a2a port '${m[2]}': must be 1-65535`);
  }
  return ok({ kind: "a2a", uri, authority, host, port, path });
}

/** Zod schema for a handler URI string; the refinement reports parseHandlerUri's message. */
export const handlerUriSchema = z.string().superRefine((uri, ctx) => {
  const parsed = parseHandlerUri(uri);
  if (!parsed.ok) ctx.addIssue({ code: "custom", message: parsed.message, input: uri });
});

/**
 * Circuit-breaker destination key `<handler_kind>:<target_uri>` (SPEC 2). http(s) targets are reduced
 * to origin + path so credentials and query tokens never reach circuit listings or metrics, and so
 * equivalent spellings of one endpoint share a breaker.
 */
export function destinationKey(h: ParsedHandler): string {
  switch (h.kind) {
    case "https": {
      const u = new URL(h.url);
      return `https:${u.origin}${u.pathname}`;
    }
    case "service":
      return `service:service://${h.binding}${h.path}`;
    case "a2a":
      return `a2a:a2a://${h.port === null ? h.host : `${h.host}:${h.port}`}${h.path}`;
    case "worker":
      return `worker:worker://${h.queue}`;
    case "persona":
      return `persona:persona://${h.name}`;
  }
}

/** The handler kind a URI names (`https`, `service`, `a2a`, …), or `unknown` for one that does not parse. */
export function handlerKindOf(uri: string): string {
  const parsed = parseHandlerUri(uri);
  return parsed.ok ? parsed.value.kind : "unknown";
}
