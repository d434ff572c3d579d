/** Console URLs, in one place so pages link to each other consistently. */
import { apiPath } from "./api-client";

const seg = encodeURIComponent;

export const links = {
  events: (query: Record<string, string | undefined> = {}) => apiPath("/console/events", query),
  event: (id: string) => `/console/events/${seg(id)}`,
  trace: (traceId: string) => `/console/traces/${seg(traceId)}`,
  dlq: (query: Record<string, string | undefined> = {}) => apiPath("/console/dlq", query),
  dlqBulk: (query: Record<string, string | undefined> = {}) => apiPath("/console/dlq/bulk", query),
  bindings: () => "/console/bindings",
};

/** `/v1/...` path segment for a binding key or id (`@` is sent as `%40`, which the API accepts). */
export const v1 = seg;
