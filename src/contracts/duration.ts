/** Durations in specs and queries (`"30s"`, `"5m"`, or milliseconds): parsing, bounds and display. */
import { z } from "zod";

const UNIT_MS = {
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
} as const;

// A bare digit string is read as milliseconds: manifests written in YAML often quote numbers.
const DURATION_RE = /^(\d+)(ms|s|m|h|d|w)?$/;

const HINT = "use milliseconds or <n>ms|s|m|h|d|w";

/**
 * Parses a duration: a non-negative integer of milliseconds, or `<int><unit>` with unit ms|s|m|h|d|w.
 * Returns integer milliseconds, or null when the input is not a valid duration (or overflows 2^53).
 */
export function parseDuration(input: string | number): number | null {
  if (typeof input === "number") {
    return Number.isSafeInteger(input) && input >= 0 ? input : null;
  }
  const m = DURATION_RE.exec(input);
  if (!m) return null;
  const unit = (m[2] ?? "ms") as keyof typeof UNIT_MS;
  const ms = Number(m[1]) * UNIT_MS[unit];
  return Number.isSafeInteger(ms) ? ms : null;
}

function describe(input: unknown): string {
  return typeof input === "string" ? `'${input}'` : String(input);
}

/** Duration as written in a spec (ms integer or "5m"), output as integer milliseconds. */
export const durationSchema = z
  // Returning undefined for a missing value defers to the caller's "required" message.
  .union([z.number(), z.string()], {
    error: (iss) => (iss.input === undefined ? undefined : `expected a duration: ${HINT}`),
  })
  .transform((input, ctx): number => {
    const ms = parseDuration(input);
    if (ms === null) {
      ctx.addIssue({ code: "custom", message: `invalid duration ${describe(input)}: ${HINT}`, input });
      return z.NEVER;
    }
    return ms;
  });

/** Milliseconds in the largest whole unit (`3600000` → `1h`), as specs write durations. */
export function formatMs(ms: number): string {
  for (const unit of ["w", "d", "h", "m", "s"] as const) {
    if (ms >= UNIT_MS[unit] && ms % UNIT_MS[unit] === 0) return `${ms / UNIT_MS[unit]}${unit}`;
  }
  return `${ms}ms`;
}

/** A duration restricted to [min, max] milliseconds (inclusive); the message names the bounds. */
export function boundedDuration(bounds: { min?: number; max?: number }) {
  const { min = 0, max } = bounds;
  const message =
    max === undefined
      ? `duration must be at least ${formatMs(min)}`
      : `duration must be between ${formatMs(min)} and ${formatMs(max)}`;
  const ms = z.number().min(min, { error: message });
  return durationSchema.pipe(max === undefined ? ms : ms.max(max, { error: message }));
}
