import { A2A_PROTOCOL_VERSION, A2A_VERSION_HEADER, AGENT_CARD_PATH } from "@a2a-js/sdk";
import {
  A2A_LEGACY_PROTOCOL_VERSION,
  LEGACY_METHOD_MESSAGE_SEND,
  legacyJsonRpcToV1Method,
} from "@a2a-js/sdk/compat/v0_3";
import { describe, expect, it } from "vitest";
import type { HandlerResult } from "../../../src/contracts/dispatch";
import type { TriggerEvent } from "../../../src/contracts/events";
import { parseHandlerUri } from "../../../src/contracts/handler-uri";
import { type A2aDeps, runA2aAttempt } from "../../../src/handlers/a2a";
import {
  type A2aTarget,
  AGENT_CARD_PATHS,
  agentCardUrls,
  discoverySchemes,
  type ParsedAgentCard,
  parseAgentCard,
  sameAuthority,
  selectJsonRpcInterface,
  targetAgentLabel,
  wireVersionOf,
} from "../../../src/handlers/a2a-card";
import {
  buildSendMessageRequest,
  mapSendMessageAnswer,
  parseTextResult,
  SEND_MESSAGE_METHOD,
  type SendMessageAnswer,
} from "../../../src/handlers/a2a-protocol";
import { type AttemptContext, dispatchEnvelope } from "../../../src/handlers/envelope";

function target(uri: string): A2aTarget {
  const parsed = parseHandlerUri(uri);
  if (!parsed.ok || parsed.value.kind !== "a2a") throw new Error(`not an a2a uri: ${uri}`);
  return parsed.value;
}

const ctx: AttemptContext = {
  dispatch_id: "b1@1|evt_1",
  binding_key: "b1@1",
  binding_id: "b1",
  event_id: "evt_1",
  trace_id: "trace_abc",
  attempt: 2,
  replay_of_event_id: null,
  autonomy_tier: "act_auto",
  timeout_ms: 5_000,
  signing_secret: "secret",
  handler: "a2a://agents.example.com/triage",
  binding_version: 1,
  allow_cleartext: false,
  dispatch_priority: "normal",
};

const event: TriggerEvent = {
  id: "evt_1",
  provider: "github",
  kind: "issues.opened",
  received_at: "2026-01-01T00:00:00.000Z",
  occurred_at: null,
  dedupe_key: "d1",
  trace_id: "trace_abc",
  tenant_id: null,
  headers: {},
  payload: { issue: 7 },
  signature_status: { state: "unsigned" },
};

const cardUrl = new URL("https://agents.example.com/.well-known/agent-card.json");

/** A 1.0 card as the SDK serves it (proto-JSON AgentCard). */
const v1Card = {
  name: "Triage",
  description: "triages",
  supportedInterfaces: [
    { url: "https://agents.example.com/a2a/rest", protocolBinding: "HTTP+JSON", tenant: "", protocolVersion: "1.0" },
    { url: "https://agents.example.com/a2a/jsonrpc", protocolBinding: "JSONRPC", tenant: "", protocolVersion: "1.0" },
    { url: "agents.example.com:443", protocolBinding: "GRPC", tenant: "", protocolVersion: "1.0" },
  ],
  version: "1.0.0",
  capabilities: { streaming: true },
  skills: [],
};

/** A 0.3 card (JSON-Schema AgentCard of the 0.3 spec). */
const v03Card = {
  name: "Legacy",
  protocolVersion: "0.3.0",
  url: "https://agents.example.com/rpc",
  preferredTransport: "JSONRPC",
  additionalInterfaces: [
    { url: "https://agents.example.com/rpc", transport: "JSONRPC" },
    { url: "https://agents.example.com/rest", transport: "HTTP+JSON" },
  ],
  capabilities: {},
  skills: [],
};

function parsedCard(raw: unknown): ParsedAgentCard {
  const parsed = parseAgentCard(raw);
  if (!parsed.ok) throw new Error(parsed.error);
  return parsed.card;
}

describe("SDK constants this module mirrors", () => {
  it("match @a2a-js/sdk", () => {
    expect(SEND_MESSAGE_METHOD["0.3"]).toBe(LEGACY_METHOD_MESSAGE_SEND);
    expect(SEND_MESSAGE_METHOD["1.0"]).toBe(legacyJsonRpcToV1Method(LEGACY_METHOD_MESSAGE_SEND));
    expect(wireVersionOf(A2A_PROTOCOL_VERSION)).toBe(A2A_PROTOCOL_VERSION);
    expect(wireVersionOf(A2A_LEGACY_PROTOCOL_VERSION)).toBe(A2A_LEGACY_PROTOCOL_VERSION);
    expect(AGENT_CARD_PATHS[0]).toBe(`/${AGENT_CARD_PATH}`);
    const request = buildSendMessageRequest("1.0", ctx, event);
    expect(Object.keys(request.headers)).toContain(A2A_VERSION_HEADER);
  });
});

describe("parseAgentCard", () => {
  it("reads a 1.0 card's supportedInterfaces", () => {
    expect(parsedCard(v1Card)).toEqual({
      name: "Triage",
      shape: "1.0",
      interfaces: [
        { url: "https://agents.example.com/a2a/rest", protocolBinding: "HTTP+JSON", protocolVersion: "1.0" },
        { url: "https://agents.example.com/a2a/jsonrpc", protocolBinding: "JSONRPC", protocolVersion: "1.0" },
        { url: "agents.example.com:443", protocolBinding: "GRPC", protocolVersion: "1.0" },
      ],
    });
  });

  it("gives 1.0 interfaces without a version the card's version, else 1.0", () => {
    const bare = { supportedInterfaces: [{ url: "https://a.example/rpc", protocolBinding: "JSONRPC" }] };
    expect(parsedCard(bare).interfaces[0]?.protocolVersion).toBe("1.0");
    expect(parsedCard({ ...bare, protocolVersion: "0.3" }).interfaces[0]?.protocolVersion).toBe("0.3");
  });

  it("reads a 0.3 card's url, preferredTransport and additionalInterfaces", () => {
    expect(parsedCard(v03Card)).toEqual({
      name: "Legacy",
      shape: "0.3",
      interfaces: [
        { url: "https://agents.example.com/rpc", protocolBinding: "JSONRPC", protocolVersion: "0.3.0" },
        { url: "https://agents.example.com/rpc", protocolBinding: "JSONRPC", protocolVersion: "0.3.0" },
        { url: "https://agents.example.com/rest", protocolBinding: "HTTP+JSON", protocolVersion: "0.3.0" },
      ],
    });
  });

  it("reads a 0.3-shaped card without version or transport as 0.3 JSON-RPC (as the SDK does)", () => {
    expect(parsedCard({ url: "https://a.example/rpc" }).interfaces).toEqual([
      { url: "https://a.example/rpc", protocolBinding: "JSONRPC", protocolVersion: "0.3" },
    ]);
  });

  it("reads a hybrid card (0.3 fields plus supportedInterfaces) through supportedInterfaces", () => {
    const hybrid = { ...v03Card, protocolVersion: "0.3", supportedInterfaces: v1Card.supportedInterfaces };
    const card = parsedCard(hybrid);
    expect(card.shape).toBe("1.0");
    expect(card.interfaces.map((i) => i.url)).toEqual(v1Card.supportedInterfaces.map((i) => i.url));
  });

  it("skips malformed interface entries instead of rejecting the card", () => {
    const card = parsedCard({
      supportedInterfaces: [{ url: 7 }, "x", { url: "https://a.example/rpc", protocolBinding: "JSONRPC" }],
    });
    expect(card.interfaces).toHaveLength(1);
  });

  it.each([
    ["a string", "card", "agent card is not a JSON object"],
    ["an array", [v1Card], "agent card is not a JSON object"],
    ["no interfaces", { name: "x" }, "agent card lists no interfaces (neither supportedInterfaces nor url)"],
    ["a malformed field", { name: 5, url: "https://a.example" }, "agent card field 'name' is malformed"],
  ])("rejects %s", (_label, raw, error) => {
    expect(parseAgentCard(raw)).toEqual({ ok: false, error });
  });
});

describe("protocol versions and discovery URLs", () => {
  it.each([
    ["1.0", "1.0"],
    ["1.0.0", "1.0"],
    ["1.2", "1.0"],
    ["0.3", "0.3"],
    ["0.3.0", "0.3"],
    ["0.2.5", "0.3"],
    ["v0.3", "0.3"],
    ["", "1.0"],
    ["latest", "1.0"],
  ])("%j speaks %s", (declared, wire) => {
    expect(wireVersionOf(declared)).toBe(wire);
  });

  it("tries https, and http only with allow_cleartext", () => {
    expect(discoverySchemes(false)).toEqual(["https"]);
    expect(discoverySchemes(true)).toEqual(["https", "http"]);
  });

  it("looks for the card at the authority's root, current path first, then the legacy one", () => {
    expect(agentCardUrls(target("a2a://Agents.Example.com:8443/triage"), "https").map((u) => u.href)).toEqual([
      "https://agents.example.com:8443/.well-known/agent-card.json",
      "https://agents.example.com:8443/.well-known/agent.json",
    ]);
    expect(agentCardUrls(target("a2a://[::1]:9000"), "http")[0]?.href).toBe(
      "http://[::1]:9000/.well-known/agent-card.json",
    );
  });

  it("labels the target agent by its path, else its authority", () => {
    expect(targetAgentLabel(target("a2a://agents.example.com/triage"))).toBe("triage");
    expect(targetAgentLabel(target("a2a://agents.example.com/team/triage"))).toBe("team/triage");
    expect(targetAgentLabel(target("a2a://agents.example.com:8443"))).toBe("agents.example.com:8443");
  });
});

describe("sameAuthority", () => {
  it.each([
    ["a2a://agents.example.com/x", "https://AGENTS.example.com/rpc", true],
    ["a2a://agents.example.com/x", "https://agents.example.com:443/rpc", true],
    ["a2a://agents.example.com:443/x", "https://agents.example.com/rpc", true],
    ["a2a://agents.example.com/x", "http://agents.example.com/rpc", true],
    ["a2a://agents.example.com/x", "https://agents.example.com:8443/rpc", false],
    ["a2a://agents.example.com:8443/x", "https://agents.example.com/rpc", false],
    ["a2a://agents.example.com/x", "https://evil.example.com/rpc", false],
    ["a2a://agents.example.com/x", "https://agents.example.com.evil.net/rpc", false],
    ["a2a://127.0.0.1:4100/x", "http://localhost:4100/rpc", true],
    ["a2a://localhost:4100/x", "http://[::1]:4100/rpc", true],
    ["a2a://127.0.0.1:4100/x", "http://localhost:4101/rpc", false],
    ["a2a://127.0.0.1:4100/x", "http://10.0.0.5:4100/rpc", false],
  ])("%s vs %s → %s", (uri, url, same) => {
    expect(sameAuthority(target(uri), new URL(url))).toBe(same);
  });
});

describe("selectJsonRpcInterface", () => {
  const t = target("a2a://agents.example.com/triage");

  it("picks the JSONRPC interface of a 1.0 card", () => {
    expect(selectJsonRpcInterface(parsedCard(v1Card), cardUrl, t, false)).toEqual({
      ok: true,
      selected: { url: new URL("https://agents.example.com/a2a/jsonrpc"), version: "1.0", declared: "1.0" },
    });
  });

  it("picks the JSONRPC interface of a 0.3 card and speaks 0.3", () => {
    expect(selectJsonRpcInterface(parsedCard(v03Card), cardUrl, t, false)).toEqual({
      ok: true,
      selected: { url: new URL("https://agents.example.com/rpc"), version: "0.3", declared: "0.3.0" },
    });
  });

  it("prefers 1.0 over 0.3 whatever the card order", () => {
    const card = parsedCard({
      supportedInterfaces: [
        { url: "https://agents.example.com/v03", protocolBinding: "JSONRPC", protocolVersion: "0.3" },
        { url: "https://agents.example.com/v1", protocolBinding: "JSONRPC", protocolVersion: "1.0" },
      ],
    });
    const selection = selectJsonRpcInterface(card, cardUrl, t, false);
    expect(selection.ok && selection.selected.url.pathname).toBe("/v1");
  });

  it("resolves a relative interface URL against the card URL", () => {
    const card = parsedCard({ supportedInterfaces: [{ url: "/rpc", protocolBinding: "jsonrpc" }] });
    const selection = selectJsonRpcInterface(card, cardUrl, t, false);
    expect(selection.ok && selection.selected.url.href).toBe("https://agents.example.com/rpc");
  });

  it("refuses an interface on another authority (policy)", () => {
    const card = parsedCard({
      supportedInterfaces: [{ url: "https://evil.example.com/rpc", protocolBinding: "JSONRPC" }],
    });
    expect(selectJsonRpcInterface(card, cardUrl, t, false)).toEqual({
      ok: false,
      reason: "policy",
      error:
        "A2A agent card authority mismatch: target 'agents.example.com', JSONRPC interface 'https://evil.example.com/rpc'",
    });
  });

  it("falls through to a usable interface when the preferred one is elsewhere", () => {
    const card = parsedCard({
      supportedInterfaces: [
        { url: "https://evil.example.com/rpc", protocolBinding: "JSONRPC", protocolVersion: "1.0" },
        { url: "https://agents.example.com/v03", protocolBinding: "JSONRPC", protocolVersion: "0.3" },
      ],
    });
    const selection = selectJsonRpcInterface(card, cardUrl, t, false);
    expect(selection.ok && selection.selected).toMatchObject({ version: "0.3" });
  });

  it("refuses an https→http interface unless the binding allows cleartext", () => {
    const card = parsedCard({
      supportedInterfaces: [{ url: "http://agents.example.com/rpc", protocolBinding: "JSONRPC" }],
    });
    expect(selectJsonRpcInterface(card, cardUrl, t, false)).toEqual({
      ok: false,
      reason: "policy",
      error:
        "cleartext A2A JSONRPC interface 'http://agents.example.com/rpc' requires allow_cleartext: true on the binding",
    });
    expect(selectJsonRpcInterface(card, cardUrl, t, true).ok).toBe(true);
  });

  it("reports a card without a JSONRPC interface (card problem, not policy)", () => {
    const card = parsedCard({
      supportedInterfaces: [{ url: "https://agents.example.com/rest", protocolBinding: "HTTP+JSON" }],
    });
    expect(selectJsonRpcInterface(card, cardUrl, t, false)).toEqual({
      ok: false,
      reason: "card",
      error: `A2A agent card at ${cardUrl.href} has no JSONRPC interface (found HTTP+JSON)`,
    });
  });

  it("reports an unusable interface URL as a card problem", () => {
    const card = parsedCard({
      supportedInterfaces: [{ url: "grpc://agents.example.com", protocolBinding: "JSONRPC" }],
    });
    expect(selectJsonRpcInterface(card, cardUrl, t, false)).toMatchObject({ ok: false, reason: "card" });
  });
});

describe("buildSendMessageRequest", () => {
  const text = JSON.stringify(dispatchEnvelope(ctx, event));

  it("1.0: SendMessage with a ROLE_USER message and one {text} part", () => {
    expect(buildSendMessageRequest("1.0", ctx, event)).toEqual({
      method: "SendMessage",
      headers: { "A2A-Version": "1.0", "A2A-Trace-Id": "trace_abc" },
      body: {
        jsonrpc: "2.0",
        id: "trace_abc.evt_1",
        method: "SendMessage",
        params: {
          message: { messageId: "trace_abc.evt_1", contextId: "trace_abc", role: "ROLE_USER", parts: [{ text }] },
        },
      },
    });
  });

  it("0.3: message/send with kind discriminators and role user", () => {
    expect(buildSendMessageRequest("0.3", ctx, event)).toEqual({
      method: "message/send",
      headers: { "A2A-Version": "0.3", "A2A-Trace-Id": "trace_abc" },
      body: {
        jsonrpc: "2.0",
        id: "trace_abc.evt_1",
        method: "message/send",
        params: {
          message: {
            kind: "message",
            messageId: "trace_abc.evt_1",
            contextId: "trace_abc",
            role: "user",
            parts: [{ kind: "text", text }],
          },
        },
      },
    });
  });

  it("keeps the message id across attempts; the envelope carries the attempt", () => {
    const first = buildSendMessageRequest("1.0", { ...ctx, attempt: 1 }, event);
    const third = buildSendMessageRequest("1.0", { ...ctx, attempt: 3 }, event);
    expect(first.body.params.message.messageId).toBe(third.body.params.message.messageId);
    const part = (third.body.params.message.parts as { text: string }[])[0];
    expect(JSON.parse(part?.text ?? "")).toMatchObject({ type: "switchyard.dispatch", attempt: 3, event });
  });
});

describe("parseTextResult", () => {
  it.each([
    ['{"a":1}', { a: 1 }],
    [' {"a":1}\n', { a: 1 }],
    ["42", 42],
    ["all good", "all good"],
    ["", ""],
  ])("%j → %j", (text, value) => {
    expect(parseTextResult(text)).toEqual(value);
  });
});

describe("mapSendMessageAnswer", () => {
  const now = Date.parse("2026-01-01T00:00:00Z");
  const answer = (body: unknown, status = 200, headers: Record<string, string> = {}): SendMessageAnswer => ({
    status,
    headers: new Headers(headers),
    bodyText: typeof body === "string" ? body : JSON.stringify(body),
    now,
    target_agent: "triage",
    rpc_url: "https://agents.example.com/rpc",
    version: "1.0",
  });
  const rpc = (result: unknown) => ({ jsonrpc: "2.0", id: "trace_abc.evt_1", result });
  const agentV1 = (text: string) => ({ messageId: "m", role: "ROLE_AGENT", parts: [{ text }] });
  const agentV03 = (text: string) => ({
    kind: "message",
    messageId: "m",
    role: "agent",
    parts: [{ kind: "text", text }],
  });
  const userV1 = { messageId: "u", role: "ROLE_USER", parts: [{ text: '{"type":"switchyard.dispatch"}' }] };

  it("1.0 completed task → success with the agent's JSON text parsed", () => {
    const task = {
      id: "t1",
      contextId: "trace_abc",
      status: { state: "TASK_STATE_COMPLETED", message: agentV1('{"label":"bug"}') },
      history: [userV1, agentV1('{"label":"bug"}')],
    };
    expect(mapSendMessageAnswer(answer(rpc({ task })))).toEqual({
      kind: "success",
      result: { label: "bug" },
      status_code: 200,
    });
  });

  it("0.3 completed task → success; non-JSON text stays text", () => {
    const task = { kind: "task", id: "t1", status: { state: "completed", message: agentV03("labelled as bug") } };
    expect(mapSendMessageAnswer(answer(rpc(task)))).toMatchObject({ kind: "success", result: "labelled as bug" });
  });

  it("takes the last agent message of the history when the status has none", () => {
    const task = {
      id: "t1",
      status: { state: "TASK_STATE_COMPLETED" },
      history: [userV1, agentV1('{"n":1}'), userV1, agentV1('{"n":2}'), userV1],
    };
    expect(mapSendMessageAnswer(answer(rpc({ task })))).toMatchObject({ result: { n: 2 } });
  });

  it("joins the text parts of the message", () => {
    const message = { messageId: "m", role: "ROLE_AGENT", parts: [{ text: '{"a":' }, { text: "1}" }] };
    const task = { id: "t1", status: { state: "TASK_STATE_COMPLETED", message } };
    expect(mapSendMessageAnswer(answer(rpc({ task })))).toMatchObject({ result: { a: 1 } });
  });

  it("prefers the artifacts' text to the agent's message, then their data, then null", () => {
    const withArtifacts = {
      id: "t1",
      status: { state: "TASK_STATE_COMPLETED", message: agentV1("a note") },
      history: [userV1],
      artifacts: [
        { artifactId: "a1", parts: [{ text: '{"ok":' }] },
        { artifactId: "a2", parts: [{ text: "1}" }, { data: { ignored: true } }] },
      ],
    };
    expect(mapSendMessageAnswer(answer(rpc({ task: withArtifacts })))).toMatchObject({ result: { ok: 1 } });
    const dataOnly = {
      id: "t1",
      status: { state: "TASK_STATE_COMPLETED", message: agentV1("a note") },
      artifacts: [
        { artifactId: "a1", parts: [{ data: { n: 1 } }] },
        { artifactId: "a2", parts: [{ data: { n: 2 } }] },
      ],
    };
    expect(mapSendMessageAnswer(answer(rpc({ task: dataOnly })))).toMatchObject({ result: { n: 2 } });
    const bare = { id: "t1", status: { state: "TASK_STATE_COMPLETED" }, history: [userV1] };
    expect(mapSendMessageAnswer(answer(rpc({ task: bare })))).toMatchObject({ kind: "success", result: null });
  });

  it("a direct message (1.0 and 0.3) → success with its content", () => {
    expect(mapSendMessageAnswer(answer(rpc({ message: agentV1('{"ok":true}') })))).toEqual({
      kind: "success",
      result: { ok: true },
      status_code: 200,
    });
    expect(mapSendMessageAnswer(answer(rpc(agentV03("done"))))).toMatchObject({ kind: "success", result: "done" });
    const data = { kind: "message", messageId: "m", role: "agent", parts: [{ kind: "data", data: { x: 1 } }] };
    expect(mapSendMessageAnswer(answer(rpc(data)))).toMatchObject({ result: { x: 1 } });
  });

  it("1.0 working task → waiting with a pending handle keeping TASK_STATE_WORKING", () => {
    const task = { id: "t9", status: { state: "TASK_STATE_WORKING", message: agentV1("still thinking") } };
    expect(mapSendMessageAnswer(answer(rpc({ task })))).toEqual({
      kind: "waiting",
      message: "A2A task t9 is TASK_STATE_WORKING: still thinking",
      result: {
        kind: "a2a_task_handle",
        task_id: "t9",
        state: "TASK_STATE_WORKING",
        target_agent: "triage",
        rpc_url: "https://agents.example.com/rpc",
      },
      status_code: 200,
      follow: { task_id: "t9", rpc_url: "https://agents.example.com/rpc", version: "1.0", target_agent: "triage" },
    });
  });

  it.each([["working"], ["submitted"], ["TASK_STATE_SUBMITTED"], ["unknown"], ["TASK_STATE_SOMETHING_NEW"]])(
    "a running state (%s) → waiting with the agent's spelling, followed",
    (state) => {
      const result = mapSendMessageAnswer(answer(rpc({ kind: "task", id: "t2", status: { state } })));
      expect(result).toMatchObject({
        kind: "waiting",
        message: `A2A task t2 is ${state}`,
        result: { state },
        follow: { task_id: "t2" },
      });
    },
  );

  it.each([["input-required"], ["TASK_STATE_INPUT_REQUIRED"], ["auth-required"], ["TASK_STATE_AUTH_REQUIRED"]])(
    "%s → waiting for an operator, not followed",
    (state) => {
      const result = mapSendMessageAnswer(answer(rpc({ kind: "task", id: "t2", status: { state } })));
      expect(result).toMatchObject({ kind: "waiting", result: { state } });
      expect(result).not.toHaveProperty("follow");
    },
  );

  it.each([["failed"], ["TASK_STATE_FAILED"], ["rejected"], ["TASK_STATE_REJECTED"]])(
    "%s → a final failure with the agent's status message",
    (state) => {
      const withMessage = { kind: "task", id: "t3", status: { state, message: agentV03("quota exhausted") } };
      expect(mapSendMessageAnswer(answer(rpc(withMessage)))).toEqual({
        kind: "failed",
        error: "quota exhausted",
        status_code: 200,
      });
      const bare = { kind: "task", id: "t3", status: { state } };
      expect(mapSendMessageAnswer(answer(rpc(bare)))).toMatchObject({
        kind: "failed",
        error: `A2A task t3 ended ${state} without a message`,
      });
    },
  );

  it.each([["canceled"], ["TASK_STATE_CANCELED"]])("%s → cancelled", (state) => {
    expect(mapSendMessageAnswer(answer(rpc({ kind: "task", id: "t4", status: { state } })))).toEqual({
      kind: "cancelled",
      error: "A2A task t4 was canceled by the agent",
      status_code: 200,
    });
  });

  it("non-2xx → retryable 'A2A task dispatch returned HTTP <status>'", () => {
    expect(mapSendMessageAnswer(answer({ error: "boom" }, 500))).toEqual({
      kind: "retryable",
      error: "A2A task dispatch returned HTTP 500",
      cause: { kind: "http_status", status: 500 },
      status_code: 500,
      retry_after_ms: null,
    });
    expect(mapSendMessageAnswer(answer("", 503, { "retry-after": "30" }))).toMatchObject({
      error: "A2A task dispatch returned HTTP 503",
      retry_after_ms: 30_000,
    });
    expect(mapSendMessageAnswer(answer("", 302))).toMatchObject({ kind: "retryable", status_code: 302 });
  });

  it("JSON-RPC error → retryable 'A2A task dispatch failed: <message>'", () => {
    const body = { jsonrpc: "2.0", id: "x", error: { code: -32009, message: "version 1.0 is not supported" } };
    expect(mapSendMessageAnswer(answer(body))).toEqual({
      kind: "retryable",
      error: "A2A task dispatch failed: version 1.0 is not supported",
      cause: { kind: "protocol" },
      status_code: 200,
      retry_after_ms: null,
    });
    expect(mapSendMessageAnswer(answer({ error: { code: -32601 } }))).toMatchObject({
      error: "A2A task dispatch failed: JSON-RPC error -32601",
    });
  });

  it.each([
    ["not JSON", "<html>", "A2A task dispatch returned a response that is not JSON"],
    ["no result", { jsonrpc: "2.0", id: 1 }, "A2A task dispatch response has no result"],
    ["a task without id", rpc({ task: { status: { state: "working" } } }), "A2A task response has no task id"],
    ["a task without state", rpc({ task: { id: "t", status: {} } }), "A2A task t has no status.state"],
    ["something else", rpc({ hello: 1 }), "A2A task dispatch result is neither a task nor a message"],
  ])("%s → retryable protocol error", (_label, body, error) => {
    expect(mapSendMessageAnswer(answer(body))).toMatchObject({ kind: "retryable", error, cause: { kind: "protocol" } });
  });
});

// ---- the I/O flow against a scripted network -----------------------------------------------------

type Route = (request: Request) => Response | Promise<Response>;

function network(routes: Record<string, Route>) {
  const seen: Request[] = [];
  const fetch = async (request: Request) => {
    seen.push(request.clone());
    const route = routes[`${request.method} ${request.url}`];
    if (!route) throw new Error("Network connection lost.");
    return route(request);
  };
  return { seen, fetch, urls: () => seen.map((r) => `${r.method} ${r.url}`) };
}

const json = (body: unknown, status = 200) =>
  new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });

const completedV1 = (request: Request) =>
  request.json().then((body) =>
    json({
      jsonrpc: "2.0",
      id: (body as { id: string }).id,
      result: {
        task: {
          id: "t1",
          status: { state: "TASK_STATE_COMPLETED", message: { role: "ROLE_AGENT", parts: [{ text: '{"ok":1}' }] } },
        },
      },
    }),
  );

async function run(
  net: ReturnType<typeof network>,
  uri: string,
  overrides: Partial<AttemptContext> = {},
  depsOverrides: Partial<A2aDeps> = {},
  signal?: AbortSignal,
): Promise<HandlerResult> {
  const deps: A2aDeps = { fetch: net.fetch, now: () => 0, allowPrivate: true, ...depsOverrides };
  return runA2aAttempt(deps, { ...ctx, handler: uri, ...overrides }, event, target(uri), signal);
}

describe("runA2aAttempt", () => {
  const base = "https://agents.example.com";
  const v1CardOnly = {
    supportedInterfaces: [{ url: `${base}/a2a/jsonrpc`, protocolBinding: "JSONRPC", protocolVersion: "1.0" }],
  };

  it("discovers the card, calls SendMessage with the A2A headers and maps the answer", async () => {
    const net = network({
      [`GET ${base}/.well-known/agent-card.json`]: () => json(v1CardOnly),
      [`POST ${base}/a2a/jsonrpc`]: completedV1,
    });
    expect(await run(net, "a2a://agents.example.com/triage")).toEqual({
      kind: "success",
      result: { ok: 1 },
      status_code: 200,
    });
    const [cardRequest, rpcRequest] = net.seen;
    expect(cardRequest?.headers.get("a2a-version")).toBe("1.0");
    expect(cardRequest?.redirect).toBe("manual");
    expect(rpcRequest?.headers.get("a2a-version")).toBe("1.0");
    expect(rpcRequest?.headers.get("a2a-trace-id")).toBe("trace_abc");
    expect(rpcRequest?.headers.get("content-type")).toBe("application/json");
    expect(rpcRequest?.headers.get("traceparent")).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    expect(await rpcRequest?.json()).toMatchObject({
      method: "SendMessage",
      params: { message: { contextId: "trace_abc" } },
    });
  });

  it("falls back to the legacy card path and speaks 0.3 to a 0.3 card", async () => {
    const net = network({
      [`GET ${base}/.well-known/agent-card.json`]: () => new Response("nope", { status: 404 }),
      [`GET ${base}/.well-known/agent.json`]: () => json(v03Card),
      [`POST ${base}/rpc`]: () =>
        json({ jsonrpc: "2.0", id: "x", result: { kind: "task", id: "t3", status: { state: "working" } } }),
    });
    const result = await run(net, "a2a://agents.example.com/triage");
    expect(result).toMatchObject({
      kind: "waiting",
      result: {
        kind: "a2a_task_handle",
        task_id: "t3",
        state: "working",
        rpc_url: `${base}/rpc`,
        target_agent: "triage",
      },
    });
    expect(net.urls()).toEqual([
      `GET ${base}/.well-known/agent-card.json`,
      `GET ${base}/.well-known/agent.json`,
      `POST ${base}/rpc`,
    ]);
    expect(net.seen[2]?.headers.get("a2a-version")).toBe("0.3");
    expect(await net.seen[2]?.json()).toMatchObject({ method: "message/send" });
  });

  it("never opens a cleartext connection without allow_cleartext, and says why discovery failed", async () => {
    const net = network({ "GET http://127.0.0.1:4100/.well-known/agent-card.json": () => json(v1CardOnly) });
    const result = await run(net, "a2a://127.0.0.1:4100/agent");
    expect(result).toEqual({
      kind: "retryable",
      error:
        "A2A agent card discovery failed for 127.0.0.1:4100: GET https://127.0.0.1:4100/.well-known/agent-card.json: " +
        "network error: Network connection lost.; cleartext http is not tried because the binding does not set " +
        "allow_cleartext: true",
      cause: { kind: "network" },
      retry_after_ms: null,
    });
    expect(net.urls()).toEqual(["GET https://127.0.0.1:4100/.well-known/agent-card.json"]);
  });

  it("with allow_cleartext, falls back to http when https cannot connect", async () => {
    const local = "http://127.0.0.1:4100";
    const net = network({
      [`GET ${local}/.well-known/agent-card.json`]: () =>
        json({ supportedInterfaces: [{ url: `http://localhost:4100/rpc`, protocolBinding: "JSONRPC" }] }),
      "POST http://localhost:4100/rpc": completedV1,
    });
    expect(await run(net, "a2a://127.0.0.1:4100/agent", { allow_cleartext: true })).toMatchObject({
      kind: "success",
      result: { ok: 1 },
    });
    expect(net.urls()).toEqual([
      "GET https://127.0.0.1:4100/.well-known/agent-card.json",
      `GET ${local}/.well-known/agent-card.json`,
      "POST http://localhost:4100/rpc",
    ]);
  });

  it("does not downgrade to http when the agent answered over https", async () => {
    const net = network({
      [`GET ${base}/.well-known/agent-card.json`]: () => new Response("", { status: 404 }),
      [`GET ${base}/.well-known/agent.json`]: () => new Response("", { status: 503 }),
    });
    const result = await run(net, "a2a://agents.example.com/triage", { allow_cleartext: true });
    expect(result).toEqual({
      kind: "retryable",
      error:
        `A2A agent card discovery failed for agents.example.com: GET ${base}/.well-known/agent-card.json returned ` +
        `HTTP 404; GET ${base}/.well-known/agent.json returned HTTP 503`,
      cause: { kind: "http_status", status: 503 },
      retry_after_ms: null,
    });
    expect(net.urls().every((u) => u.startsWith("GET https://"))).toBe(true);
  });

  it("refuses an https card's http interface without allow_cleartext (invalid, nothing sent)", async () => {
    const net = network({
      [`GET ${base}/.well-known/agent-card.json`]: () =>
        json({ supportedInterfaces: [{ url: "http://agents.example.com/rpc", protocolBinding: "JSONRPC" }] }),
    });
    expect(await run(net, "a2a://agents.example.com/triage")).toEqual({
      kind: "invalid",
      error:
        "cleartext A2A JSONRPC interface 'http://agents.example.com/rpc' requires allow_cleartext: true on the binding",
    });
    expect(net.seen).toHaveLength(1);
  });

  it("refuses an interface on another authority (invalid, nothing sent)", async () => {
    const net = network({
      [`GET ${base}/.well-known/agent-card.json`]: () =>
        json({ supportedInterfaces: [{ url: "https://elsewhere.example.net/rpc", protocolBinding: "JSONRPC" }] }),
    });
    expect(await run(net, "a2a://agents.example.com/triage")).toMatchObject({
      kind: "invalid",
      error: expect.stringContaining("authority mismatch"),
    });
    expect(net.seen).toHaveLength(1);
  });

  it("applies the SSRF guard before any fetch", async () => {
    const net = network({});
    expect(await run(net, "a2a://127.0.0.1:4100/agent", {}, { allowPrivate: false })).toEqual({
      kind: "invalid",
      error: "target 127.0.0.1 is a private, loopback or link-local address",
    });
    expect(net.seen).toHaveLength(0);
  });

  it("reports a card that is not JSON as a retryable protocol error", async () => {
    const net = network({ [`GET ${base}/.well-known/agent-card.json`]: () => new Response("<html>") });
    expect(await run(net, "a2a://agents.example.com/triage")).toMatchObject({
      kind: "retryable",
      error: `A2A agent card at ${base}/.well-known/agent-card.json is not valid JSON`,
      cause: { kind: "protocol" },
    });
  });

  it("reports a network failure of the call itself", async () => {
    const net = network({ [`GET ${base}/.well-known/agent-card.json`]: () => json(v1CardOnly) });
    expect(await run(net, "a2a://agents.example.com/triage")).toMatchObject({
      kind: "retryable",
      error: `A2A task dispatch to ${base}/a2a/jsonrpc failed: network error: Network connection lost.`,
      cause: { kind: "network" },
    });
  });

  const hang: Route = (request) =>
    new Promise((_resolve, reject) => {
      request.signal.addEventListener("abort", () => reject(request.signal.reason));
    });

  it("one deadline covers discovery and the call: handler timed out after <ms>ms", async () => {
    const net = network({
      [`GET ${base}/.well-known/agent-card.json`]: () => json(v1CardOnly),
      [`POST ${base}/a2a/jsonrpc`]: hang,
    });
    expect(await run(net, "a2a://agents.example.com/triage", { timeout_ms: 50 })).toEqual({
      kind: "retryable",
      error: "handler timed out after 50ms",
      cause: { kind: "timeout" },
      retry_after_ms: null,
    });
  });

  it("with allow_cleartext, an https port that never answers gets a quarter of the attempt, then http", async () => {
    const local = "http://127.0.0.1:4100";
    const net = network({
      "GET https://127.0.0.1:4100/.well-known/agent-card.json": hang,
      [`GET ${local}/.well-known/agent-card.json`]: () =>
        json({ supportedInterfaces: [{ url: `${local}/rpc`, protocolBinding: "JSONRPC" }] }),
      [`POST ${local}/rpc`]: completedV1,
    });
    // Success proves http got its turn inside the attempt's deadline; no wall-clock assertion.
    const result = await run(net, "a2a://127.0.0.1:4100/agent", { allow_cleartext: true, timeout_ms: 2_000 });
    expect(result).toMatchObject({ kind: "success", result: { ok: 1 } });
  });

  it("reports an https pass that ran out of its share, when http fails too", async () => {
    const net = network({ "GET https://127.0.0.1:4100/.well-known/agent-card.json": hang });
    expect(await run(net, "a2a://127.0.0.1:4100/agent", { allow_cleartext: true, timeout_ms: 400 })).toMatchObject({
      kind: "retryable",
      error:
        "A2A agent card discovery failed for 127.0.0.1:4100: GET https://127.0.0.1:4100/.well-known/agent-card.json: " +
        "no answer within 100ms; GET http://127.0.0.1:4100/.well-known/agent-card.json: network error: Network connection lost.",
      cause: { kind: "network" },
    });
  });

  it("an external abort (cancel) ends the attempt as aborted", async () => {
    const net = network({ [`GET ${base}/.well-known/agent-card.json`]: hang });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 20);
    expect(await run(net, "a2a://agents.example.com/triage", {}, {}, controller.signal)).toMatchObject({
      kind: "retryable",
      error: "handler call aborted",
    });
  });
});
