import { describe, expect, it } from "vitest";
import {
  destinationKey,
  handlerUriSchema,
  type ParsedHandler,
  parseHandlerUri,
} from "../../../src/contracts/handler-uri";

describe("parseHandlerUri: valid", () => {
  it.each<[string, ParsedHandler]>([
    [
      "https://hooks.example.com/in",
      { kind: "https", uri: "https://hooks.example.com/in", url: "https://hooks.example.com/in" },
    ],
    ["https://Example.COM", { kind: "https", uri: "https://Example.COM", url: "https://example.com/" }],
    [
      "http://127.0.0.1:8080/h/x?y=1",
      { kind: "https", uri: "http://127.0.0.1:8080/h/x?y=1", url: "http://127.0.0.1:8080/h/x?y=1" },
    ],
    ["HTTPS://example.com/a", { kind: "https", uri: "HTTPS://example.com/a", url: "https://example.com/a" }],
    ["service://ECHO/path", { kind: "service", uri: "service://ECHO/path", binding: "ECHO", path: "/path" }],
    ["service://ECHO", { kind: "service", uri: "service://ECHO", binding: "ECHO", path: "/" }],
    [
      "service://my_worker/a/b?c=1",
      { kind: "service", uri: "service://my_worker/a/b?c=1", binding: "my_worker", path: "/a/b?c=1" },
    ],
    [
      "a2a://agents.example.com/triage",
      {
        kind: "a2a",
        uri: "a2a://agents.example.com/triage",
        authority: "agents.example.com",
        host: "agents.example.com",
        port: null,
        path: "/triage",
      },
    ],
    [
      "a2a://127.0.0.1:9999/agent",
      {
        kind: "a2a",
        uri: "a2a://127.0.0.1:9999/agent",
        authority: "127.0.0.1:9999",
        host: "127.0.0.1",
        port: 9999,
        path: "/agent",
      },
    ],
    [
      "a2a://[::1]:8443",
      { kind: "a2a", uri: "a2a://[::1]:8443", authority: "[::1]:8443", host: "[::1]", port: 8443, path: "/" },
    ],
    [
      "a2a://Agents.Example.com/x",
      {
        kind: "a2a",
        uri: "a2a://Agents.Example.com/x",
        authority: "Agents.Example.com",
        host: "agents.example.com",
        port: null,
        path: "/x",
      },
    ],
    ["worker://emails", { kind: "worker", uri: "worker://emails", queue: "emails" }],
    ["worker://jobs.v2-high_pri", { kind: "worker", uri: "worker://jobs.v2-high_pri", queue: "jobs.v2-high_pri" }],
    ["persona://ops-bot", { kind: "persona", uri: "persona://ops-bot", name: "ops-bot" }],
  ])("%s", (uri, expected) => {
    expect(parseHandlerUri(uri)).toEqual({ ok: true, value: expected });
  });
});

describe("parseHandlerUri: invalid", () => {
  it.each<[string, string]>([
    ["", "handler URI cannot be empty"],
    ["   ", "handler URI cannot be empty"],
    ["a2a://", "a2a handler URI target cannot be empty"],
    ["worker://", "worker handler URI target cannot be empty"],
    ["persona://", "persona handler URI target cannot be empty"],
    ["service://", "service handler URI target cannot be empty"],
    ["https://", "https handler URI target cannot be empty"],
    ["ftp://files.example.com/x", "unsupported handler URI scheme 'ftp'"],
    ["mailto:ops@example.com", "unsupported handler URI scheme 'mailto'"],
    ["example.com/hook", "handler URI must have a scheme (https://, service://, a2a://, worker://, persona://)"],
    ["//example.com/hook", "handler URI must have a scheme (https://, service://, a2a://, worker://, persona://)"],
    ["worker:emails", "worker handler URI must start with 'worker://'"],
    ["https:/example.com", "https handler URI must start with 'https://'"],
    [" https://example.com", "handler URI must not contain whitespace"],
    ["https://exa mple.com", "handler URI must not contain whitespace"],
    [`https://example.com/${"a".repeat(2048)}`, "handler URI is too long (max 2048 characters)"],
    ["https:///path", "handler URL 'https:///path' must have a host"],
    ["https://exa%mple.com", "invalid handler URL 'https://exa%mple.com'"],
    ["https://example.com:99999/", "invalid handler URL 'https://example.com:99999/'"],
    ["service:///path", "service handler URI must name a binding: service://BINDING/path"],
    ["service://1ECHO/x", "invalid service binding name '1ECHO': must match [A-Za-z_][A-Za-z0-9_]*"],
    ["service://ECHO-2/x", "invalid service binding name 'ECHO-2': must match [A-Za-z_][A-Za-z0-9_]*"],
    ["worker://-jobs", "invalid worker queue name '-jobs': must match [A-Za-z0-9][A-Za-z0-9._-]{0,127}"],
    ["worker://jobs/x", "invalid worker queue name 'jobs/x': must match [A-Za-z0-9][A-Za-z0-9._-]{0,127}"],
    [
      `worker://${"q".repeat(129)}`,
      `invalid worker queue name '${"q".repeat(129)}': must match [A-Za-z0-9][A-Za-z0-9._-]{0,127}`,
    ],
    ["persona://a@b", "invalid persona name 'a@b': must match [A-Za-z0-9][A-Za-z0-9._-]{0,127}"],
    ["a2a://host/agent?x=1", "a2a handler URI must not have a query or fragment"],
    ["a2a:///agent", "invalid a2a authority '': expected host[:port]"],
    ["a2a://user@host/agent", "invalid a2a authority 'user@host': expected host[:port]"],
    ["a2a://host:abc/agent", "invalid a2a authority 'host:abc': expected host[:port]"],
    ["a2a://host:0/agent", "invalid a2a port '0': must be 1-65535"],
    ["a2a://host:70000/agent", "invalid a2a port '70000': must be 1-65535"],
    ["a2a://ho%st/agent", "invalid a2a host 'ho%st'"],
  ])("%j → %s", (uri, message) => {
    expect(parseHandlerUri(uri)).toEqual({ ok: false, message });
  });
});

describe("handlerUriSchema", () => {
  it("accepts a valid URI unchanged", () => {
    expect(handlerUriSchema.parse("worker://emails")).toBe("worker://emails");
  });

  it.each<[unknown, string]>([
    ["", "handler URI cannot be empty"],
    ["gopher://x", "unsupported handler URI scheme 'gopher'"],
  ])("reports parseHandlerUri's message for %j", (input, message) => {
    expect(handlerUriSchema.safeParse(input).error?.issues.map((i) => i.message)).toEqual([message]);
  });

  it("rejects non-strings", () => {
    expect(handlerUriSchema.safeParse(42).success).toBe(false);
  });
});

describe("destinationKey", () => {
  it.each<[string, string]>([
    ["a2a://agents.example.com/triage", "a2a:a2a://agents.example.com/triage"],
    ["a2a://Agents.Example.com:8443/triage", "a2a:a2a://agents.example.com:8443/triage"],
    ["a2a://agents.example.com", "a2a:a2a://agents.example.com/"],
    ["https://hooks.example.com/in", "https:https://hooks.example.com/in"],
    // credentials, query and fragment are dropped; default port and case normalised
    ["https://user:secret@Hooks.Example.com:443/in?token=abc#x", "https:https://hooks.example.com/in"],
    ["http://127.0.0.1:8080/h/x", "https:http://127.0.0.1:8080/h/x"],
    ["service://ECHO/path", "service:service://ECHO/path"],
    ["SERVICE://ECHO", "service:service://ECHO/"],
    ["worker://emails", "worker:worker://emails"],
    ["persona://ops-bot", "persona:persona://ops-bot"],
  ])("%s → %s", (uri, key) => {
    const parsed = parseHandlerUri(uri);
    if (!parsed.ok) throw new Error(parsed.message);
    expect(destinationKey(parsed.value)).toBe(key);
  });
});
