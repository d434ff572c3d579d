/** What intake asks of an EventLog and what it answers (SPEC 4, docs/scale.md). */
import type { TriggerEvent } from "./events";

/** A publish aimed at one binding (and optionally one version of it) instead of every match. */
export interface PublishTarget {
  binding_id: string;
  version: number | null;
}

export interface AcceptRequest {
  /** The normalised event; the EventLog gives it its id and `received_at`. */
  event: Omit<TriggerEvent, "id" | "received_at">;
  source: string | null;
  /** The signature style of a webhook (its `signature_<state>` intake record). */
  style: string | null;
  dedupe_scope: string;
  dedupe_window_s: number;
  target: PublishTarget | null;
}

export type AcceptAnswer =
  | { status: "accepted"; event_id: string; received_at: string }
  | { status: "duplicate"; event_id: string }
  /** The window of this object is over: accept on the current one. */
  | { status: "moved" }
  /** Stored, but the dedupe claim could not be made yet: the object settles it itself later. */
  | { status: "unavailable"; message: string };
