/**
 * The console reads and acts through the `/v1` API, called in-process (no network hop): every page is
 * a thin adapter over the same routes, validation and errors that API clients get. Failures come back
 * as values with a readable message, never as exceptions, so a page can always render something.
 */
import type { ExecutionContext } from "hono";

/** Calls the Hono API app in-process (`app.fetch`). */
export type ApiFetch = (request: Request, env: Env, ctx: ExecutionContext | undefined) => Response | Promise<Response>;

export type ApiResult<T> =
  | { ok: true; status: number; data: T; headers: Headers }
  | { ok: false; status: number; code: string; message: string };

export interface ApiClient {
  get<T>(path: string): Promise<ApiResult<T>>;
  post<T>(path: string, body?: unknown): Promise<ApiResult<T>>;
}

/** Builds `/v1/...?a=b` from a path and the query values that are set (empty strings are left out). */
export function apiPath(path: string, query: Record<string, string | number | boolean | undefined | null> = {}) {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) {
    if (value === undefined || value === null || value === "") continue;
    params.set(name, String(value));
  }
  const text = params.toString();
  return text ? `${path}?${text}` : path;
}

/** Turns an API error answer into `{code, message}`; the envelope is `{error: {code, message}}`. */
export function describeFailure(status: number, body: unknown): { code: string; message: string } {
  const error = (body as { error?: { code?: unknown; message?: unknown } } | null)?.error;
  if (error && typeof error.message === "string") {
    return { code: typeof error.code === "string" ? error.code : `http_${status}`, message: error.message };
  }
  return { code: `http_${status}`, message: `the API answered ${status}` };
}

/**
 * An API client for one console request. `origin` is the console's own origin, so routes that build
 * URLs see the public host; `requestId` ties the API calls to the console request in logs.
 */
export function apiClient(
  fetchApi: ApiFetch,
  env: Env,
  ctx: ExecutionContext | undefined,
  origin: string,
  requestId: string,
): ApiClient {
  async function call<T>(method: string, path: string, body?: unknown): Promise<ApiResult<T>> {
    const headers: Record<string, string> = {
      authorization: `Bearer ${env.ADMIN_TOKEN ?? ""}`,
      accept: "application/json",
      "x-request-id": requestId,
    };
    if (body !== undefined) headers["content-type"] = "application/json";
    let response: Response;
    try {
      response = await fetchApi(
        new Request(`${origin}${path}`, {
          method,
          headers,
          body: body === undefined ? undefined : JSON.stringify(body),
        }),
        env,
        ctx,
      );
    } catch (error) {
      return { ok: false, status: 502, code: "unavailable", message: `the API call failed: ${String(error)}` };
    }
    const text = await response.text();
    let parsed: unknown = null;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      parsed = null;
    }
    if (!response.ok) return { ok: false, status: response.status, ...describeFailure(response.status, parsed) };
    return { ok: true, status: response.status, data: parsed as T, headers: response.headers };
  }
  return {
    get: (path) => call("GET", path),
    post: (path, body) => call("POST", path, body ?? {}),
  };
}
