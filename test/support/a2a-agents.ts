/**
 * Real A2A agents for the `a2a://` handler tests, built on the official `@a2a-js/sdk` server (Express
 * transport) and started on 127.0.0.1 from vitest's globalSetup. Each agent has its own port, because
 * discovery reads the card at the authority's root.
 *
 * - `completing` (A2A 1.0): completes the task; its final status message is JSON echoing the envelope.
 * - `working` (A2A 1.0, SDK v0.3 compat layer switched on): leaves the task in `working`.
 * - `flaky` (A2A 1.0): answers HTTP 500 to the first `FLAKY_FAILURES` SendMessage calls of each
 *   message id, then completes like `completing`.
 * - `legacy` (A2A 0.3): a 0.3-only agent. Its card is the SDK's own v0.3 rendering (the compat
 *   layer's `legacyAgentCardRouter`) without the v1.0 `supportedInterfaces` that SDK 1.x embeds, i.e.
 *   the `url` + `preferredTransport` card a 0.3 server serves, and only at the legacy path
 *   `/.well-known/agent.json`. Its JSON-RPC endpoint is the SDK's `jsonRpcHandler` with
 *   `legacyCompat`, which answers `message/send` + `A2A-Version: 0.3` in the 0.3 dialect.
 *
 * Every agent completes by default; an event payload `{a2a_mode: "working" | "message"}` makes it
 * leave the task working or answer with a direct message instead (`working` always leaves it working).
 * A payload `{a2a_later: {state, after_ms}}` leaves the task working and moves it to `state`
 * (`completed` with an artifact, `failed`, `rejected`, `canceled`, `input-required`, or `never`)
 * `after_ms` after `SendMessage` answered, in the agent's task store, as a real long-running agent
 * would; `GetTask` and `CancelTask` are the SDK's own.
 *
 * `GET /__calls` lists the requests an agent received (`{path, method, headers, body, at}`), filtered
 * with `?context_id=` (JSON-RPC calls of one trace) or `?path=`.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { type AgentCard, type Message, type Part, Role, TaskState } from "@a2a-js/sdk";
import { legacyAgentCardRouter } from "@a2a-js/sdk/compat/v0_3/server/express";
import {
  AgentEvent,
  type AgentExecutor,
  DefaultRequestHandler,
  type ExecutionEventBus,
  InMemoryTaskStore,
  type RequestContext,
} from "@a2a-js/sdk/server";
import { agentCardHandler, jsonRpcHandler, UserBuilder } from "@a2a-js/sdk/server/express";
import express, { type NextFunction, type Request, type Response } from "express";

export type AgentName = "completing" | "working" | "flaky" | "legacy";
export type AgentPorts = Record<AgentName, number>;

export const FLAKY_FAILURES = 2;
const RPC_PATH = "/a2a/jsonrpc";

interface RecordedRequest {
  path: string;
  method: string;
  headers: Record<string, string | string[] | undefined>;
  body: unknown;
  at: number;
}

const textPart = (value: string): Part => ({
  content: { $case: "text", value },
  metadata: undefined,
  filename: "",
  mediaType: "",
});

function agentMessage(contextId: string, taskId: string, text: string): Message {
  return {
    messageId: crypto.randomUUID(),
    contextId,
    taskId,
    role: Role.ROLE_AGENT,
    parts: [textPart(text)],
    metadata: undefined,
    extensions: [],
    referenceTaskIds: [],
  };
}

function firstText(message: Message): string {
  for (const part of message.parts) if (part.content?.$case === "text") return part.content.value;
  return "";
}

type LaterState = "completed" | "failed" | "rejected" | "canceled" | "input-required" | "never";

const LATER_STATES: Record<Exclude<LaterState, "never">, TaskState> = {
  completed: TaskState.TASK_STATE_COMPLETED,
  failed: TaskState.TASK_STATE_FAILED,
  rejected: TaskState.TASK_STATE_REJECTED,
  canceled: TaskState.TASK_STATE_CANCELED,
  "input-required": TaskState.TASK_STATE_INPUT_REQUIRED,
};

/** Echoes the dispatch envelope's identity back, so tests can see what reached the agent. */
class EchoExecutor implements AgentExecutor {
  constructor(
    private readonly agent: AgentName,
    private readonly defaultMode: "complete" | "working",
    private readonly store: InMemoryTaskStore,
  ) {}

  /** Moves a task the agent left working to its final state later, as a long-running agent does. */
  private finishLater(request: RequestContext, later: { state?: LaterState; after_ms?: number }, answer: string) {
    const state = later.state ?? "completed";
    if (state === "never") return;
    const { taskId, contextId } = request;
    setTimeout(async () => {
      const task = await this.store.load(taskId, request.context);
      if (!task || task.status?.state === TaskState.TASK_STATE_CANCELED) return;
      const text =
        state === "completed" ? "done" : state === "canceled" ? "stopped by the agent" : `agent says: ${state}`;
      task.status = {
        state: LATER_STATES[state],
        message: agentMessage(contextId, taskId, text),
        timestamp: new Date().toISOString(),
      };
      if (state === "completed") {
        task.artifacts = [
          {
            artifactId: "result",
            name: "result",
            description: "",
            parts: [textPart(answer)],
            metadata: undefined,
            extensions: [],
          },
        ];
      }
      await this.store.save(task, request.context);
    }, later.after_ms ?? 1_000);
  }

  async execute(request: RequestContext, bus: ExecutionEventBus): Promise<void> {
    const text = firstText(request.userMessage);
    let envelope: Record<string, unknown> = {};
    try {
      envelope = JSON.parse(text) as Record<string, unknown>;
    } catch {
      envelope = { unparsed: text };
    }
    const event = (envelope.event ?? {}) as {
      id?: string;
      kind?: string;
      payload?: { a2a_mode?: string; a2a_later?: { state?: LaterState; after_ms?: number } };
    };
    const later = event.payload?.a2a_later;
    const mode = this.defaultMode === "working" || later ? "working" : (event.payload?.a2a_mode ?? "complete");
    const answer = JSON.stringify({
      agent: this.agent,
      protocol: request.context.requestedVersion,
      echo: {
        type: envelope.type,
        event_id: event.id,
        kind: event.kind,
        trace_id: envelope.trace_id,
        binding_key: envelope.binding_key,
        attempt: envelope.attempt,
      },
    });
    const { taskId, contextId } = request;
    if (mode === "message") {
      bus.publish(AgentEvent.message(agentMessage(contextId, "", answer)));
      bus.finished();
      return;
    }
    const now = () => new Date().toISOString();
    bus.publish(
      AgentEvent.task({
        id: taskId,
        contextId,
        status: { state: TaskState.TASK_STATE_SUBMITTED, message: undefined, timestamp: now() },
        artifacts: [],
        history: [request.userMessage],
        metadata: undefined,
      }),
    );
    const working = mode === "working";
    bus.publish(
      AgentEvent.statusUpdate({
        taskId,
        contextId,
        status: {
          state: working ? TaskState.TASK_STATE_WORKING : TaskState.TASK_STATE_COMPLETED,
          message: agentMessage(contextId, taskId, working ? "still thinking" : answer),
          timestamp: now(),
        },
        metadata: undefined,
      }),
    );
    bus.finished();
    if (later) this.finishLater(request, later, answer);
  }

  async cancelTask(): Promise<void> {}
}

function agentCard(name: AgentName, base: string, protocolVersion: "1.0" | "0.3"): AgentCard {
  return {
    name: `switchyard-test-${name}`,
    description: `Switchyard a2a:// handler test agent (${name})`,
    supportedInterfaces: [{ url: `${base}${RPC_PATH}`, protocolBinding: "JSONRPC", tenant: "", protocolVersion }],
    provider: undefined,
    version: "1.0.0",
    capabilities: { streaming: false, pushNotifications: false, extensions: [], extendedAgentCard: false },
    securitySchemes: {},
    securityRequirements: [],
    defaultInputModes: ["text"],
    defaultOutputModes: ["text"],
    skills: [
      {
        id: "echo",
        name: "Echo",
        description: "Echoes the dispatch envelope",
        tags: ["test"],
        examples: [],
        inputModes: [],
        outputModes: [],
        securityRequirements: [],
      },
    ],
    signatures: [],
  };
}

async function listen(): Promise<{ server: Server; base: string; port: number }> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return { server, base: `http://127.0.0.1:${port}`, port };
}

async function startAgent(name: AgentName): Promise<{ server: Server; port: number }> {
  const { server, base, port } = await listen();
  const legacy = name === "legacy";
  const store = new InMemoryTaskStore();
  const requestHandler = new DefaultRequestHandler(
    agentCard(name, base, legacy ? "0.3" : "1.0"),
    store,
    new EchoExecutor(name, name === "working" ? "working" : "complete", store),
  );
  const calls: RecordedRequest[] = [];
  const app = express();

  app.get("/__calls", (req, res) => {
    const contextId = typeof req.query.context_id === "string" ? req.query.context_id : null;
    const path = typeof req.query.path === "string" ? req.query.path : null;
    res.json(
      calls.filter((c) => {
        if (path !== null && c.path !== path) return false;
        if (contextId === null) return true;
        const message = (c.body as { params?: { message?: { contextId?: string } } } | undefined)?.params?.message;
        return message?.contextId === contextId;
      }),
    );
  });

  // Record everything else (the SDK's JSON parser skips bodies that are already parsed).
  app.use(express.json({ limit: "2mb" }), (req: Request, _res: Response, next: NextFunction) => {
    calls.push({ path: req.path, method: req.method, headers: req.headers, body: req.body, at: Date.now() });
    next();
  });

  if (name === "flaky") {
    const seen = new Map<string, number>();
    app.post(RPC_PATH, (req: Request, res: Response, next: NextFunction) => {
      const body = req.body as { method?: string; params?: { message?: { messageId?: string } } };
      if (body?.method !== "SendMessage") return next();
      const key = body.params?.message?.messageId ?? "";
      const count = (seen.get(key) ?? 0) + 1;
      seen.set(key, count);
      if (count <= FLAKY_FAILURES) {
        res.status(500).json({ error: `flaky agent fails call ${count} of ${FLAKY_FAILURES}` });
        return;
      }
      next();
    });
  }

  if (legacy) {
    // The SDK renders its v0.3 card for 0.3 requests only; render it once and serve it the way a 0.3
    // server does, whatever A2A-Version the client sends, without the v1.0 embedding.
    const renderPath = "/__sdk_v03_card";
    app.use(
      renderPath,
      (req: Request, _res: Response, next: NextFunction) => {
        req.headers["a2a-version"] = "0.3";
        next();
      },
      legacyAgentCardRouter({ agentCardProvider: requestHandler }),
    );
    server.on("request", app);
    const rendered = (await (await fetch(`${base}${renderPath}`)).json()) as Record<string, unknown>;
    delete rendered.supportedInterfaces;
    app.get("/.well-known/agent.json", (_req, res) => {
      res.json(rendered);
    });
  } else {
    app.use(
      "/.well-known/agent-card.json",
      agentCardHandler({
        agentCardProvider: requestHandler,
        ...(name === "working" ? { legacyCompat: { enabled: true } } : {}),
      }),
    );
    server.on("request", app);
  }

  app.use(
    RPC_PATH,
    jsonRpcHandler({
      requestHandler,
      userBuilder: UserBuilder.noAuthentication,
      ...(legacy || name === "working" ? { legacyCompat: { enabled: true } } : {}),
    }),
  );
  return { server, port };
}

/** Starts every agent; `close` stops them all. */
export async function startA2aAgents(): Promise<{ ports: AgentPorts; close: () => Promise<void> }> {
  const names: AgentName[] = ["completing", "working", "flaky", "legacy"];
  const started = await Promise.all(names.map((name) => startAgent(name)));
  const ports = Object.fromEntries(names.map((name, i) => [name, started[i]?.port ?? 0])) as AgentPorts;
  const close = async () => {
    await Promise.all(
      started.map(
        ({ server }) =>
          new Promise<void>((resolve) => {
            server.closeAllConnections();
            server.close(() => resolve());
          }),
      ),
    );
  };
  return { ports, close };
}
