/**
 * One declaration per HTTP route: its OpenAPI description (parameters, body, answers, auth) and its
 * handler, registered together on a `RouteGroup`. The group validates the declared query and JSON
 * body with the boundary parsers of `validate.ts` (precise 400/413/415) before the handler runs, so
 * the schema a route documents is the schema it enforces; a route's `check` of its path parameters
 * runs before either. `document.ts` renders the groups' operations; a test checks them against the
 * routes the app serves.
 */
import { type Context, Hono } from "hono";
import type { z } from "zod";
import type { AppEnv } from "../app-env";
import { parseQuery, readJson } from "../validate";

/** Error statuses an operation documents; each answers the error envelope. */
export type ErrorStatus = 400 | 401 | 403 | 404 | 409 | 413 | 415 | 503;

/** A schema that becomes a named component (`#/components/schemas/<name>`). */
export interface Named<S extends z.ZodType = z.ZodType> {
  name: string;
  schema: S;
}

export const named = <S extends z.ZodType>(name: string, schema: S): Named<S> => ({ name, schema });

export interface SuccessResponse {
  description: string;
  /** JSON body; omitted for bodiless answers (204). */
  json?: Named;
  /** Non-JSON body, e.g. Prometheus text or the docs page. */
  media?: { type: string; schema: Record<string, unknown> };
  headers?: Record<string, { description: string; schema: Record<string, unknown> }>;
}

/** A JSON request body: documented as `schema`, read with `read` when the route validates item by item. */
export interface JsonBody<S extends z.ZodType = z.ZodType> extends Named {
  /** The schema the body is parsed with; `schema` (the documented one) by default. */
  read?: S;
  /** An empty body means `{}`. */
  optional?: boolean;
  description?: string;
}

/** What an operation says about itself, apart from where it is mounted. */
export interface OperationSpec<Q extends z.ZodObject | undefined = z.ZodObject | undefined> {
  method: "get" | "put" | "post" | "delete";
  /** OpenAPI path template (`{param}`), relative to the group's mount; `/` is the mount itself. */
  path: string;
  operationId: string;
  /** The group's tag unless given. */
  tag?: string;
  summary: string;
  description?: string;
  /** `admin`: the admin token or a tenant key (confined to its tenant); `admin_only`: the admin token; `metrics`: bearer METRICS_TOKEN when set; `public`: none. */
  auth: "admin" | "admin_only" | "metrics" | "public";
  params?: z.ZodObject;
  query?: Q;
  headers?: z.ZodObject;
  /** Descriptions of parameters by name (path, query or header). */
  paramDocs?: Record<string, string>;
  body?: JsonBody;
  /** A body read as raw bytes (webhook intake). */
  rawBody?: { description: string };
  responses: Partial<Record<200 | 201 | 202 | 204 | 302 | 503, SuccessResponse>>;
  /** Client errors beyond the implied ones (401 for /v1 and metrics; 400/413/415 for JSON bodies; 400 for queries). */
  errors?: ErrorStatus[];
}

/** An operation as the document lists it: full path and tag. */
export type Operation = OperationSpec & { path: string; tag: string };

type BodyOf<B> = B extends { read: infer R extends z.ZodType }
  ? z.output<R>
  : B extends { schema: infer S extends z.ZodType }
    ? z.output<S>
    : undefined;

/** The parameter names of a path template: `"/{id}/replay"` → `"id"`. */
type ParamNames<P extends string> = P extends `${string}{${infer Name}}${infer Rest}` ? Name | ParamNames<Rest> : never;

type PathParams<P extends string> = { [K in ParamNames<P>]: string };

/** What the group hands a handler: the path parameters and the validated query and body of its declaration. */
export interface RouteInput<P extends string, Q, B> {
  params: PathParams<P>;
  query: Q extends z.ZodObject ? z.output<Q> : undefined;
  body: BodyOf<B>;
}

type Handler<P extends string, Q, B> = (c: Context<AppEnv>, input: RouteInput<P, Q, B>) => Response | Promise<Response>;

/** `{id}` → `:id`; a segment holding a literal colon (`bindings:apply`) becomes a one-value pattern. */
export function honoPath(template: string): string {
  return template
    .split("/")
    .map((segment) => {
      const param = /^\{([A-Za-z0-9_]+)\}$/.exec(segment);
      if (param) return `:${param[1]}`;
      return segment.includes(":") ? `:segment{${segment}}` : segment;
    })
    .join("/");
}

/** The routes mounted under one prefix, each declared with its OpenAPI operation. */
export class RouteGroup {
  /** The Hono sub-app to mount at `mount`; middleware may be added to it directly. */
  readonly app = new Hono<AppEnv>();
  readonly operations: Operation[] = [];
  readonly mount: string;
  private readonly tag: string;

  constructor(mount: string, tag: string) {
    this.mount = mount;
    this.tag = tag;
  }

  /**
   * Declares one route: `spec` documents it, `handler` serves it after the query and body validate.
   * `check` (not documented) sees the path parameters first: what it throws answers whatever the body.
   */
  on<P extends string, Q extends z.ZodObject | undefined, B extends JsonBody | undefined>(
    spec: OperationSpec<Q> & { path: P; body?: B; check?: (params: PathParams<P>) => void },
    handler: Handler<P, Q, B>,
  ): this {
    const { check, ...operation } = spec;
    const full = spec.path === "/" ? this.mount || "/" : `${this.mount}${spec.path}`;
    this.operations.push({ ...operation, path: full, tag: spec.tag ?? this.tag } as Operation);
    this.app.on(spec.method.toUpperCase(), honoPath(spec.path), async (c) => {
      const params = c.req.param() as PathParams<P>;
      check?.(params);
      const query = spec.query ? parseQuery(c, spec.query) : undefined;
      const body = spec.body
        ? await readJson(c, spec.body.read ?? spec.body.schema, { optional: spec.body.optional })
        : undefined;
      return handler(c, { params, query, body } as RouteInput<P, Q, B>);
    });
    return this;
  }
}
