/**
 * A scripted webhook receiver on 127.0.0.1, used by tests (from vitest's globalSetup) and by the
 * README walkthrough (`node scripts/handler-server.mjs`).
 *
 * - `PUT /__script/<name>` with `{responses: [{status, body?, headers?, delay_ms?}], otherwise?}` scripts
 *   the answers of `/h/<name>`, one per call; `otherwise` answers every later call (default 200 `{ok:true}`).
 * - `POST /h/<name>` answers per the script and records the request.
 * - `GET /__calls/<name>` lists recorded requests `{headers, body, at}`.
 */
import { createServer, type IncomingMessage, type Server } from "node:http";

interface ScriptedResponse {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
  delay_ms?: number;
}
interface Script {
  responses: ScriptedResponse[];
  otherwise?: ScriptedResponse;
}
interface RecordedCall {
  headers: Record<string, string | string[] | undefined>;
  body: string;
  at: number;
  aborted: boolean;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

export function startHandlerServer(port = 0): Promise<{ server: Server; url: string }> {
  const scripts = new Map<string, Script>();
  const calls = new Map<string, RecordedCall[]>();
  const server = createServer(async (req, res) => {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    const [, kind, name = ""] = url.pathname.split("/");
    const body = await readBody(req);
    if (kind === "__script" && req.method === "PUT") {
      scripts.set(name, JSON.parse(body) as Script);
      calls.set(name, []);
      res.writeHead(204).end();
      return;
    }
    if (kind === "__calls") {
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(calls.get(name) ?? []));
      return;
    }
    if (kind !== "h") {
      res.writeHead(404).end();
      return;
    }
    const list = calls.get(name) ?? [];
    calls.set(name, list);
    const call: RecordedCall = { headers: req.headers, body, at: Date.now(), aborted: false };
    list.push(call);
    const script = scripts.get(name);
    const index = list.length - 1;
    const answer = script?.responses[index] ?? script?.otherwise ?? { status: 200, body: { ok: true } };
    if (answer.delay_ms) {
      const closed = new Promise<void>((resolve) => res.on("close", () => resolve()));
      const waited = await Promise.race([
        new Promise<"waited">((r) => setTimeout(() => r("waited"), answer.delay_ms)),
        closed.then(() => "closed" as const),
      ]);
      if (waited === "closed" || res.destroyed) {
        call.aborted = true;
        return;
      }
    }
    const text =
      answer.body === undefined ? "" : typeof answer.body === "string" ? answer.body : JSON.stringify(answer.body);
    const headers: Record<string, string> = { ...(answer.headers ?? {}) };
    if (typeof answer.body !== "string" && answer.body !== undefined) headers["content-type"] ??= "application/json";
    res.writeHead(answer.status, headers).end(text);
  });
  // workerd reuses idle keep-alive connections; Node's 5 s default would drop them under it and turn
  // the next burst of calls into "Network connection lost" failures.
  server.keepAliveTimeout = 120_000;
  return new Promise((resolve) => {
    server.listen(port, "127.0.0.1", () => {
      const address = server.address();
      const actual = typeof address === "object" && address ? address.port : port;
      resolve({ server, url: `http://127.0.0.1:${actual}` });
    });
  });
}
