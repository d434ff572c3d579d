/**
 * Builds the OpenAPI 3.1 document from the operations the route groups declare (`route.ts`) with zod's own JSON Schema generator
 * (`z.toJSONSchema`, draft 2020-12, the dialect of OpenAPI 3.1). Request bodies and parameters are
 * rendered as the schemas accept them (`io: "input"`: defaults optional, durations as written),
 * responses as routes produce them (`io: "output"`).
 */
import { z } from "zod";
import packageJson from "../../../package.json";
import { MAX_BODY_BYTES } from "../validate";
import { nestedComponents } from "./components";
import type { ErrorStatus, Named, Operation } from "./route";

type Json = Record<string, unknown>;
type Io = "input" | "output";

const SCHEMAS = "#/components/schemas/";

const ERROR_RESPONSES: Record<ErrorStatus, { name: string; description: string }> = {
  400: {
    name: "BadRequest",
    description:
      "Malformed request (`bad_request`) or one that fails validation (`validation_failed`, every problem listed in `details.problems`).",
  },
  401: {
    name: "Unauthorized",
    description:
      "Missing or wrong bearer token (`unauthorized`), or a webhook signature that does not verify (`signature_invalid`).",
  },
  403: { name: "Forbidden", description: "The route needs the admin token; a tenant key was sent (`forbidden`)." },
  404: {
    name: "NotFound",
    description: "The addressed object does not exist, or belongs to another tenant than the key's (`not_found`).",
  },
  409: { name: "Conflict", description: "The object's state does not allow this (`conflict`)." },
  413: { name: "PayloadTooLarge", description: `The body exceeds ${MAX_BODY_BYTES} bytes (\`payload_too_large\`).` },
  415: { name: "UnsupportedMediaType", description: "The body is not JSON (`unsupported_media_type`)." },
  503: {
    name: "Unavailable",
    description:
      "Intake is shedding load or cannot queue right now (`backpressure`, `unavailable`); retry after `Retry-After`.",
  },
};

const DESCRIPTION = [
  "Switchyard receives webhooks and published events and dispatches them to handlers through versioned bindings.",
  "",
  "Every `/v1` route needs `Authorization: Bearer <ADMIN_TOKEN>`. Errors are `{error: {code, message, details?}}`.",
  "Lists answer `{items, next_cursor}` and page with `?limit=` (1–500, default 50) and `?cursor=`.",
  "Every answer carries `x-request-id` (sent by the client or generated).",
].join("\n");

/** Drops generator noise: per-schema `$schema`/`$id`, ±2^53 integer bounds, zod's RFC 3339 regex next to `format`. */
function tidy(node: unknown, ref: (target: string) => string): unknown {
  if (Array.isArray(node)) return node.map((item) => tidy(item, ref));
  if (typeof node !== "object" || node === null) return node;
  const source = node as Json;
  const out: Json = {};
  for (const [key, value] of Object.entries(source)) {
    if (key === "$schema" || key === "$id") continue;
    if (key === "minimum" && value === Number.MIN_SAFE_INTEGER) continue;
    if (key === "maximum" && value === Number.MAX_SAFE_INTEGER) continue;
    if (key === "pattern" && source.format === "date-time") continue;
    out[key] = key === "$ref" && typeof value === "string" ? ref(value) : tidy(value, ref);
  }
  return out;
}

/**
 * Named schemas rendered once per direction. zod puts recursive helpers (such as `z.json()`) in a
 * `__shared` pseudo-schema; those become components of their own so every `$ref` is a plain pointer.
 */
class Components {
  private readonly registries = { input: z.registry<{ id: string }>(), output: z.registry<{ id: string }>() };
  private readonly byName = new Map<string, { schema: z.ZodType; io: Io }>();

  ref(io: Io, { name, schema }: Named): Json {
    const known = this.byName.get(name);
    if (known && (known.schema !== schema || known.io !== io)) {
      throw new Error(`OpenAPI component '${name}' names two different schemas`);
    }
    const registry = this.registries[io];
    const existing = registry.get(schema)?.id;
    if (existing !== undefined && existing !== name) {
      throw new Error(`one ${io} schema is named both '${existing}' and '${name}'`);
    }
    if (!known) {
      this.byName.set(name, { schema, io });
      registry.add(schema, { id: name });
    }
    return { $ref: `${SCHEMAS}${name}` };
  }

  render(): Json {
    const out: Json = {};
    for (const io of ["input", "output"] as const) {
      const { schemas } = z.toJSONSchema(this.registries[io], {
        io,
        target: "draft-2020-12",
        unrepresentable: "any",
        uri: (id) => `${SCHEMAS}${id}`,
      });
      const sharedPrefix = `${SCHEMAS}__shared#/$defs/`;
      const sharedName = (def: string) => `${io === "input" ? "Input" : "Output"}Shared_${def}`;
      const ref = (target: string) =>
        target.startsWith(sharedPrefix) ? `${SCHEMAS}${sharedName(target.slice(sharedPrefix.length))}` : target;
      for (const [name, schema] of Object.entries(schemas)) {
        if (name === "__shared") {
          const defs = (schema as { $defs?: Json }).$defs ?? {};
          for (const [def, body] of Object.entries(defs)) out[sharedName(def)] = tidy(body, ref);
        } else {
          out[name] = tidy(schema, ref);
        }
      }
    }
    return Object.fromEntries(Object.entries(out).sort(([a], [b]) => a.localeCompare(b)));
  }
}

/** Parameters from a zod object: one per key, required unless the schema accepts a missing value. */
function parametersOf(object: z.ZodObject | undefined, location: "path" | "query" | "header", op: Operation): Json[] {
  if (!object) return [];
  const json = tidy(z.toJSONSchema(object, { io: "input", unrepresentable: "any" }), (r) => r) as {
    properties?: Record<string, Json>;
    required?: string[];
  };
  return Object.entries(json.properties ?? {}).map(([name, schema]) => {
    const description = op.paramDocs?.[name];
    return {
      name,
      in: location,
      required: location === "path" || (json.required ?? []).includes(name),
      ...(description ? { description } : {}),
      schema,
    };
  });
}

function errorsOf(op: Operation): ErrorStatus[] {
  const implied: ErrorStatus[] = [];
  if (op.auth !== "public") implied.push(401);
  if (op.auth === "admin_only") implied.push(403);
  if (op.query) implied.push(400);
  if (op.body) implied.push(400, 413, 415);
  if (op.rawBody) implied.push(413);
  return [...new Set([...implied, ...(op.errors ?? [])])].sort((a, b) => a - b);
}

function securityOf(op: Operation): Json[] {
  switch (op.auth) {
    case "admin":
      return [{ adminToken: [] }, { tenantKey: [] }];
    case "admin_only":
      return [{ adminToken: [] }];
    case "metrics":
      // Either no credentials (METRICS_TOKEN unset) or the metrics token.
      return [{}, { metricsToken: [] }];
    case "public":
      return [];
  }
}

function operationObject(op: Operation, components: Components): Json {
  const responses: Json = {};
  const statuses = Object.keys(op.responses)
    .map(Number)
    .sort((a, b) => a - b) as (keyof Operation["responses"])[];
  for (const status of statuses) {
    const r = op.responses[status];
    if (!r) continue;
    const content = r.json
      ? { "application/json": { schema: components.ref("output", r.json) } }
      : r.media
        ? { [r.media.type]: { schema: r.media.schema } }
        : undefined;
    responses[String(status)] = {
      description: r.description,
      ...(r.headers ? { headers: r.headers } : {}),
      ...(content ? { content } : {}),
    };
  }
  for (const status of errorsOf(op)) {
    responses[String(status)] = { $ref: `#/components/responses/${ERROR_RESPONSES[status].name}` };
  }
  const requestBody = op.body
    ? {
        required: !op.body.optional,
        ...(op.body.description || op.body.optional
          ? { description: op.body.description ?? "Optional: an empty body means `{}`." }
          : {}),
        content: { "application/json": { schema: components.ref("input", op.body) } },
      }
    : op.rawBody
      ? {
          required: true,
          description: op.rawBody.description,
          content: {
            "application/json": { schema: {} },
            "application/x-www-form-urlencoded": { schema: { type: "string" } },
          },
        }
      : undefined;
  const parameters = [
    ...parametersOf(op.params, "path", op),
    ...parametersOf(op.query, "query", op),
    ...parametersOf(op.headers, "header", op),
  ];
  return {
    operationId: op.operationId,
    tags: [op.tag],
    summary: op.summary,
    ...(op.description ? { description: op.description } : {}),
    security: securityOf(op),
    ...(parameters.length > 0 ? { parameters } : {}),
    ...(requestBody ? { requestBody } : {}),
    responses,
  };
}

/** The OpenAPI document for `ops`. Throws on duplicate operations or names. */
export function buildOpenApiDocument(ops: readonly Operation[]): Json {
  const components = new Components();
  for (const n of nestedComponents.output) components.ref("output", n);
  for (const n of nestedComponents.input) components.ref("input", n);

  const paths: Record<string, Json> = {};
  const operationIds = new Set<string>();
  for (const op of ops) {
    const item = paths[op.path] ?? {};
    paths[op.path] = item;
    if (item[op.method]) throw new Error(`duplicate OpenAPI operation ${op.method.toUpperCase()} ${op.path}`);
    if (operationIds.has(op.operationId)) throw new Error(`duplicate operationId '${op.operationId}'`);
    operationIds.add(op.operationId);
    item[op.method] = operationObject(op, components);
  }

  const errorSchema = { $ref: `${SCHEMAS}Error` };
  const responses = Object.fromEntries(
    Object.entries(ERROR_RESPONSES).map(([status, { name, description }]) => [
      name,
      {
        description,
        ...(status === "503"
          ? { headers: { "retry-after": { description: "Seconds to wait.", schema: { type: "string" } } } }
          : {}),
        content: { "application/json": { schema: errorSchema } },
      },
    ]),
  );

  return {
    openapi: "3.1.0",
    info: { title: "Switchyard API", version: packageJson.version, description: DESCRIPTION },
    tags: [...new Set(ops.map((op) => op.tag))].map((name) => ({ name })),
    paths,
    components: {
      schemas: components.render(),
      responses,
      securitySchemes: {
        adminToken: { type: "http", scheme: "bearer", description: "The `ADMIN_TOKEN` secret." },
        tenantKey: {
          type: "http",
          scheme: "bearer",
          description:
            "A tenant API key (`POST /v1/tenants/{tenant}/keys`): sees and changes only its tenant's objects.",
        },
        metricsToken: { type: "http", scheme: "bearer", description: "The `METRICS_TOKEN` secret, when set." },
      },
    },
  };
}
