/**
 * Flattened metadata handed to a persona (SPEC 12.4): a flat string map a persona can route on without
 * walking the payload. Pure: no bindings, no clock.
 */
import type { TriggerEvent } from "../contracts/events";

/** Limits on the payload part of the map; identity keys and headers are always complete. */
export const PERSONA_METADATA_LIMITS = {
  /** Path segments below the payload root: `a.b.c` has depth 3. Deeper scalars are left out. */
  maxDepth: 8,
  /** Payload entries in the map. Shallow fields are taken first (breadth-first), so they survive. */
  maxPayloadEntries: 256,
  /** Items read from any one array (`labels.0` … `labels.63`). */
  maxArrayItems: 64,
} as const;

export interface PersonaMetadata {
  metadata: Record<string, string>;
  /** True when a limit above left payload scalars out of `metadata`. */
  truncated: boolean;
}

export type PersonaMetadataLimits = { [K in keyof typeof PERSONA_METADATA_LIMITS]: number };

/**
 * Builds the persona metadata map of an event:
 * - `trigger_event_id` and `event_id` (both the event id), `dedupe_key`, `trace_id`, `tenant_id` (only
 *   when the event has one);
 * - `header.<name>` for every stored (already redacted) event header, names as stored (lower case);
 * - every scalar of the payload under its dotted path from the payload root, without a `payload.`
 *   prefix (`issue.number`, `issue.labels.0.name`), as the reference dispatcher spells them. Array
 *   items are addressed by index. Numbers and booleans become their JSON text; `null`, empty objects
 *   and empty arrays produce no entry. A scalar payload (not an object or array) produces no entry.
 *
 * Values are strings so every persona service sees one shape. Identity keys and headers win over a
 * payload field that spells the same path (a payload field `trace_id` cannot spoof the trace id).
 */
export function personaMetadata(
  event: Pick<TriggerEvent, "id" | "dedupe_key" | "trace_id" | "tenant_id" | "headers" | "payload">,
  limits: PersonaMetadataLimits = PERSONA_METADATA_LIMITS,
): PersonaMetadata {
  const metadata: Record<string, string> = {
    trigger_event_id: event.id,
    event_id: event.id,
    dedupe_key: event.dedupe_key,
    trace_id: event.trace_id,
  };
  if (event.tenant_id !== null) metadata.tenant_id = event.tenant_id;
  for (const name of Object.keys(event.headers).sort()) {
    const value = event.headers[name];
    if (value !== undefined) metadata[`header.${name}`] = value;
  }
  const payload = flattenPayload(event.payload, limits);
  for (const [path, value] of payload.entries) {
    if (!Object.hasOwn(metadata, path)) metadata[path] = value;
  }
  return { metadata, truncated: payload.truncated };
}

/**
 * Scalars of a JSON value as `[dotted path, string value]` pairs, breadth-first (shallow fields first,
 * document order within a level), within `limits`. Iterative, so any nesting depth is safe.
 */
export function flattenPayload(
  payload: unknown,
  limits: PersonaMetadataLimits = PERSONA_METADATA_LIMITS,
): { entries: [string, string][]; truncated: boolean } {
  const entries: [string, string][] = [];
  let truncated = false;
  let level: [string, unknown][] = childrenOf("", payload, limits, () => {
    truncated = true;
  });
  for (let depth = 1; level.length > 0; depth++) {
    const next: [string, unknown][] = [];
    for (const [path, value] of level) {
      const text = scalarText(value);
      if (text !== undefined) {
        if (entries.length >= limits.maxPayloadEntries) return { entries, truncated: true };
        entries.push([path, text]);
      } else if (value !== null && typeof value === "object") {
        const children = childrenOf(path, value, limits, () => {
          truncated = true;
        });
        if (children.length === 0) continue;
        if (depth >= limits.maxDepth) {
          truncated = true;
          continue;
        }
        next.push(...children);
      }
    }
    level = next;
  }
  return { entries, truncated };
}

function scalarText(value: unknown): string | undefined {
  switch (typeof value) {
    case "string":
      return value;
    case "number":
    case "boolean":
      return JSON.stringify(value);
    default:
      return undefined;
  }
}

function childrenOf(
  prefix: string,
  value: unknown,
  limits: PersonaMetadataLimits,
  onDropped: () => void,
): [string, unknown][] {
  if (value === null || typeof value !== "object") return [];
  const join = (key: string) => (prefix === "" ? key : `${prefix}.${key}`);
  if (Array.isArray(value)) {
    if (value.length > limits.maxArrayItems) onDropped();
    return value.slice(0, limits.maxArrayItems).map((item, i) => [join(String(i)), item]);
  }
  return Object.entries(value).map(([key, item]) => [join(key), item]);
}
