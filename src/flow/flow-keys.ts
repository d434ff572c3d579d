/**
 * Flow-control keys (SPEC 9): each primitive's CEL key, evaluated on the event at arrival, names the
 * gate a dispatch meets (`<binding_key>:<key>`, `_global` without a key); the priority key ranks
 * concurrency waiters. Also the audit topic of a gate. Pure: compiled once per engine.
 */
import type { FlowControlSpec } from "../contracts/binding-spec";
import { type CelCompileResult, compileCel, evaluateCel, keyString } from "../lib/cel";
import type { FlowPlan, FlowPrimitive, LogPrimitive } from "./flow-store";
import { FLOW_PRIMITIVES } from "./flow-types";

/** Keys longer than this are shortened to KEY_KEEP_CHARS + "~" + hash in gate names. */
const KEY_MAX_CHARS = 200;
const KEY_KEEP_CHARS = 160;

/** `[^A-Za-z0-9._-]` → `_`, per code point (the reference's sanitize_topic_component). */
export function sanitizeTopicPart(value: string): string {
  return value.replace(/[^A-Za-z0-9._-]/gu, "_");
}

export function flowTopic(primitive: FlowPrimitive, gate: string): string {
  return `trigger.${primitive}.${sanitizeTopicPart(gate)}`;
}

/** 64-bit FNV-1a over UTF-16 code units, as 16 hex digits. */
function fnv1a64(text: string): string {
  let hash = 0xcbf29ce484222325n;
  for (let i = 0; i < text.length; i++) {
    hash ^= BigInt(text.charCodeAt(i));
    hash = (hash * 0x100000001b3n) & 0xffffffffffffffffn;
  }
  return hash.toString(16).padStart(16, "0");
}

/** The key part of a gate name: the stringified key, shortened when very long. */
export function gateKeyPart(key: string): string {
  if (key.length <= KEY_MAX_CHARS) return key;
  return `${key.slice(0, KEY_KEEP_CHARS)}~${fnv1a64(key)}`;
}

export type Plan =
  | { ok: true; plan: FlowPlan; rankError: string | null }
  | { ok: false; primitive: FlowPrimitive; error: string };

/** Where a CEL key sits in the spec: `rate_limit`, `throttle[1]` (a stacked limit), `priority`. */
type KeySlot = string;

export class FlowKeys {
  private readonly compiled = new Map<KeySlot, CelCompileResult>();
  private readonly bindingKey: string;
  private readonly flow: FlowControlSpec;

  // Plain fields, not parameter properties: `bench/flow-control.ts` runs this in Node's type stripping.
  constructor(bindingKey: string, flow: FlowControlSpec) {
    this.bindingKey = bindingKey;
    this.flow = flow;
    for (const p of [...FLOW_PRIMITIVES, "priority"] as const) {
      const cfg = flow[p] as { key?: string } | { key?: string }[] | undefined;
      if (Array.isArray(cfg)) {
        cfg.forEach((entry, i) => {
          if (entry.key !== undefined) this.compiled.set(`${p}[${i}]`, compileCel(entry.key));
        });
      } else if (cfg?.key !== undefined) {
        this.compiled.set(p, compileCel(cfg.key));
      }
    }
  }

  /**
   * Every gate the event meets, and its concurrency rank. A key that fails skips the dispatch
   * (`key_error`); a failing priority key only ranks it last. A stacked `rate_limit`/`throttle` list
   * meets one window per entry (`<binding_key>:<key>#<index>`); its gate names them all (joined by `+`).
   */
  plan(event: unknown): Plan {
    const gates: FlowPlan["gates"] = {};
    const windows: NonNullable<FlowPlan["windows"]> = {};
    for (const p of FLOW_PRIMITIVES) {
      const cfg = this.flow[p];
      if (cfg === undefined) continue;
      if (Array.isArray(cfg)) {
        const parts: string[] = [];
        for (let i = 0; i < cfg.length; i++) {
          const key = this.evaluate(`${p}[${i}]`, event);
          if (!key.ok) return { ok: false, primitive: p, error: key.error };
          parts.push(`${key.key === null ? "_global" : gateKeyPart(key.key)}#${i}`);
        }
        windows[p as LogPrimitive] = parts.map((part) => `${this.bindingKey}:${part}`);
        gates[p] = `${this.bindingKey}:${parts.join("+")}`;
        continue;
      }
      const key = this.evaluate(p, event);
      if (!key.ok) return { ok: false, primitive: p, error: key.error };
      gates[p] = `${this.bindingKey}:${key.key === null ? "_global" : gateKeyPart(key.key)}`;
    }
    let rank = 0;
    let rankError: string | null = null;
    const priority = this.flow.priority;
    if (priority && this.flow.concurrency) {
      const key = this.evaluate("priority", event);
      if (key.ok && key.key !== null) {
        const at = priority.order.indexOf(key.key);
        rank = at === -1 ? priority.order.length : at;
      } else {
        rank = priority.order.length;
        rankError = key.ok ? null : key.error;
      }
    }
    const plan: FlowPlan = Object.keys(windows).length > 0 ? { gates, rank, windows } : { gates, rank };
    if (this.flow.ordering) {
      const receivedAt = Date.parse(String((event as { received_at?: unknown } | null)?.received_at ?? ""));
      if (Number.isFinite(receivedAt)) plan.received_at = receivedAt;
    }
    return { ok: true, plan, rankError };
  }

  /** `key: null` means the slot has no key (→ `_global`). */
  private evaluate(slot: KeySlot, event: unknown): { ok: true; key: string | null } | { ok: false; error: string } {
    const compiled = this.compiled.get(slot);
    if (!compiled) return { ok: true, key: null };
    if (!compiled.ok) return { ok: false, error: `flow_control.${slot}.key: ${compiled.error}` };
    const result = evaluateCel(compiled.program, { event });
    if (!result.ok) return { ok: false, error: `flow_control.${slot}.key: ${result.error}` };
    return { ok: true, key: keyString(result.value) };
  }
}
