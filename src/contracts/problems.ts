/**
 * Zod issues as client-facing problems: dotted paths, plain-language messages, one problem per
 * unknown key, unions unwrapped to their closest branch. Shared by every request contract.
 */
import type { z } from "zod";

export interface Problem {
  /** Dotted path, e.g. "retry.policy.linear.delay_ms"; "" for the value itself. */
  path: string;
  message: string;
}

export function summarize(problems: Problem[]): string {
  return problems.map((p) => (p.path ? `${p.path}: ${p.message}` : p.message)).join("; ");
}

/**
 * Plain-language messages for zod's generic issues. Passed per parse, so messages set on a schema
 * (durations, handler URIs, identifiers) still win.
 */
export const problemErrorMap: z.core.$ZodErrorMap = (issue) => {
  if (issue.input === undefined && (issue.code === "invalid_type" || issue.code === "invalid_union")) {
    return "required field is missing";
  }
  switch (issue.code) {
    case "invalid_type":
      if (issue.expected === "int") return "expected an integer";
      return `expected ${issue.expected}, received ${describeType(issue.input)}`;
    case "too_small":
      if (issue.origin === "array") return `must have at least ${issue.minimum} item(s)`;
      if (issue.origin === "string") return `must be at least ${issue.minimum} character(s)`;
      return `must be ${issue.inclusive === false ? "greater than" : "at least"} ${issue.minimum}`;
    case "too_big":
      if (issue.origin === "array") return `must have at most ${issue.maximum} item(s)`;
      if (issue.origin === "string") return `must be at most ${issue.maximum} character(s)`;
      return `must be ${issue.inclusive === false ? "less than" : "at most"} ${issue.maximum}`;
    case "invalid_value":
      return `must be one of ${issue.values.map((v) => JSON.stringify(v)).join(", ")}`;
    default:
      return undefined;
  }
};

/** Maps zod issues to dotted-path problems; unknown keys become one problem each, unions are unwrapped. */
export function issuesToProblems(issues: readonly z.core.$ZodIssue[], prefix: PropertyKey[] = []): Problem[] {
  const problems: Problem[] = [];
  for (const issue of issues) {
    const path = [...prefix, ...issue.path];
    switch (issue.code) {
      case "unrecognized_keys":
        for (const key of issue.keys)
          problems.push({ path: dotted([...path, key]), message: `unknown field '${key}'` });
        break;
      case "invalid_union":
        problems.push(...unionProblems(issue, path));
        break;
      default:
        problems.push({ path: dotted(path), message: issue.message });
    }
  }
  return problems;
}

// A union fails as a whole; report the one branch that came strictly closest, so a typo inside
// {"exponential": {...}} points into it. Closest = fewest missing top-level fields (the branch's own
// discriminating key is present), then fewest problems. Ties fall back to the union's own message.
function unionProblems(issue: z.core.$ZodIssueInvalidUnion, path: PropertyKey[]): Problem[] {
  const ranked = issue.errors
    .filter((errs) => errs.length > 0 && !errs.every((e) => isRootTypeMismatch(e)))
    .map((errs) => ({ errs, missing: errs.filter(isMissingTopLevelField).length }))
    .sort((a, b) => a.missing - b.missing || a.errs.length - b.errs.length);
  const [best, next] = ranked;
  if (!best || (next && next.missing === best.missing && next.errs.length === best.errs.length)) {
    return [{ path: dotted(path), message: issue.message }];
  }
  return issuesToProblems(best.errs, path);
}

function isMissingTopLevelField(issue: z.core.$ZodIssue): boolean {
  return (
    (issue.code === "invalid_type" || issue.code === "invalid_union") &&
    issue.path.length === 1 &&
    issue.input === undefined
  );
}

function isRootTypeMismatch(issue: z.core.$ZodIssue): boolean {
  return issue.path.length === 0 && (issue.code === "invalid_type" || issue.code === "invalid_value");
}

function describeType(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  return typeof value;
}

function dotted(path: readonly PropertyKey[]): string {
  return path.map((p) => String(p)).join(".");
}
