/** A dispatch is (binding_key, event_id); a replay is a further dispatch of the same pair. */
export function dispatchIdOf(bindingKey: string, eventId: string, replayTag: string | null = null): string {
  return replayTag === null ? `${bindingKey}|${eventId}` : `${bindingKey}|${eventId}|${replayTag}`;
}
