/**
 * Typed handles on the Durable Objects whose answers carry JSON documents (events, dispatches).
 * Workers' RPC typing cannot prove that fields typed `unknown` (payloads, results) serialise, so
 * these methods are declared here once and the objects implement them (`implements`).
 */
import type { DispatchDoc } from "../contracts/dispatch-doc";
import type { EventListQuery, StoredEvent } from "./event-store";
import type { Found, ListQuery } from "./history-store";

export interface EventLogReads {
  get(ids: string[]): Promise<StoredEvent[]>;
  list(q: EventListQuery): Promise<StoredEvent[]>;
  audits(
    limit: number,
  ): Promise<{ at: number; tenant_id: string | null; topic: string; kind: string; payload: unknown }[]>;
}

export interface HistoryReads {
  get(ids: string[]): Promise<Found[]>;
  list(q: ListQuery): Promise<Found[]>;
  docs(bindingKey?: string): Promise<DispatchDoc[]>;
}

export interface GateReads {
  get(ids: string[]): Promise<DispatchDoc[]>;
  held(): Promise<DispatchDoc[]>;
}

export function eventLogReads(env: Env, name: string): EventLogReads {
  return env.EVENT_LOG.getByName(name) as unknown as EventLogReads;
}

export function historyReads(env: Env, name: string): HistoryReads {
  return env.DISPATCH_HISTORY.getByName(name) as unknown as HistoryReads;
}

export function gateReads(env: Env, bindingKey: string): GateReads {
  return env.BINDING_GATE.getByName(bindingKey) as unknown as GateReads;
}
